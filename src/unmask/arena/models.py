"""The database schema (SQLAlchemy 2 declarative). Changes go through an Alembic migration.

A **challenge** has **phases** (submission windows), a **test set** of labelled files split
into a public part (leaderboard feedback) and a private part (final ranking), and **teams**.
A team holds **API tokens** (stored hashed) and makes **submissions**; each submission is a
**job** in the database-backed queue that scoring workers drain.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from unmask.arena.core.db import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Submission states. queued/running are transient; the others are final.
QUEUED, RUNNING, SCORED = "queued", "running", "scored"
INVALID, CRASHED, TIMEOUT, ERROR = "invalid", "crashed", "timeout", "error"
FINAL_STATES = (SCORED, INVALID, CRASHED, TIMEOUT, ERROR)
KINDS = ("csv", "code")
JOB_DONE = "done"  # jobs are queued, running (as submissions) or done


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Challenge(Base):
    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    daily_cap: Mapped[int] = mapped_column(Integer, default=5)
    total_cap: Mapped[int | None] = mapped_column(Integer)
    max_final: Mapped[int] = mapped_column(Integer, default=2)
    public_fraction: Mapped[float] = mapped_column(Float, default=0.5)
    split_seed: Mapped[int] = mapped_column(Integer, default=0)
    code_time_limit_s: Mapped[int] = mapped_column(Integer, default=3600)
    # Folder of test videos on the worker machines; None: the challenge takes CSVs only.
    videos_dir: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revealed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Bumped with every change to what the leaderboards show: caches key on it.
    results_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    phases: Mapped[list[Phase]] = relationship(
        back_populates="challenge", order_by="Phase.starts_at", cascade="all, delete-orphan"
    )

    @property
    def revealed(self) -> bool:
        return self.revealed_at is not None

    @property
    def accepts_code(self) -> bool:
        return bool(self.videos_dir)


class Phase(Base):
    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    challenge: Mapped[Challenge] = relationship(back_populates="phases")

    __table_args__ = (
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
    )

    def is_open(self, now: dt.datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)


class TestItem(Base):
    """One labelled test file. Never returned by any route."""

    __tablename__ = "test_items"
    __test__ = False  # not a pytest class

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(512))
    label: Mapped[int] = mapped_column(SmallInteger)
    part: Mapped[str] = mapped_column(String(8))  # "public" | "private"

    __table_args__ = (
        UniqueConstraint("challenge_id", "filename"),
        CheckConstraint("label IN (0, 1)", name="label_binary"),
        CheckConstraint("part IN ('public', 'private')", name="part_known"),
    )


class Host(Base):
    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Bumped by every submission: the UPDATE is the lock that makes the caps exact.
    submission_seq: Mapped[int] = mapped_column(Integer, default=0)

    challenge: Mapped[Challenge] = relationship()
    members: Mapped[list[Member]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="Member.id"
    )

    __table_args__ = (UniqueConstraint("challenge_id", "name"),)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))

    team: Mapped[Team] = relationship(back_populates="members")


class ApiToken(Base):
    """A bearer token of one team or one host; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # to tell tokens apart in listings
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    team: Mapped[Team | None] = relationship()
    host: Mapped[Host | None] = relationship()

    __table_args__ = (CheckConstraint("(team_id IS NULL) <> (host_id IS NULL)", name="one_owner"),)


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    scored_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    public_score: Mapped[float | None] = mapped_column(Float)  # DFDC log loss
    public_auc: Mapped[float | None] = mapped_column(Float)
    private_score: Mapped[float | None] = mapped_column(Float)  # hidden until the reveal
    private_auc: Mapped[float | None] = mapped_column(Float)
    execution_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    log_excerpt: Mapped[str | None] = mapped_column(Text)
    selected: Mapped[bool] = mapped_column(Boolean, default=False)  # final selection

    team: Mapped[Team] = relationship()
    phase: Mapped[Phase] = relationship()

    __table_args__ = (
        Index("ix_submissions_team_created", "team_id", "created_at"),
        Index("ix_submissions_status_public", "status", "public_score"),
        CheckConstraint("kind IN ('csv', 'code')", name="kind_known"),
    )


class SubmissionBlob(Base):
    """The uploaded bytes, apart from the row so listings stay light.

    Kept in the database so that workers on other machines need no shared filesystem.
    """

    __tablename__ = "submission_blobs"

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Job(Base):
    """A submission waiting for, or being scored by, a worker (one job per submission)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    submission: Mapped[Submission] = relationship()

    __table_args__ = (Index("ix_jobs_state_id", "state", "id"),)


class AuthFailure(Base):
    """A failed token attempt; counted per client address to rate-limit brute force."""

    __tablename__ = "auth_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_auth_failures_client_at", "client", "at"),)
