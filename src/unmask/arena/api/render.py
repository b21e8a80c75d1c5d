"""Server-rendered pages: Jinja2 with autoescaping on, a CSRF token in every form."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from unmask.arena.api.deps import CSRF_COOKIE, page_csrf_token

# Messages a redirect may ask a page to show (?msg=KEY); never text taken from the URL.
MESSAGES = {
    "submitted": "Submission received: it is queued for scoring.",
    "selected": "Final selection saved.",
    "labels": "Labels loaded.",
    "phase": "Phase added.",
    "baseline": "Baseline submitted: it is queued for scoring.",
    "revealed": "The private leaderboard is now public.",
    "created": "Challenge created.",
    "logged_out": "Logged out.",
}


def fmt_score(value: float | None, digits: int = 5) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_time(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def make_templates() -> Jinja2Templates:
    folder = resources.files("unmask.arena") / "templates"
    templates = Jinja2Templates(directory=str(folder))
    env = templates.env
    env.autoescape = True
    env.filters.update(score=fmt_score, time=fmt_time, seconds=fmt_seconds)
    return templates


def render(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    """Render ``name`` with the CSRF token and the message named by ``?msg=``."""
    msg = MESSAGES.get(request.query_params.get("msg", ""))
    full = {"csrf_token": page_csrf_token(request), "message": msg, "principal": None, **context}
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, name, full, status_code=status)
    nonce = getattr(request.state, "new_csrf_nonce", None)
    if nonce:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=request.app.state.settings.cookie_secure,
            path="/",
        )
    return response
