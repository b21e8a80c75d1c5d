"""JSON API for everyone and for teams: challenges, leaderboards, submissions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse

from unmask.arena import crud, queries, services
from unmask.arena.api.deps import BoardsDep, CurrentTeam, OptionalPrincipal, SessionDep, SettingsDep
from unmask.arena.api.schemas import (
    ChallengeOut,
    FinalSelectionIn,
    LeaderboardOut,
    LeaderboardRowOut,
    MeOut,
    SubmissionOut,
    SubmitOut,
    TeamSubmissionsOut,
    UsageOut,
)
from unmask.arena.core.db import utcnow
from unmask.arena.errors import AuthError

router = APIRouter(prefix="/api", tags=["challenges"])


@router.get("/challenges")
def list_challenges(session: SessionDep) -> list[ChallengeOut]:
    """Every challenge, newest first."""
    now = utcnow()
    return [
        ChallengeOut.of(c, n_test_files=queries.count_test_files(session, c), now=now)
        for c in queries.list_challenges(session)
    ]


@router.get("/challenges/{slug}")
def get_challenge(slug: str, session: SessionDep) -> ChallengeOut:
    challenge = queries.get_challenge(session, slug)
    return ChallengeOut.of(
        challenge, n_test_files=queries.count_test_files(session, challenge), now=utcnow()
    )


@router.get("/challenges/{slug}/leaderboard")
def leaderboard(
    slug: str,
    session: SessionDep,
    boards: BoardsDep,
    board: Literal["public", "private"] = "public",
) -> LeaderboardOut:
    """Each team's best score (DFDC log loss). ``private`` answers 404 until the reveal."""
    challenge = queries.get_challenge(session, slug)
    rows = boards.get(session, challenge, board)
    return LeaderboardOut(challenge=slug, board=board, rows=[LeaderboardRowOut.of(r) for r in rows])


@router.get("/challenges/{slug}/sample_submission.csv", response_class=PlainTextResponse)
def sample_submission(slug: str, session: SessionDep) -> PlainTextResponse:
    """Every test file with 0.5: the shape a submission must have."""
    challenge = queries.get_challenge(session, slug)
    lines = [
        "filename,label",
        *(f"{name},0.5" for name in queries.test_filenames(session, challenge)),
    ]
    return PlainTextResponse(
        "\n".join(lines) + "\n",
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{slug}_sample_submission.csv"'},
    )


@router.get("/me")
def me(principal: OptionalPrincipal) -> MeOut:
    """Who the token belongs to."""
    if principal is None:
        raise AuthError("no token given (Authorization: Bearer TOKEN)")
    if principal.team is not None:
        return MeOut(kind="team", name=principal.team.name, challenge=principal.team.challenge.slug)
    return MeOut(kind="host", name=principal.name)


@router.post("/challenges/{slug}/submissions", status_code=201)
def submit(
    slug: str,
    request: Request,
    team: CurrentTeam,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a DFDC prediction CSV, or a code archive")],
    kind: Annotated[Literal["csv", "code"], Form()] = "csv",
    note: Annotated[str, Form(max_length=500)] = "",
) -> SubmitOut:
    """Submit predictions (``kind=csv``) or code (``kind=code``: an archive with predict.py).

    Invalid CSVs are refused here (422, problems by line) and do not count against the caps.
    """
    challenge = services.team_challenge(session, team, slug)
    sub = services.submit_upload(
        session, settings, team, challenge, file.file, file.filename, kind=kind, note=note,
        wakeup=request.app.state.wakeup,
    )  # fmt: skip
    return SubmitOut(
        submission=SubmissionOut.of(sub, revealed=challenge.revealed),
        usage=UsageOut.of(queries.usage(session, team, utcnow())),
    )


@router.get("/challenges/{slug}/submissions")
def my_submissions(slug: str, team: CurrentTeam, session: SessionDep) -> TeamSubmissionsOut:
    """The calling team's own submissions, newest first."""
    challenge = services.team_challenge(session, team, slug)
    return TeamSubmissionsOut(
        team=team.name,
        submissions=[
            SubmissionOut.of(s, revealed=challenge.revealed)
            for s in queries.team_submissions(session, team)
        ],
        usage=UsageOut.of(queries.usage(session, team, utcnow())),
    )


@router.get("/submissions/{submission_id}")
def get_submission(
    submission_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    team: CurrentTeam,
    session: SessionDep,
) -> SubmissionOut:
    """One of the calling team's submissions (another team's answers 404)."""
    sub = queries.submission_of_team(session, team, submission_id)
    return SubmissionOut.of(sub, revealed=team.challenge.revealed)


@router.put("/challenges/{slug}/final")
def select_final(
    slug: str, selection: FinalSelectionIn, team: CurrentTeam, session: SessionDep
) -> list[SubmissionOut]:
    """Choose the submissions ranked on the private leaderboard (at most ``max_final``).

    A team that selects none is ranked by its best public submission.
    """
    challenge = services.team_challenge(session, team, slug)
    chosen = crud.select_final(session, team, selection.submission_ids)
    return [SubmissionOut.of(s, revealed=challenge.revealed) for s in chosen]
