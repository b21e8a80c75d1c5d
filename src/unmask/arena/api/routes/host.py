"""JSON API for hosts: create challenges and phases, load labels, make teams, reveal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi import Path as PathParam

from unmask.arena import crud, queries, services
from unmask.arena.api.deps import CurrentHost, SessionDep, SettingsDep
from unmask.arena.api.schemas import (
    ChallengeIn,
    ChallengeOut,
    HostSubmissionOut,
    LabelsOut,
    Name,
    PhaseIn,
    PhaseOut,
    SubmissionOut,
    TeamCreatedOut,
    TeamIn,
    TeamOut,
)
from unmask.arena.core.db import as_utc, utcnow
from unmask.arena.errors import NotFoundError

router = APIRouter(prefix="/api/host", tags=["host"])
TeamId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


@router.post("/challenges", status_code=201)
def create_challenge(body: ChallengeIn, _host: CurrentHost, session: SessionDep) -> ChallengeOut:
    """A new challenge with one open phase (``starts_at`` to ``ends_at``; now and open-ended by default)."""
    fields = body.model_dump()
    fields["starts_at"], fields["ends_at"] = as_utc(body.starts_at), as_utc(body.ends_at)
    challenge = crud.create_challenge(session, **fields)
    return ChallengeOut.of(challenge, n_test_files=0, now=utcnow())


@router.post("/challenges/{slug}/phases", status_code=201)
def add_phase(slug: str, body: PhaseIn, _host: CurrentHost, session: SessionDep) -> PhaseOut:
    challenge = queries.get_challenge(session, slug)
    phase = crud.add_phase(
        session,
        challenge,
        name=body.name,
        starts_at=as_utc(body.starts_at),
        ends_at=as_utc(body.ends_at),
    )
    return PhaseOut.of(phase, utcnow())


@router.put("/challenges/{slug}/labels")
def upload_labels(
    slug: str,
    _host: CurrentHost,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="forge test_labels.csv or a DFDC labels file")],
) -> LabelsOut:
    """Load the test set. With a ``split`` column it is honoured; else split with the seed."""
    challenge = queries.get_challenge(session, slug)
    data = services.read_upload(file.file, limit=settings.max_labels_bytes, what="labels file")
    s = services.upload_labels(session, challenge, data)
    return LabelsOut(
        n_files=s.n_files, n_public=s.n_public, n_private=s.n_private, split_source=s.split_source
    )


@router.get("/challenges/{slug}/teams")
def list_teams(slug: str, _host: CurrentHost, session: SessionDep) -> list[TeamOut]:
    challenge = queries.get_challenge(session, slug)
    return [
        TeamOut(id=t.id, name=t.name, baseline=t.is_baseline, members=[mb.name for mb in t.members])
        for t in queries.teams(session, challenge)
    ]


@router.post("/challenges/{slug}/teams", status_code=201)
def create_team(slug: str, body: TeamIn, _host: CurrentHost, session: SessionDep) -> TeamCreatedOut:
    """A team and its API token (shown once: hand it to the team)."""
    challenge = queries.get_challenge(session, slug)
    team, token = crud.create_team(
        session, challenge, name=body.name, members=[(mb.name, mb.email) for mb in body.members]
    )
    return TeamCreatedOut(id=team.id, name=team.name, token=token)


@router.post("/challenges/{slug}/teams/{team_id}/token", status_code=201)
def rotate_token(
    slug: str, team_id: TeamId, _host: CurrentHost, session: SessionDep
) -> TeamCreatedOut:
    """Revoke every token of the team and issue a new one."""
    challenge = queries.get_challenge(session, slug)
    team = queries.get_team(session, team_id)
    if team.challenge_id != challenge.id:
        raise NotFoundError(f"no team {team_id} in challenge {slug!r}")
    crud.revoke_tokens(session, team=team)
    return TeamCreatedOut(id=team.id, name=team.name, token=crud.issue_token(session, team=team))


@router.post("/challenges/{slug}/baselines", status_code=201)
def add_baseline(
    slug: str,
    request: Request,
    _host: CurrentHost,
    session: SessionDep,
    settings: SettingsDep,
    name: Annotated[Name, Form()],
    file: Annotated[UploadFile, File(description="the baseline's prediction CSV")],
) -> SubmissionOut:
    """A baseline row: scored like any submission, shown on the leaderboard, not ranked."""
    challenge = queries.get_challenge(session, slug)
    team = services.baseline_team(session, challenge, name)
    sub = services.submit_upload(
        session,
        settings,
        team,
        challenge,
        file.file,
        file.filename,
        kind="csv",
        wakeup=request.app.state.wakeup,
    )
    return SubmissionOut.of(sub, revealed=challenge.revealed)


@router.get("/challenges/{slug}/submissions")
def all_submissions(slug: str, _host: CurrentHost, session: SessionDep) -> list[HostSubmissionOut]:
    """The latest 500 submissions of every team (private scores only after the reveal)."""
    challenge = queries.get_challenge(session, slug)
    return [
        HostSubmissionOut(
            **SubmissionOut.of(s, revealed=challenge.revealed).model_dump(), team=s.team.name
        )
        for s in queries.challenge_submissions(session, challenge)
    ]


@router.post("/challenges/{slug}/reveal")
def reveal(slug: str, _host: CurrentHost, session: SessionDep) -> ChallengeOut:
    """Publish the private leaderboard and private scores. Cannot be undone."""
    challenge = crud.reveal(session, queries.get_challenge(session, slug))
    return ChallengeOut.of(
        challenge, n_test_files=queries.count_test_files(session, challenge), now=utcnow()
    )
