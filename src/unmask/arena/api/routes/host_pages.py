"""Web pages for hosts: create a challenge, load labels, add phases and teams, reveal."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from unmask.arena import crud, queries, services
from unmask.arena import models as m
from unmask.arena.api.deps import PageHost, PagePrincipal, SessionDep, SettingsDep, verify_csrf
from unmask.arena.api.render import render
from unmask.arena.api.schemas import ChallengeIn, MemberIn, PhaseIn, TeamIn
from unmask.arena.core.db import utcnow
from unmask.arena.errors import ConflictError

router = APIRouter(prefix="/host", include_in_schema=False, dependencies=[Depends(verify_csrf)])


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _optional(value: str) -> str | None:
    return value.strip() or None


@router.get("", response_class=HTMLResponse)
def host_home(
    request: Request, session: SessionDep, _host: PageHost, principal: PagePrincipal
) -> Response:
    return render(
        request,
        "host/index.html",
        {"principal": principal, "challenges": queries.list_challenges(session)},
    )


@router.post("/challenges")
def create_challenge(
    session: SessionDep,
    _host: PageHost,
    slug: Annotated[str, Form(max_length=64)],
    title: Annotated[str, Form(max_length=200)],
    description: Annotated[str, Form(max_length=20_000)] = "",
    daily_cap: Annotated[int, Form()] = 5,
    total_cap: Annotated[str, Form(max_length=10)] = "",
    max_final: Annotated[int, Form()] = 2,
    public_fraction: Annotated[float, Form()] = 0.5,
    split_seed: Annotated[int, Form()] = 0,
    code_time_limit_s: Annotated[int, Form()] = 3600,
    videos_dir: Annotated[str, Form(max_length=1024)] = "",
    ends_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    body = ChallengeIn.model_validate(
        {
            "slug": slug.strip(),
            "title": title,
            "description": description,
            "daily_cap": daily_cap,
            "total_cap": _optional(total_cap),
            "max_final": max_final,
            "public_fraction": public_fraction,
            "split_seed": split_seed,
            "code_time_limit_s": code_time_limit_s,
            "videos_dir": _optional(videos_dir),
            "ends_at": _optional(ends_at),
        }
    )
    crud.create_challenge(session, **body.model_dump())
    return _redirect(f"/host/c/{body.slug}?msg=created")


def _challenge_context(session: Session, challenge: m.Challenge) -> dict[str, Any]:
    return {
        "challenge": challenge,
        "now": utcnow(),
        "n_test_files": queries.count_test_files(session, challenge),
        "teams": queries.teams(session, challenge),
        "submissions": queries.challenge_submissions(session, challenge, limit=100),
    }


@router.get("/c/{slug}", response_class=HTMLResponse)
def host_challenge(
    slug: str, request: Request, session: SessionDep, _host: PageHost, principal: PagePrincipal
) -> Response:
    challenge = queries.get_challenge(session, slug)
    return render(
        request,
        "host/challenge.html",
        {"principal": principal, **_challenge_context(session, challenge)},
    )


@router.post("/c/{slug}/labels")
def upload_labels(
    slug: str,
    session: SessionDep,
    settings: SettingsDep,
    _host: PageHost,
    file: Annotated[UploadFile, File()],
) -> Response:
    challenge = queries.get_challenge(session, slug)
    data = services.read_upload(file.file, limit=settings.max_labels_bytes, what="labels file")
    services.upload_labels(session, challenge, data)
    return _redirect(f"/host/c/{slug}?msg=labels")


@router.post("/c/{slug}/phases")
def add_phase(
    slug: str,
    session: SessionDep,
    _host: PageHost,
    name: Annotated[str, Form(max_length=100)],
    starts_at: Annotated[dt.datetime, Form()],
    ends_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    body = PhaseIn.model_validate(
        {"name": name, "starts_at": starts_at, "ends_at": _optional(ends_at)}
    )
    challenge = queries.get_challenge(session, slug)
    crud.add_phase(
        session, challenge, name=body.name, starts_at=body.starts_at, ends_at=body.ends_at
    )
    return _redirect(f"/host/c/{slug}?msg=phase")


@router.post("/c/{slug}/teams", response_class=HTMLResponse)
def create_team(
    slug: str,
    request: Request,
    session: SessionDep,
    _host: PageHost,
    principal: PagePrincipal,
    name: Annotated[str, Form(max_length=64)],
    members: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Members: one per line, ``Name`` or ``Name <email>``. The page shows the token once."""
    parsed = []
    for line in members.splitlines():
        person, _, email = line.partition("<")
        if person.strip():
            parsed.append(MemberIn(name=person.strip(), email=email.rstrip("> ").strip() or None))
    body = TeamIn(name=name, members=parsed)
    challenge = queries.get_challenge(session, slug)
    team, token = crud.create_team(
        session, challenge, name=body.name, members=[(p.name, p.email) for p in parsed]
    )
    context = _challenge_context(session, challenge)
    return render(
        request,
        "host/challenge.html",
        {"principal": principal, **context, "new_team": team, "new_token": token},
        status=201,
    )


@router.post("/c/{slug}/baselines")
def add_baseline(
    slug: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _host: PageHost,
    name: Annotated[str, Form(min_length=1, max_length=64)],
    file: Annotated[UploadFile, File()],
) -> Response:
    challenge = queries.get_challenge(session, slug)
    team = services.baseline_team(session, challenge, name.strip())
    services.submit_upload(
        session,
        settings,
        team,
        challenge,
        file.file,
        file.filename,
        kind="csv",
        wakeup=request.app.state.wakeup,
    )
    return _redirect(f"/host/c/{slug}?msg=baseline")


@router.post("/c/{slug}/reveal")
def reveal(
    slug: str,
    session: SessionDep,
    _host: PageHost,
    confirm: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    challenge = queries.get_challenge(session, slug)
    if confirm.strip() != challenge.slug:
        raise ConflictError(f"type the challenge's slug ({challenge.slug}) to confirm the reveal")
    crud.reveal(session, challenge)
    return _redirect(f"/c/{slug}/leaderboard?msg=revealed")
