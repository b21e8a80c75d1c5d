"""What the JSON API takes and returns. Labels, the public/private part of a file and
private scores (before the reveal) have no field here, so no route can return them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from unmask.arena import models as m
from unmask.arena.queries import LeaderboardRow, Usage

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MAX_INT = 2**31 - 1


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PhaseOut(BaseModel):
    name: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    open: bool

    @classmethod
    def of(cls, phase: m.Phase, now: dt.datetime) -> PhaseOut:
        return cls(
            name=phase.name,
            starts_at=phase.starts_at,
            ends_at=phase.ends_at,
            open=phase.is_open(now),
        )


class ChallengeOut(BaseModel):
    slug: str
    title: str
    description: str
    daily_cap: int
    total_cap: int | None
    max_final: int
    accepts_code: bool
    code_time_limit_s: int
    revealed: bool
    n_test_files: int
    phases: list[PhaseOut]

    @classmethod
    def of(cls, c: m.Challenge, *, n_test_files: int, now: dt.datetime) -> ChallengeOut:
        return cls(
            slug=c.slug,
            title=c.title,
            description=c.description,
            daily_cap=c.daily_cap,
            total_cap=c.total_cap,
            max_final=c.max_final,
            accepts_code=c.accepts_code,
            code_time_limit_s=c.code_time_limit_s,
            revealed=c.revealed,
            n_test_files=n_test_files,
            phases=[PhaseOut.of(p, now) for p in c.phases],
        )


class LeaderboardRowOut(BaseModel):
    rank: int | None = Field(description="None for baseline rows (shown, not ranked)")
    team: str
    baseline: bool
    score: float = Field(description="DFDC log loss, lower is better")
    auc: float | None = Field(description="ROC AUC; None when the part has one class")
    entries: int
    last_submission_at: dt.datetime
    execution_s: float | None

    @classmethod
    def of(cls, r: LeaderboardRow) -> LeaderboardRowOut:
        return cls(
            rank=r.rank,
            team=r.team,
            baseline=r.is_baseline,
            score=r.score,
            auc=r.auc,
            entries=r.entries,
            last_submission_at=r.last_submission_at,
            execution_s=r.execution_s,
        )


class LeaderboardOut(BaseModel):
    challenge: str
    board: Literal["public", "private"]
    rows: list[LeaderboardRowOut]


class SubmissionOut(BaseModel):
    id: int
    kind: str
    status: str
    filename: str
    size_bytes: int
    sha256: str
    note: str
    created_at: dt.datetime
    scored_at: dt.datetime | None
    public_score: float | None
    public_auc: float | None
    private_score: float | None = Field(description="None until the host reveals")
    private_auc: float | None = Field(description="None until the host reveals")
    execution_s: float | None
    error: str | None
    log_excerpt: str | None
    selected: bool

    @classmethod
    def of(cls, s: m.Submission, *, revealed: bool) -> SubmissionOut:
        return cls(
            id=s.id,
            kind=s.kind,
            status=s.status,
            filename=s.filename,
            size_bytes=s.size_bytes,
            sha256=s.sha256,
            note=s.note,
            created_at=s.created_at,
            scored_at=s.scored_at,
            public_score=s.public_score,
            public_auc=s.public_auc,
            private_score=s.private_score if revealed else None,
            private_auc=s.private_auc if revealed else None,
            execution_s=s.execution_s,
            error=s.error,
            log_excerpt=s.log_excerpt,
            selected=s.selected,
        )


class HostSubmissionOut(SubmissionOut):
    team: str


class UsageOut(BaseModel):
    today: int
    daily_cap: int
    total: int
    total_cap: int | None
    left_today: int

    @classmethod
    def of(cls, u: Usage) -> UsageOut:
        return cls(
            today=u.today,
            daily_cap=u.daily_cap,
            total=u.total,
            total_cap=u.total_cap,
            left_today=u.left_today,
        )


class SubmitOut(BaseModel):
    submission: SubmissionOut
    usage: UsageOut


class TeamSubmissionsOut(BaseModel):
    team: str
    submissions: list[SubmissionOut]
    usage: UsageOut


class FinalSelectionIn(_In):
    submission_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]] = Field(max_length=100)


class MeOut(BaseModel):
    kind: Literal["team", "host"]
    name: str
    challenge: str | None = None


class ChallengeIn(_In):
    slug: Slug
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    daily_cap: int = Field(default=5, ge=1, le=1000)
    total_cap: int | None = Field(default=None, ge=1, le=100_000)
    max_final: int = Field(default=2, ge=1, le=20)
    public_fraction: float = Field(default=0.5, gt=0.0, lt=1.0)
    split_seed: int = Field(default=0, ge=0, le=MAX_INT)
    code_time_limit_s: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    videos_dir: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        default=None, description="test videos folder on the worker machines; unset: CSV only"
    )
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None


class PhaseIn(_In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None


class MemberIn(_In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    email: Annotated[str, StringConstraints(max_length=254)] | None = None


class TeamIn(_In):
    name: Name
    members: list[MemberIn] = Field(default_factory=list, max_length=50)


class TeamCreatedOut(BaseModel):
    id: int
    name: str
    token: str = Field(description="shown once; only its hash is stored")


class TeamOut(BaseModel):
    id: int
    name: str
    baseline: bool
    members: list[str]


class LabelsOut(BaseModel):
    n_files: int
    n_public: int
    n_private: int
    split_source: str = Field(description="column: the file's split column; seeded: split here")
