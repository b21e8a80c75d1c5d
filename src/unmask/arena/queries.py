"""Reads: lookups that say "not found" clearly, leaderboards, usage. No writes here.

>>> rows = leaderboard(session, challenge)              # doctest: +SKIP
>>> [(r.rank, r.team, r.score) for r in rows][:1]        # doctest: +SKIP
[(1, 'blue', 0.41)]
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session, selectinload

from unmask.arena import models as m
from unmask.arena.core.security import hash_token, looks_like_token
from unmask.arena.crud import ONE_DAY, day_start
from unmask.arena.errors import ConflictError, NotFoundError
from unmask.arena.scoring import TestSet

Board = Literal["public", "private"]


def list_challenges(session: Session) -> list[m.Challenge]:
    return list(
        session.scalars(
            select(m.Challenge)
            .options(selectinload(m.Challenge.phases))
            .order_by(m.Challenge.id.desc())
        )
    )


def get_challenge(session: Session, slug: str) -> m.Challenge:
    challenge = session.scalar(
        select(m.Challenge)
        .where(m.Challenge.slug == slug)
        .options(selectinload(m.Challenge.phases))
    )
    if challenge is None:
        raise NotFoundError(f"no challenge {slug!r}")
    return challenge


def token_owner(session: Session, token: str) -> m.ApiToken | None:
    """The live token record for ``token`` (None when unknown or revoked)."""
    if not looks_like_token(token):
        return None
    return session.scalar(
        select(m.ApiToken).where(
            m.ApiToken.token_hash == hash_token(token), m.ApiToken.revoked_at.is_(None)
        )
    )


def live_token(session: Session, token_id: int) -> m.ApiToken | None:
    """A token record by id, unless revoked (for browser sessions)."""
    tok = session.get(m.ApiToken, token_id)
    return tok if tok is not None and tok.revoked_at is None else None


def auth_failures_since(session: Session, client: str, since: dt.datetime) -> int:
    return int(
        session.scalar(
            select(func.count(m.AuthFailure.id)).where(
                m.AuthFailure.client == client[:64], m.AuthFailure.at >= since
            )
        )
        or 0
    )


def test_set(session: Session, challenge: m.Challenge) -> TestSet:
    """The challenge's labelled test set; ConflictError before the host uploaded labels."""
    rows = session.execute(
        select(m.TestItem.filename, m.TestItem.label, m.TestItem.part).where(
            m.TestItem.challenge_id == challenge.id
        )
    ).all()
    if not rows:
        raise ConflictError(f"challenge {challenge.slug!r} has no test labels yet")
    return TestSet(labels={f: y for f, y, _ in rows}, parts={f: p for f, _, p in rows})


def test_filenames(session: Session, challenge: m.Challenge) -> list[str]:
    """Names of the test files (public: teams predict all of them); no labels, no parts."""
    return list(
        session.scalars(
            select(m.TestItem.filename)
            .where(m.TestItem.challenge_id == challenge.id)
            .order_by(m.TestItem.filename)
        )
    )


def count_test_files(session: Session, challenge: m.Challenge) -> int:
    return int(
        session.scalar(
            select(func.count(m.TestItem.id)).where(m.TestItem.challenge_id == challenge.id)
        )
        or 0
    )


def get_team(session: Session, team_id: int) -> m.Team:
    team = session.get(m.Team, team_id)
    if team is None:
        raise NotFoundError(f"no team {team_id}")
    return team


def teams(session: Session, challenge: m.Challenge) -> list[m.Team]:
    return list(
        session.scalars(
            select(m.Team)
            .where(m.Team.challenge_id == challenge.id)
            .options(selectinload(m.Team.members))
            .order_by(m.Team.name)
        )
    )


def team_submissions(session: Session, team: m.Team) -> list[m.Submission]:
    return list(
        session.scalars(
            select(m.Submission)
            .where(m.Submission.team_id == team.id)
            .order_by(m.Submission.id.desc())
        )
    )


def challenge_submissions(
    session: Session, challenge: m.Challenge, *, limit: int = 500
) -> list[m.Submission]:
    """The latest submissions of every team (host view)."""
    return list(
        session.scalars(
            select(m.Submission)
            .join(m.Team, m.Submission.team_id == m.Team.id)
            .where(m.Team.challenge_id == challenge.id)
            .options(selectinload(m.Submission.team))
            .order_by(m.Submission.id.desc())
            .limit(limit)
        )
    )


def submission_of_team(session: Session, team: m.Team, submission_id: int) -> m.Submission:
    """A submission of ``team``; another team's looks exactly like a missing one."""
    sub = session.get(m.Submission, submission_id)
    if sub is None or sub.team_id != team.id:
        raise NotFoundError(f"no submission {submission_id}")
    return sub


