"""Web pages for everyone and for teams: overview, leaderboards, team page, submit, login."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from unmask.arena import crud, queries, services
from unmask.arena.api.deps import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    BoardsDep,
    PagePrincipal,
    PageTeam,
    SessionDep,
    SettingsDep,
    authenticate,
    client_key,
    verify_csrf,
)
from unmask.arena.api.render import render
from unmask.arena.core.db import utcnow

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    return render(
        request,
        "index.html",
        {"principal": principal, "challenges": queries.list_challenges(session), "now": utcnow()},
    )


@router.get("/c/{slug}", response_class=HTMLResponse)
def challenge_page(
    slug: str, request: Request, session: SessionDep, boards: BoardsDep, principal: PagePrincipal
) -> Response:
    challenge = queries.get_challenge(session, slug)
    return render(
        request,
        "challenge.html",
        {
            "principal": principal,
            "challenge": challenge,
            "now": utcnow(),
            "n_test_files": queries.count_test_files(session, challenge),
            "top": boards.get(session, challenge)[:10],
        },
    )


@router.get("/c/{slug}/leaderboard", response_class=HTMLResponse)
def leaderboard_page(
    slug: str, request: Request, session: SessionDep, boards: BoardsDep, principal: PagePrincipal
) -> Response:
    challenge = queries.get_challenge(session, slug)
    private = boards.get(session, challenge, "private") if challenge.revealed else None
    return render(
        request,
        "leaderboard.html",
        {
            "principal": principal,
            "challenge": challenge,
            "public": boards.get(session, challenge),
            "private": private,
        },
    )


@router.get("/c/{slug}/team", response_class=HTMLResponse)
def team_page(
    slug: str, request: Request, session: SessionDep, team: PageTeam, principal: PagePrincipal
) -> Response:
    challenge = services.team_challenge(session, team, slug)
    return render(
        request,
        "team.html",
        {
            "principal": principal,
            "challenge": challenge,
            "team": team,
            "submissions": queries.team_submissions(session, team),
            "usage": queries.usage(session, team, utcnow()),
        },
    )


@router.post("/c/{slug}/final")
def final_selection(
    slug: str,
    session: SessionDep,
    team: PageTeam,
    submission_ids: Annotated[list[int], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    services.team_challenge(session, team, slug)
    crud.select_final(session, team, submission_ids)
    return _redirect(f"/c/{slug}/team?msg=selected")


@router.get("/c/{slug}/submit", response_class=HTMLResponse)
def submit_form(
    slug: str, request: Request, session: SessionDep, team: PageTeam, principal: PagePrincipal
) -> Response:
    challenge = services.team_challenge(session, team, slug)
    return render(
        request,
        "submit.html",
        {
            "principal": principal,
            "challenge": challenge,
            "usage": queries.usage(session, team, utcnow()),
        },
    )


@router.post("/c/{slug}/submit")
def submit_post(
    slug: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    team: PageTeam,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Literal["csv", "code"], Form()] = "csv",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    challenge = services.team_challenge(session, team, slug)
    services.submit_upload(
        session, settings, team, challenge, file.file, file.filename, kind=kind, note=note,
        wakeup=request.app.state.wakeup,
    )  # fmt: skip
    return _redirect(f"/c/{slug}/team?msg=submitted")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, principal: PagePrincipal) -> Response:
    return render(request, "login.html", {"principal": principal})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Form(max_length=200)],
) -> Response:
    """Log in with a team's or a host's token; failures count towards the rate limit."""
    principal = authenticate(session, settings, client_key(request), token.strip())
    target = f"/c/{principal.team.challenge.slug}/team" if principal.team is not None else "/host"
    response = _redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        request.app.state.session_signer.sign(str(principal.token_id)),
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = _redirect("/?msg=logged_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
