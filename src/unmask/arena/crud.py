"""Every write to the database goes through a function here; each one commits.

    >>> host, token = create_host(session, "organisers")            # doctest: +SKIP
    >>> challenge = create_challenge(session, slug="dfdc", title="DFDC")  # doctest: +SKIP
    >>> team, team_token = create_team(session, challenge, name="blue")   # doctest: +SKIP

Concurrency: a submission first bumps its team's ``submission_seq`` (an UPDATE, i.e. a row
lock on PostgreSQL and the write lock on SQLite), then counts and inserts, so two requests of
one team can never both pass a cap. Workers claim jobs with ``SELECT ... FOR UPDATE SKIP
LOCKED`` (PostgreSQL; SQLite's single writer gives the same), and a result is written only
by the worker holding the job's current claim token, so every submission is scored once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from unmask.arena import models as m
from unmask.arena.core.db import utcnow
from unmask.arena.core.security import hash_token, new_token
from unmask.arena.errors import CapReachedError, ConflictError, NotFoundError
from unmask.arena.scoring import Outcome, TestSet

CODE_LEASE_GRACE_S = 300


def issue_token(session: Session, *, team: m.Team | None = None, host: m.Host | None = None) -> str:
    """A new API token for one team or one host; returned once, stored hashed."""
    if (team is None) == (host is None):
        raise ValueError("a token belongs to exactly one team or one host")
    token = new_token()
    session.add(
        m.ApiToken(
            token_hash=hash_token(token),
            prefix=token[:10],
            team_id=team.id if team else None,
            host_id=host.id if host else None,
        )
    )
    session.commit()
    return token


def revoke_tokens(session: Session, *, team: m.Team) -> int:
    """Revoke every live token of ``team``; returns how many."""
    result = session.execute(
        update(m.ApiToken)
        .where(m.ApiToken.team_id == team.id, m.ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def create_host(session: Session, name: str) -> tuple[m.Host, str]:
    """A host (organiser) and its first token."""
    host = session.scalar(select(m.Host).where(m.Host.name == name))
    if host is None:
        host = m.Host(name=name)
        session.add(host)
        session.flush()
    return host, issue_token(session, host=host)


def create_challenge(
    session: Session,
    *,
    slug: str,
    title: str,
    description: str = "",
    daily_cap: int = 5,
    total_cap: int | None = None,
    max_final: int = 2,
    public_fraction: float = 0.5,
    split_seed: int = 0,
    code_time_limit_s: int = 3600,
    videos_dir: str | None = None,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
) -> m.Challenge:
    """A challenge with one phase (``main``) from ``starts_at`` (now) to ``ends_at``."""
    if session.scalar(select(m.Challenge.id).where(m.Challenge.slug == slug)) is not None:
        raise ConflictError(f"a challenge with slug {slug!r} exists already")
    starts_at = starts_at or utcnow()
    _check_window(starts_at, ends_at)
    challenge = m.Challenge(
        slug=slug,
        title=title,
        description=description,
        daily_cap=daily_cap,
        total_cap=total_cap,
        max_final=max_final,
        public_fraction=public_fraction,
        split_seed=split_seed,
        code_time_limit_s=code_time_limit_s,
        videos_dir=videos_dir,
    )
    challenge.phases.append(m.Phase(name="main", starts_at=starts_at, ends_at=ends_at))
    session.add(challenge)
    session.commit()
    return challenge


def _check_window(starts_at: dt.datetime, ends_at: dt.datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise ConflictError(f"a phase must end after it starts; got {starts_at} .. {ends_at}")


def add_phase(
    session: Session,
    challenge: m.Challenge,
    *,
    name: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None = None,
) -> m.Phase:
    _check_window(starts_at, ends_at)
    phase = m.Phase(name=name, starts_at=starts_at, ends_at=ends_at)
    challenge.phases.append(phase)
    session.commit()
    return phase


def set_test_set(session: Session, challenge: m.Challenge, test_set: TestSet) -> int:
    """Replace the challenge's labelled test files; refused once anyone has submitted."""
    used = session.scalar(
        select(func.count(m.Submission.id))
        .join(m.Team, m.Submission.team_id == m.Team.id)
        .where(m.Team.challenge_id == challenge.id)
    )
    if used:
        raise ConflictError(
            f"challenge {challenge.slug!r} has {used} submissions scored against its labels; "
            "create a new challenge to change them"
        )
    session.execute(delete(m.TestItem).where(m.TestItem.challenge_id == challenge.id))
    session.add_all(
        m.TestItem(
            challenge_id=challenge.id, filename=name, label=int(label), part=test_set.parts[name]
        )
        for name, label in test_set.labels.items()
    )
    session.commit()
    return len(test_set.labels)


