"""What the consent ledger stores, as value objects (the storage is in ``ledger.py``)."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from unmask.errors import ConfigError, UnknownNameError

ROLES = ("source", "target")
"""``target``: the actor's footage appears in the dataset (as a REAL video, and altered by
methods). ``source``: the actor's face or motion is transferred onto other actors' footage."""

USES = ("research", "training", "evaluation", "public_release", "commercial")
"""What a dataset may be used for; a build names its uses and every actor must allow them all."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


ACTOR_ID = re.compile(r"act-[0-9a-f]{8}")
"""The form of an actor id: ``act-`` and 8 lower-case hex digits."""


def check_actor_id(actor_id: str) -> str:
    if not ACTOR_ID.fullmatch(actor_id):
        raise ConfigError(
            f"actor id {actor_id!r} is not of the form act- and 8 lower-case hex digits "
            "(e.g. act-3f9c2d1b); give an id of that form"
        )
    return actor_id


def check_names(kind: str, names: Iterable[str], known: Sequence[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    for name in out:
        if name not in known:
            raise UnknownNameError(kind, name, known)
    if not out:
        raise ConfigError(f"no {kind} given; choose from {', '.join(known)}")
    return out


@dataclass(frozen=True)
class ConsentEvent:
    """One record of the ledger: a grant (roles, uses, expiry, document hash) or a revocation."""

    event_id: int
    actor_id: str
    kind: str  # "grant" | "revoke"
    roles: tuple[str, ...]
    uses: tuple[str, ...]
    expires_on: date | None
    document_sha256: str | None
    reason: str
    recorded_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "actor_id": self.actor_id,
            "kind": self.kind,
            "roles": list(self.roles),
            "uses": list(self.uses),
            "expires_on": self.expires_on.isoformat() if self.expires_on else None,
            "document_sha256": self.document_sha256,
            "reason": self.reason,
            "recorded_at": self.recorded_at,
        }


@dataclass(frozen=True)
class ActorConsent:
    """An actor's standing at one moment: the grants still valid, and why others are not."""

    actor_id: str
    valid: tuple[ConsentEvent, ...]
    revoked_at: str | None  # time of the latest revocation, if any grant was ended by one
    expired: tuple[ConsentEvent, ...] = field(default=())

    def allows(self, role: str, uses: Iterable[str]) -> bool:
        wanted = set(uses)
        return any(role in g.roles and wanted <= set(g.uses) for g in self.valid)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(r for r in ROLES if any(r in g.roles for g in self.valid))


@dataclass(frozen=True)
class FootageRecord:
    """One imported file of an actor, accepted or rejected (with the reason)."""

    footage_id: str
    actor_id: str
    path: str | None  # relative to the workspace root; None once purged
    sha256: str
    kind: str  # "video" | "image"
    status: str  # "accepted" | "rejected" | "purged"
    reason: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    n_frames: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    added_at: str = ""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    action: str
    actor_id: str | None
    detail: dict[str, Any]


def event_from_row(row: sqlite3.Row) -> ConsentEvent:
    return ConsentEvent(
        event_id=row["event_id"],
        actor_id=row["actor_id"],
        kind=row["kind"],
        roles=tuple(json.loads(row["roles"])),
        uses=tuple(json.loads(row["uses"])),
        expires_on=date.fromisoformat(row["expires_on"]) if row["expires_on"] else None,
        document_sha256=row["document_sha256"],
        reason=row["reason"],
        recorded_at=row["recorded_at"],
    )


def footage_from_row(row: sqlite3.Row) -> FootageRecord:
    data = dict(row)
    data["stats"] = json.loads(data["stats"])
    return FootageRecord(**data)
