"""Writes: caps, phases, the job queue's claim/finish protocol (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.arena.conftest import World, labels_csv, predictions_csv
from unmask.arena import crud, queries
from unmask.arena import models as m
from unmask.arena.core.db import utcnow
from unmask.arena.errors import CapReachedError, ConflictError, NotFoundError
from unmask.arena.scoring import Outcome, Scores, load_test_set


def _team(session: Session, name: str = "alpha") -> m.Team:
    team = session.scalar(select(m.Team).where(m.Team.name == name))
    assert team is not None
    return team


def _submit(session: Session, team: m.Team, now: dt.datetime | None = None) -> m.Submission:
    return crud.create_submission(
        session, team=team, kind="csv", filename="p.csv", data=predictions_csv(), now=now
    )


def test_daily_cap_resets_at_midnight_utc(session: Session, world: World) -> None:
    team = _team(session)
    late = dt.datetime(2031, 3, 4, 23, 59)
    for _ in range(5):
        _submit(session, team, now=late)
    with pytest.raises(CapReachedError, match="resets at 00:00 UTC"):
        _submit(session, team, now=late)
    _submit(session, team, now=late + dt.timedelta(minutes=2))  # the next day
    assert queries.usage(session, team, late).today == 5


def test_total_cap(session: Session) -> None:
    challenge = crud.create_challenge(
        session, slug="capped", title="Capped", total_cap=3, daily_cap=10
    )
    crud.set_test_set(session, challenge, load_test_set(labels_csv()))
    team, _ = crud.create_team(session, challenge, name="t")
    for day in range(3):
        _submit(session, team, now=utcnow() + dt.timedelta(days=day))
    with pytest.raises(CapReachedError, match="all 3 submissions"):
        _submit(session, team, now=utcnow() + dt.timedelta(days=5))


def test_submissions_only_in_an_open_phase(session: Session) -> None:
    soon = utcnow() + dt.timedelta(days=1)
    challenge = crud.create_challenge(session, slug="later", title="Later", starts_at=soon)
    crud.set_test_set(session, challenge, load_test_set(labels_csv()))
    team, _ = crud.create_team(session, challenge, name="early")
    with pytest.raises(ConflictError, match="no open phase"):
        _submit(session, team)
    phase = crud.add_phase(session, challenge, name="warm-up", starts_at=utcnow() - dt.timedelta(hours=1),
                           ends_at=soon)  # fmt: skip
    assert _submit(session, team).phase_id == phase.id
    with pytest.raises(ConflictError, match="end after it starts"):
        crud.add_phase(session, challenge, name="bad", starts_at=soon, ends_at=soon)


def test_team_names_unique_per_challenge(session: Session, world: World) -> None:
    challenge = queries.get_challenge(session, "dfdc")
    with pytest.raises(ConflictError):
        crud.create_team(session, challenge, name=" alpha ")
    other = crud.create_challenge(session, slug="other", title="Other")
    crud.create_team(session, other, name="alpha")  # fine in another challenge


def _claim(session: Session, worker: str = "w1", *, csv_lease_s: int = 600) -> crud.Claim | None:
    return crud.claim_job(session, worker=worker, max_attempts=3, csv_lease_s=csv_lease_s)


SCORES = Scores(public_score=0.5, public_auc=0.75, private_score=0.6, private_auc=None)


def test_claim_then_finish_once(session: Session, world: World) -> None:
    sub = _submit(session, _team(session))
    claim = _claim(session)
    assert claim is not None and claim.submission_id == sub.id and claim.attempt == 1
    assert _claim(session, "w2") is None  # the only job is taken
    assert session.get(m.Submission, sub.id).status == m.RUNNING  # type: ignore[union-attr]
    assert crud.finish_job(session, claim, Outcome(status=m.SCORED, scores=SCORES, execution_s=0.1))
    assert not crud.finish_job(session, claim, Outcome(status=m.ERROR, error="late"))  # only once
    stored = session.get(m.Submission, sub.id)
    assert stored is not None and stored.status == m.SCORED and stored.private_auc is None
    assert stored.public_score == 0.5 and stored.error is None


def test_a_vanished_workers_job_is_taken_again_and_its_late_result_dropped(
    session: Session, world: World
) -> None:
    sub = _submit(session, _team(session))
    first = _claim(session, "w1", csv_lease_s=60)
    assert first is not None
    session.execute(update(m.Job).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
    second = _claim(session, "w2")
    assert second is not None and second.job_id == first.job_id and second.attempt == 2
    assert not crud.finish_job(session, first, Outcome(status=m.SCORED, scores=SCORES))
    assert crud.finish_job(session, second, Outcome(status=m.INVALID, error="line 2: bad"))
    stored = session.get(m.Submission, sub.id)
    assert stored is not None and stored.status == m.INVALID and stored.public_score is None


def test_a_job_is_given_up_after_max_attempts(session: Session, world: World) -> None:
    sub = _submit(session, _team(session))
    for _ in range(3):
        assert _claim(session) is not None
        session.execute(update(m.Job).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert _claim(session) is None
    stored = session.get(m.Submission, sub.id)
    assert (
        stored is not None
        and stored.status == m.ERROR
        and "interrupted 3 times" in (stored.error or "")
    )


def test_jobs_are_claimed_oldest_first(session: Session, world: World) -> None:
    first = _submit(session, _team(session, "alpha"))
    second = _submit(session, _team(session, "beta"))
    claims = [_claim(session), _claim(session)]
    assert [c.submission_id for c in claims if c] == [first.id, second.id]


def test_finish_rejects_transient_states(session: Session, world: World) -> None:
    _submit(session, _team(session))
    claim = _claim(session)
    assert claim is not None
    with pytest.raises(ValueError, match="status must be one of"):
        crud.finish_job(session, claim, Outcome(status=m.RUNNING))


def test_select_final_checks(session: Session, world: World) -> None:
    team = _team(session)
    sub = _submit(session, team)
    with pytest.raises(ConflictError, match="not scored"):
        crud.select_final(session, team, [sub.id])
    with pytest.raises(NotFoundError):
        crud.select_final(session, team, [sub.id + 1000])
    assert crud.select_final(session, team, []) == []


def test_issue_token_needs_one_owner(session: Session, world: World) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        crud.issue_token(session)


def test_auth_failures_are_counted(session: Session) -> None:
    for _ in range(3):
        crud.record_auth_failure(session, "10.0.0.1", window_s=60)
    since = utcnow() - dt.timedelta(seconds=60)
    assert queries.auth_failures_since(session, "10.0.0.1", since) == 3
    assert queries.auth_failures_since(session, "10.0.0.2", since) == 0