def create_team(
    session: Session,
    challenge: m.Challenge,
    *,
    name: str,
    members: Iterable[tuple[str, str | None]] = (),
    is_baseline: bool = False,
) -> tuple[m.Team, str]:
    """A team of ``challenge`` with its members and its first API token."""
    name = name.strip()
    exists = session.scalar(
        select(m.Team.id).where(m.Team.challenge_id == challenge.id, m.Team.name == name)
    )
    if exists is not None:
        raise ConflictError(f"challenge {challenge.slug!r} has a team named {name!r} already")
    team = m.Team(challenge_id=challenge.id, name=name, is_baseline=is_baseline)
    team.members = [m.Member(name=n, email=e) for n, e in members]
    session.add(team)
    session.flush()
    return team, issue_token(session, team=team)


def record_auth_failure(session: Session, client: str, *, window_s: int) -> None:
    """Count a failed token attempt of ``client``; forgets attempts older than the window."""
    session.commit()  # end the lookup's read transaction: on SQLite the insert then waits its turn
    now = utcnow()
    session.add(m.AuthFailure(client=client[:64], at=now))
    if secrets.randbelow(50) == 0:  # now and then, drop what no window needs any more
        session.execute(
            delete(m.AuthFailure).where(m.AuthFailure.at < now - dt.timedelta(seconds=window_s))
        )
    session.commit()


def _open_phase(challenge: m.Challenge, now: dt.datetime) -> m.Phase:
    open_phases = [p for p in challenge.phases if p.is_open(now)]
    if not open_phases:
        raise ConflictError(
            f"challenge {challenge.slug!r} takes no submissions now (no open phase)"
        )
    return max(open_phases, key=lambda p: p.starts_at)


ONE_DAY = dt.timedelta(days=1) - dt.timedelta(microseconds=1)


def day_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC of ``now``'s day: daily caps reset then."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _cap_refusal(session: Session, team: m.Team, challenge: m.Challenge, now: dt.datetime) -> str:
    """Why ``team`` may not submit now ("" when it may); call with the team row locked."""
    counts = select(func.count(m.Submission.id)).where(m.Submission.team_id == team.id)
    start = day_start(now)
    today = (
        session.scalar(counts.where(m.Submission.created_at.between(start, start + ONE_DAY))) or 0
    )
    if today >= challenge.daily_cap:
        return (
            f"team {team.name!r} has used its {challenge.daily_cap} submissions for today "
            "(the count resets at 00:00 UTC)"
        )
    if challenge.total_cap is not None and (session.scalar(counts) or 0) >= challenge.total_cap:
        return (
            f"team {team.name!r} has used all {challenge.total_cap} submissions of this challenge"
        )
    return ""


def create_submission(
    session: Session,
    *,
    team: m.Team,
    kind: str,
    filename: str,
    data: bytes,
    note: str = "",
    now: dt.datetime | None = None,
) -> m.Submission:
    """Record a submission and queue its scoring job, if the team's caps allow it.

    Raises CapReachedError (daily or total cap; baselines have none) or ConflictError
    (no open phase). Exact under concurrency: see the module docstring.
    """
    if kind not in m.KINDS:
        raise ValueError(f"kind must be one of {m.KINDS}; got {kind!r}")
    now = now or utcnow()
    challenge = team.challenge
    phase = _open_phase(challenge, now)
    # The lock: concurrent submissions of this team wait here until this one commits.
    session.execute(
        update(m.Team).where(m.Team.id == team.id).values(submission_seq=m.Team.submission_seq + 1)
    )
    if not team.is_baseline:
        refusal = _cap_refusal(session, team, challenge, now)
        if refusal:
            session.rollback()
            raise CapReachedError(refusal)
    sub = m.Submission(
        team_id=team.id,
        phase_id=phase.id,
        kind=kind,
        status=m.QUEUED,
        filename=filename[:255],
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        note=note[:500],
        created_at=now,
    )
    session.add(sub)
    session.flush()
    session.add(m.SubmissionBlob(submission_id=sub.id, data=data))
    session.add(m.Job(submission_id=sub.id, state=m.QUEUED, created_at=now))
    session.commit()
    return sub


