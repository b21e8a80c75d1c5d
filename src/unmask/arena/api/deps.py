"""Dependencies of the routes, as ``Annotated`` aliases: ``SessionDep``, ``CurrentTeam``, ...

The JSON API authenticates with ``Authorization: Bearer <token>`` only (never cookies, so it
needs no CSRF protection). The web pages use a signed session cookie, set by the login form,
and every page form carries a CSRF token. Failed token attempts are counted per client
address; over the limit, every token attempt from that address is refused for a while.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from unmask.arena import crud, queries
from unmask.arena import models as m
from unmask.arena.core.config import Settings
from unmask.arena.core.db import utcnow
from unmask.arena.core.security import csrf_ok, csrf_token_for
from unmask.arena.errors import AuthError, ForbiddenError, RateLimitedError

SESSION_COOKIE = "arena_session"
CSRF_COOKIE = "arena_csrf"
SESSION_MAX_AGE_S = 7 * 24 * 3600
READ_METHODS = ("GET", "HEAD", "OPTIONS")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_boards(request: Request) -> queries.LeaderboardCache:
    return request.app.state.boards


BoardsDep = Annotated[queries.LeaderboardCache, Depends(get_boards)]


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; writing requests take SQLite's write lock at BEGIN."""
    state = request.app.state
    factory = state.read_sessions if request.method in READ_METHODS else state.write_sessions
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a team or a host, through one of its tokens."""

    token_id: int
    team: m.Team | None
    host: m.Host | None

    @property
    def name(self) -> str:
        return self.team.name if self.team else self.host.name if self.host else ""

    @classmethod
    def of(cls, tok: m.ApiToken) -> Principal:
        return cls(token_id=tok.id, team=tok.team, host=tok.host)


def check_rate(session: Session, settings: Settings, client: str) -> None:
    since = utcnow() - dt.timedelta(seconds=settings.auth_failure_window_s)
    if queries.auth_failures_since(session, client, since) >= settings.auth_failure_limit:
        raise RateLimitedError(
            f"too many failed token attempts from {client}; try again in "
            f"{settings.auth_failure_window_s} s",
            retry_after_s=settings.auth_failure_window_s,
        )


def authenticate(session: Session, settings: Settings, client: str, token: str) -> Principal:
    """The principal of ``token``; counts a failure (and may rate-limit) when it is unknown."""
    check_rate(session, settings, client)
    tok = queries.token_owner(session, token)
    if tok is None:
        crud.record_auth_failure(session, client, window_s=settings.auth_failure_window_s)
        raise AuthError("unknown or revoked token")
    return Principal.of(tok)


bearer = HTTPBearer(auto_error=False, description="A team's or a host's API token")


def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    if creds is None:
        return None
    return authenticate(session, settings, client_key(request), creds.credentials)


OptionalPrincipal = Annotated[Principal | None, Depends(get_principal)]


def require_team(principal: OptionalPrincipal) -> m.Team:
    if principal is None:
        raise AuthError("this needs a team's API token (Authorization: Bearer TOKEN)")
    if principal.team is None:
        raise ForbiddenError("this needs a team's token; a host token was given")
    return principal.team


def require_host(principal: OptionalPrincipal) -> m.Host:
    if principal is None:
        raise AuthError("this needs a host's API token (Authorization: Bearer TOKEN)")
    if principal.host is None:
        raise ForbiddenError("this needs a host's token")
    return principal.host


CurrentTeam = Annotated[m.Team, Depends(require_team)]
CurrentHost = Annotated[m.Host, Depends(require_host)]


# --- web pages ------------------------------------------------------------------------------


def page_principal(request: Request, session: SessionDep) -> Principal | None:
    """Who is logged in through the session cookie (None: nobody, or a revoked token)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    value = request.app.state.session_signer.unsign(raw, max_age_s=SESSION_MAX_AGE_S)
    if value is None or not value.isdigit():
        return None
    tok = queries.live_token(session, int(value))
    return Principal.of(tok) if tok else None


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


def page_host(principal: PagePrincipal) -> m.Host:
    if principal is None or principal.host is None:
        raise ForbiddenError("this page is for hosts; log in with a host token")
    return principal.host


def page_team(principal: PagePrincipal) -> m.Team:
    if principal is None or principal.team is None:
        raise ForbiddenError("this page is for teams; log in with your team's token")
    return principal.team


PageHost = Annotated[m.Host, Depends(page_host)]
PageTeam = Annotated[m.Team, Depends(page_team)]


def csrf_nonce(request: Request) -> str:
    """The browser's CSRF nonce (from its cookie), or a new one the response will set."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = getattr(request.state, "new_csrf_nonce", None) or secrets.token_urlsafe(24)
        request.state.new_csrf_nonce = nonce
    return nonce


def page_csrf_token(request: Request) -> str:
    return csrf_token_for(request.app.state.secret_key, csrf_nonce(request))


async def verify_csrf(request: Request) -> None:
    """Page forms must carry the token that matches the browser's CSRF cookie."""
    if request.method in READ_METHODS:
        return
    form = await request.form()
    token = form.get("csrf_token")
    nonce = request.cookies.get(CSRF_COOKIE)
    if not csrf_ok(request.app.state.secret_key, nonce, token if isinstance(token, str) else None):
        raise ForbiddenError(
            "the form's CSRF token is missing or wrong; reload the page and try again"
        )