@dataclass(frozen=True)
class Usage:
    today: int
    total: int
    daily_cap: int
    total_cap: int | None

    @property
    def left_today(self) -> int:
        left = self.daily_cap - self.today
        if self.total_cap is not None:
            left = min(left, self.total_cap - self.total)
        return max(left, 0)


def usage(session: Session, team: m.Team, now: dt.datetime) -> Usage:
    counts = select(func.count(m.Submission.id)).where(m.Submission.team_id == team.id)
    start = day_start(now)
    return Usage(
        today=int(
            session.scalar(counts.where(m.Submission.created_at.between(start, start + ONE_DAY)))
            or 0
        ),
        total=int(session.scalar(counts) or 0),
        daily_cap=team.challenge.daily_cap,
        total_cap=team.challenge.total_cap,
    )


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int | None  # None for baselines: shown, not ranked
    team: str
    is_baseline: bool
    score: float
    auc: float | None
    entries: int
    last_submission_at: dt.datetime
    execution_s: float | None


def leaderboard(
    session: Session, challenge: m.Challenge, board: Board = "public"
) -> list[LeaderboardRow]:
    """Teams ranked by DFDC log loss (lower is better; ties: earlier submission first).

    ``public``: each team's best public score. ``private`` (only after the reveal): the best
    private score among the team's selected submissions, or of its best public submission
    when it selected none.
    """
    if board == "private" and not challenge.revealed:
        raise NotFoundError("the private leaderboard is not revealed yet")
    sub, team = m.Submission, m.Team
    scored = (
        select(
            sub.team_id,
            sub.id,
            sub.public_score,
            sub.public_auc,
            sub.private_score,
            sub.private_auc,
            sub.selected,
            sub.created_at,
            sub.execution_s,
            func.row_number()
            .over(partition_by=sub.team_id, order_by=(sub.public_score.asc(), sub.id.asc()))
            .label("public_rank"),
            func.count().over(partition_by=sub.team_id).label("entries"),
            func.max(sub.created_at).over(partition_by=sub.team_id).label("last_at"),
            func.sum(cast(sub.selected, Integer))
            .over(partition_by=sub.team_id)
            .label("n_selected"),
        )
        .join(team, sub.team_id == team.id)
        .where(team.challenge_id == challenge.id, sub.status == m.SCORED)
    ).subquery()
    if board == "public":
        query = select(scored, team.name, team.is_baseline).where(scored.c.public_rank == 1)
        score_col, auc_col = scored.c.public_score, scored.c.public_auc
    else:
        candidates = (scored.c.selected & (scored.c.n_selected > 0)) | (
            (scored.c.n_selected == 0) & (scored.c.public_rank == 1)
        )
        ranked = (
            select(
                scored,
                func.row_number()
                .over(
                    partition_by=scored.c.team_id,
                    order_by=(scored.c.private_score.asc(), scored.c.id.asc()),
                )
                .label("private_rank"),
            )
            .where(candidates)
            .subquery()
        )
        query = select(ranked, team.name, team.is_baseline).where(ranked.c.private_rank == 1)
        scored = ranked
        score_col, auc_col = ranked.c.private_score, ranked.c.private_auc
    query = query.join(team, team.id == scored.c.team_id).order_by(
        score_col.asc(), scored.c.id.asc()
    )
    rows: list[LeaderboardRow] = []
    rank = 0
    for r in session.execute(query).mappings():
        if not r["is_baseline"]:
            rank += 1
        rows.append(
            LeaderboardRow(
                rank=None if r["is_baseline"] else rank,
                team=r["name"],
                is_baseline=bool(r["is_baseline"]),
                score=float(r[score_col.name]),
                auc=None if r[auc_col.name] is None else float(r[auc_col.name]),
                entries=int(r["entries"]),
                last_submission_at=r["last_at"],
                execution_s=r["execution_s"],
            )
        )
    return rows


class LeaderboardCache:
    """Leaderboards kept per (challenge, board, results version): exact, since every write
    that changes a leaderboard bumps ``Challenge.results_version`` in its own transaction.

    >>> boards = LeaderboardCache()
    >>> rows = boards.get(session, challenge, "public")    # doctest: +SKIP
    """

    def __init__(self, size: int = 64) -> None:
        self._rows: OrderedDict[tuple[int, str, int], list[LeaderboardRow]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(
        self, session: Session, challenge: m.Challenge, board: Board = "public"
    ) -> list[LeaderboardRow]:
        key = (challenge.id, board, challenge.results_version)
        with self._lock:
            if key in self._rows:
                self._rows.move_to_end(key)
                return self._rows[key]
        rows = leaderboard(session, challenge, board)  # raises before the reveal for "private"
        with self._lock:
            self._rows[key] = rows
            while len(self._rows) > self._size:
                self._rows.popitem(last=False)
        return rows