def select_final(
    session: Session, team: m.Team, submission_ids: Sequence[int]
) -> list[m.Submission]:
    """Choose the submissions (at most the challenge's ``max_final``) for the private ranking."""
    challenge = team.challenge
    wanted = set(submission_ids)
    if len(wanted) > challenge.max_final:
        raise ConflictError(
            f"at most {challenge.max_final} submissions can be selected; got {len(wanted)}"
        )
    if challenge.revealed:
        raise ConflictError("the private leaderboard is revealed; the selection is final")
    subs = list(session.scalars(select(m.Submission).where(m.Submission.team_id == team.id)))
    by_id = {s.id: s for s in subs}
    missing = sorted(wanted - set(by_id))
    if missing:
        raise NotFoundError(f"team {team.name!r} has no submission {missing[0]}")
    not_scored = sorted(i for i in wanted if by_id[i].status != m.SCORED)
    if not_scored:
        raise ConflictError(
            f"submission {not_scored[0]} is not scored; only scored ones can be selected"
        )
    for s in subs:
        s.selected = s.id in wanted
    _results_changed(session, challenge.id)
    session.commit()
    return [by_id[i] for i in sorted(wanted)]


def _results_changed(session: Session, challenge_id: Any) -> None:
    """Bump the version that leaderboard caches key on (in the writing transaction)."""
    session.execute(
        update(m.Challenge)
        .where(m.Challenge.id == challenge_id)
        .values(results_version=m.Challenge.results_version + 1)
    )


def reveal(session: Session, challenge: m.Challenge) -> m.Challenge:
    """Publish the private leaderboard and private scores (cannot be undone)."""
    if challenge.revealed_at is None:
        challenge.revealed_at = utcnow()
        _results_changed(session, challenge.id)
        session.commit()
    return challenge


@dataclass(frozen=True)
class Claim:
    """A job a worker holds: only the holder of ``token`` can write its result."""

    job_id: int
    submission_id: int
    token: str
    attempt: int


def claim_job(
    session: Session, *, worker: str, max_attempts: int, csv_lease_s: int
) -> Claim | None:
    """Take the oldest queued job (or one whose worker vanished); None when the queue is empty."""
    now = utcnow()
    while True:
        job = session.scalar(
            select(m.Job)
            .where(
                or_(
                    m.Job.state == m.QUEUED,
                    (m.Job.state == m.RUNNING) & (m.Job.lease_expires_at < now),
                )
            )
            .order_by(m.Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if job is None:
            session.commit()
            return None
        sub = job.submission
        if job.attempts >= max_attempts:  # its workers died every time: give up on it
            job.state, job.finished_at, job.claim_token = m.JOB_DONE, now, None
            sub.status = m.ERROR
            sub.error = f"scoring was interrupted {job.attempts} times (worker lost); not retried"
            session.commit()
            continue
        lease_s = csv_lease_s
        if sub.kind == "code":
            lease_s = sub.team.challenge.code_time_limit_s + CODE_LEASE_GRACE_S
        job.state = m.RUNNING
        job.attempts += 1
        job.claim_token = secrets.token_hex(16)
        job.worker = worker[:200]
        job.claimed_at = now
        job.lease_expires_at = now + dt.timedelta(seconds=lease_s)
        sub.status = m.RUNNING
        claim = Claim(
            job_id=job.id, submission_id=sub.id, token=job.claim_token, attempt=job.attempts
        )
        session.commit()
        return claim


def finish_job(session: Session, claim: Claim, outcome: Outcome) -> bool:
    """Store the outcome if ``claim`` still holds the job; False when another worker took it."""
    if outcome.status not in m.FINAL_STATES:
        raise ValueError(f"status must be one of {m.FINAL_STATES}; got {outcome.status!r}")
    now = utcnow()
    won = session.execute(
        update(m.Job)
        .where(m.Job.id == claim.job_id, m.Job.claim_token == claim.token, m.Job.state == m.RUNNING)
        .values(state=m.JOB_DONE, finished_at=now)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    scores = outcome.scores
    session.execute(
        update(m.Submission)
        .where(m.Submission.id == claim.submission_id)
        .values(
            status=outcome.status,
            scored_at=now,
            public_score=scores.public_score if scores else None,
            public_auc=scores.public_auc if scores else None,
            private_score=scores.private_score if scores else None,
            private_auc=scores.private_auc if scores else None,
            execution_s=outcome.execution_s,
            error=outcome.error,
            log_excerpt=outcome.log_excerpt,
        )
    )
    if outcome.status == m.SCORED:
        team_id = (
            select(m.Submission.team_id)
            .where(m.Submission.id == claim.submission_id)
            .scalar_subquery()
        )
        challenge_id = select(m.Team.challenge_id).where(m.Team.id == team_id).scalar_subquery()
        _results_changed(session, challenge_id)
    session.commit()
    return True
