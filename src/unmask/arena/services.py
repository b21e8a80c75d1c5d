"""What the JSON API and the web pages both do: read uploads, submit, load labels.

Thin: checks that need the request (sizes, who may see what) and then crud.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from unmask.arena import crud, queries
from unmask.arena import models as m
from unmask.arena.core.config import Settings
from unmask.arena.errors import ConflictError, NotFoundError, TooLargeError
from unmask.arena.sandbox import check_archive
from unmask.arena.scoring import TestSet, load_test_set, validate_csv


def read_upload(file: BinaryIO, *, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of an uploaded file; TooLargeError beyond."""
    data = file.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"the {what} is over the limit of {limit} bytes")
    return data


def team_challenge(session: Session, team: m.Team, slug: str) -> m.Challenge:
    """The challenge ``slug`` if ``team`` is one of its teams (else it looks missing)."""
    challenge = queries.get_challenge(session, slug)
    if team.challenge_id != challenge.id:
        raise NotFoundError(f"team {team.name!r} is not in challenge {slug!r}")
    return challenge


def submit(
    session: Session,
    settings: Settings,
    team: m.Team,
    challenge: m.Challenge,
    *,
    filename: str,
    data: bytes,
    kind: str,
    note: str = "",
) -> m.Submission:
    """Check the upload (a CSV against the test files, an archive for its entry point),
    then record it within the caps. Nothing is recorded when the upload is invalid."""
    if kind == "code":
        if not challenge.accepts_code:
            raise ConflictError(f"challenge {challenge.slug!r} takes prediction CSVs only")
        check_archive(data, max_unpacked_bytes=settings.sandbox_file_bytes)
    else:
        validate_csv(data, queries.test_set(session, challenge), max_bytes=settings.max_csv_bytes)
    return crud.create_submission(
        session, team=team, kind=kind, filename=filename, data=data, note=note
    )


def submit_upload(
    session: Session,
    settings: Settings,
    team: m.Team,
    challenge: m.Challenge,
    file: BinaryIO,
    filename: str | None,
    *,
    kind: str,
    note: str = "",
    wakeup: threading.Event | None = None,
) -> m.Submission:
    """Read an uploaded file within its size limit, submit it, and wake the idle workers."""
    limit = settings.max_code_bytes if kind == "code" else settings.max_csv_bytes
    data = read_upload(file, limit=limit, what="upload")
    sub = submit(
        session,
        settings,
        team,
        challenge,
        filename=filename or "upload",
        data=data,
        kind=kind,
        note=note,
    )
    if wakeup is not None:
        wakeup.set()
    return sub


@dataclass(frozen=True)
class LabelsSummary:
    n_files: int
    n_public: int
    n_private: int
    split_source: str  # "column" (from the file) | "seeded"


def upload_labels(session: Session, challenge: m.Challenge, data: bytes) -> LabelsSummary:
    """Load a forge or DFDC labels file as the challenge's test set."""
    test_set: TestSet = load_test_set(
        data, public_fraction=challenge.public_fraction, seed=challenge.split_seed
    )
    crud.set_test_set(session, challenge, test_set)
    return LabelsSummary(
        n_files=len(test_set.labels),
        n_public=test_set.count("public"),
        n_private=test_set.count("private"),
        split_source=test_set.split_source,
    )


def baseline_team(session: Session, challenge: m.Challenge, name: str) -> m.Team:
    """The baseline pseudo-team ``name`` (made on first use); baselines have no caps."""
    for team in queries.teams(session, challenge):
        if team.name == name:
            if not team.is_baseline:
                raise ConflictError(f"{name!r} is a competing team, not a baseline")
            return team
    team, _ = crud.create_team(session, challenge, name=name, is_baseline=True)
    return team
