"""The consent ledger: who agreed to what, which footage is theirs, and what was made from it.

One SQLite file per workspace (``WORKSPACE/ledger.sqlite``), migrated in order on open.
Actors are pseudonymous (``act-3f9c2d1b``); the ledger stores no names and no original
file names, only the sha256 of the signed consent document the user shows.

Consent records are never changed or deleted: a revocation is a new record that ends every
earlier grant of the actor. The audit log is append-only (SQLite triggers refuse changes).

>>> with Ledger.open(Path("ws"), create=True) as ledger:  # doctest: +SKIP
...     grant = ledger.add_consent(roles=["source", "target"], uses=["research"],
...                                document=Path("signed.pdf"))
...     ledger.check_consent(grant.actor_id, role="target", uses=["research"])
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from unmask.errors import ConfigError, ConsentError, UnknownNameError, UnmaskError
from unmask.forge._ledger_records import (
    ROLES,
    USES,
    ActorConsent,
    AuditEntry,
    ConsentEvent,
    FootageRecord,
    check_actor_id,
    check_names,
    event_from_row,
    footage_from_row,
    sha256_file,
    stamp,
    utc_now,
)
from unmask.forge._ledger_schema import LATEST_VERSION, MIGRATIONS
from unmask.forge._workspace import Workspace

__all__ = [
    "ROLES",
    "USES",
    "ActorConsent",
    "AuditEntry",
    "ConsentEvent",
    "FootageRecord",
    "Ledger",
    "sha256_file",
    "utc_now",
]


class Ledger:
    """The consent ledger of one workspace. Use :meth:`open` as a context manager."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise UnmaskError(
                f"no forge ledger at {self.path}; start a workspace by recording a consent "
                "(`unmask forge consent add ...`) or pass the right --workspace"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    @classmethod
    def open(cls, workspace: Path | Workspace, *, create: bool = False) -> Ledger:
        ws = workspace if isinstance(workspace, Workspace) else Workspace(Path(workspace))
        return cls(ws.ledger_path, create=create)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); rolled back on any error."""
        if self._db.in_transaction:  # nested: join the outer transaction
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- schema ------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = self.schema_version
        if current > LATEST_VERSION:
            raise UnmaskError(
                f"{self.path}: ledger schema version {current} is newer than this unmask "
                f"understands ({LATEST_VERSION}); upgrade unmask"
            )
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            # executescript runs the whole migration in our one transaction; on failure the
            # transaction is still open and is rolled back, leaving the previous version.
            try:
                self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\n"
                    f"INSERT INTO schema_version (version) VALUES ({int(version)});\nCOMMIT;"
                )
            except sqlite3.Error as err:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise UnmaskError(
                    f"{self.path}: migrating the ledger to version {version} failed ({err}); "
                    "the ledger was left at version "
                    f"{self.schema_version}"
                ) from None

    # -- audit log ---------------------------------------------------------------------------

    def audit(self, action: str, actor_id: str | None = None, **detail: Any) -> None:
        """Append one entry to the audit log (inside the caller's transaction, if any)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO audit_log (at, action, actor_id, detail) VALUES (?, ?, ?, ?)",
                (stamp(utc_now()), action, actor_id, json.dumps(detail, sort_keys=True)),
            )

    def audit_log(self, actor_id: str | None = None) -> list[AuditEntry]:
        sql = "SELECT * FROM audit_log"
        args: tuple[Any, ...] = ()
        if actor_id is not None:
            sql, args = sql + " WHERE actor_id = ?", (actor_id,)
        rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [
            AuditEntry(r["seq"], r["at"], r["action"], r["actor_id"], json.loads(r["detail"]))
            for r in rows
        ]

    # -- actors and consent ------------------------------------------------------------------

    def actor_ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT actor_id FROM actors ORDER BY actor_id")]

    def require_actor(self, actor_id: str) -> str:
        if not self._has_actor(actor_id):
            raise UnknownNameError("actor", actor_id, self.actor_ids())
        return actor_id

    def add_consent(
        self,
        *,
        roles: Iterable[str],
        uses: Iterable[str],
        document: Path,
        expires_on: date | None = None,
        actor_id: str | None = None,
        new_id: str | None = None,
        now: datetime | None = None,
    ) -> ConsentEvent:
        """Record a grant for a new actor (``actor_id=None``) or an existing one.

        ``document`` is the signed consent form; only its sha256 is stored. A new actor
        gets a random id unless ``new_id`` names one (``act-`` and 8 hex digits, unused):
        builds plan from the actor ids, so a benchmark rebuilt from scratch is the same
        build only if its actors keep their ids.
        """
        if new_id is not None:
            if actor_id is not None:
                raise ConfigError(
                    f"got both an existing actor ({actor_id}) and a new id ({new_id}); "
                    "give the existing actor to add a grant, or the new id to create one"
                )
            check_actor_id(new_id)
        roles_ = check_names("consent role", roles, ROLES)
        uses_ = check_names("consent use", uses, USES)
        when = now or utc_now()
        if expires_on is not None and expires_on <= when.date():
            raise ConfigError(
                f"consent expiry {expires_on.isoformat()} is not in the future; "
                "give a later date or none"
            )
        try:
            doc_hash = sha256_file(Path(document))
        except OSError as err:
            raise ConfigError(f"cannot read the consent document {document}: {err}") from None
        with self.transaction() as db:
            if actor_id is None:
                if new_id is not None and self._has_actor(new_id):
                    raise ConfigError(
                        f"actor id {new_id} is taken; choose another new id, or pass it as "
                        "the existing actor to add a grant"
                    )
                actor_id = new_id or self._new_actor_id()
                db.execute(
                    "INSERT INTO actors (actor_id, created_at) VALUES (?, ?)",
                    (actor_id, stamp(when)),
                )
            else:
                self.require_actor(actor_id)
            cur = db.execute(
                "INSERT INTO consent_events (actor_id, kind, roles, uses, expires_on, "
                "document_sha256, recorded_at) VALUES (?, 'grant', ?, ?, ?, ?, ?)",
                (
                    actor_id,
                    json.dumps(list(roles_)),
                    json.dumps(list(uses_)),
                    expires_on.isoformat() if expires_on else None,
                    doc_hash,
                    stamp(when),
                ),
            )
            self.audit(
                "consent.grant",
                actor_id,
                event_id=cur.lastrowid,
                roles=list(roles_),
                uses=list(uses_),
                expires_on=expires_on.isoformat() if expires_on else None,
                document_sha256=doc_hash,
            )
        return self.events(actor_id)[-1]

    def _has_actor(self, actor_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM actors WHERE actor_id = ?", (actor_id,))
        return row.fetchone() is not None

    def _new_actor_id(self) -> str:
        while True:
            candidate = f"act-{secrets.token_hex(4)}"
            if not self._has_actor(candidate):
                return candidate

    def revoke(
        self, actor_id: str, *, reason: str = "", now: datetime | None = None
    ) -> ConsentEvent:
        """Record that the actor withdrew consent: every earlier grant ends now."""
        self.require_actor(actor_id)
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO consent_events (actor_id, kind, reason, recorded_at) "
                "VALUES (?, 'revoke', ?, ?)",
                (actor_id, reason, stamp(now or utc_now())),
            )
            self.audit("consent.revoke", actor_id, event_id=cur.lastrowid, reason=reason)
        return self.events(actor_id)[-1]

    def events(self, actor_id: str | None = None) -> list[ConsentEvent]:
        sql = "SELECT * FROM consent_events"
        args: tuple[Any, ...] = ()
        if actor_id is not None:
            sql, args = sql + " WHERE actor_id = ?", (actor_id,)
        return [event_from_row(r) for r in self._db.execute(sql + " ORDER BY event_id", args)]

    def consent(self, actor_id: str, *, now: datetime | None = None) -> ActorConsent:
        """The actor's valid grants at ``now`` (default: the current time)."""
        self.require_actor(actor_id)
        today = (now or utc_now()).date()
        events = self.events(actor_id)
        revokes = [e for e in events if e.kind == "revoke"]
        last_revoke = revokes[-1].event_id if revokes else 0
        grants = [e for e in events if e.kind == "grant"]
        live = [g for g in grants if g.event_id > last_revoke]
        return ActorConsent(
            actor_id=actor_id,
            valid=tuple(g for g in live if g.expires_on is None or today < g.expires_on),
            revoked_at=revokes[-1].recorded_at if revokes and len(live) < len(grants) else None,
            expired=tuple(g for g in live if g.expires_on is not None and today >= g.expires_on),
        )

    def check_consent(
        self, actor_id: str, *, role: str, uses: Iterable[str], now: datetime | None = None
    ) -> None:
        """Raise :class:`ConsentError` unless a valid grant covers ``role`` and all ``uses``."""
        uses = tuple(uses)
        state = self.consent(actor_id, now=now)
        if state.allows(role, uses):
            return
        wanted = f"role {role!r} and use {', '.join(uses)}"
        if not state.valid:
            if state.revoked_at and not state.expired:
                why = f"consent was revoked at {state.revoked_at}"
            elif state.expired:
                last = max(g.expires_on for g in state.expired if g.expires_on)
                why = f"consent expired on {last.isoformat()}"
            elif state.revoked_at:
                why = f"consent was revoked at {state.revoked_at}"
            else:
                why = "no consent was ever recorded"
        else:
            granted = "; ".join(
                f"roles {'/'.join(g.roles)} for {', '.join(g.uses)}" for g in state.valid
            )
            why = f"the valid consent covers {granted}"
        raise ConsentError(
            f"actor {actor_id} has no valid consent for {wanted}: {why}. Record a new consent "
            f"(`unmask forge consent add --actor {actor_id} ...`) or leave the actor out"
        )

    # -- footage -----------------------------------------------------------------------------

    def add_footage(self, record: FootageRecord) -> FootageRecord:
        """Store a footage record; returns it as stored (with ``added_at``)."""
        self.require_actor(record.actor_id)
        record = replace(record, added_at=record.added_at or stamp(utc_now()))
        with self.transaction() as db:
            db.execute(
                "INSERT INTO footage (footage_id, actor_id, path, sha256, kind, status, reason, "
                "width, height, fps, n_frames, stats, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.footage_id,
                    record.actor_id,
                    record.path,
                    record.sha256,
                    record.kind,
                    record.status,
                    record.reason,
                    record.width,
                    record.height,
                    record.fps,
                    record.n_frames,
                    json.dumps(record.stats, sort_keys=True),
                    record.added_at,
                ),
            )
            self.audit(
                f"footage.{record.status}",
                record.actor_id,
                footage_id=record.footage_id,
                sha256=record.sha256,
                reason=record.reason,
            )
        return record

    def footage(
        self, actor_id: str | None = None, *, status: str | None = None
    ) -> list[FootageRecord]:
        clauses, args = [], []
        if actor_id is not None:
            clauses.append("actor_id = ?")
            args.append(actor_id)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(f"SELECT * FROM footage{where} ORDER BY footage_id", args)
        return [footage_from_row(r) for r in rows]

    def footage_by_sha(self, sha256: str) -> FootageRecord | None:
        row = self._db.execute(
            "SELECT * FROM footage WHERE sha256 = ? AND status != 'purged'", (sha256,)
        ).fetchone()
        return footage_from_row(row) if row else None

    def mark_footage_purged(self, footage_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE footage SET status = 'purged', path = NULL, stats = '{}' "
                "WHERE footage_id = ?",
                (footage_id,),
            )

    # -- datasets and derived files ----------------------------------------------------------

    def register_dataset(self, path: Path) -> int:
        key = str(Path(path).resolve())
        with self.transaction() as db:
            row = db.execute("SELECT dataset_id FROM datasets WHERE path = ?", (key,)).fetchone()
            if row:
                return int(row[0])
            cur = db.execute(
                "INSERT INTO datasets (path, created_at) VALUES (?, ?)", (key, stamp(utc_now()))
            )
            self.audit("dataset.register", None, path=key)
            return int(cur.lastrowid or 0)

    def datasets(self) -> list[tuple[int, Path]]:
        rows = self._db.execute("SELECT dataset_id, path FROM datasets ORDER BY dataset_id")
        return [(int(r[0]), Path(r[1])) for r in rows]

    def record_derived(
        self, dataset_id: int, relpath: str, sha256: str, actors: Iterable[str]
    ) -> None:
        """Note that a dataset file exists and which actors' footage it uses."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO derived (dataset_id, relpath, sha256, created_at) "
                "VALUES (?, ?, ?, ?)",
                (dataset_id, relpath, sha256, stamp(utc_now())),
            )
            db.execute(
                "DELETE FROM derived_actors WHERE dataset_id = ? AND relpath = ?",
                (dataset_id, relpath),
            )
            db.executemany(
                "INSERT INTO derived_actors (dataset_id, relpath, actor_id) VALUES (?, ?, ?)",
                [(dataset_id, relpath, a) for a in sorted(set(actors))],
            )

    def derived_using(self, actor_id: str) -> list[tuple[int, str, str]]:
        """``(dataset_id, relpath, sha256)`` of every recorded file that uses the actor."""
        rows = self._db.execute(
            "SELECT d.dataset_id, d.relpath, d.sha256 FROM derived d JOIN derived_actors a "
            "ON a.dataset_id = d.dataset_id AND a.relpath = d.relpath WHERE a.actor_id = ? "
            "ORDER BY d.dataset_id, d.relpath",
            (actor_id,),
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def forget_derived(self, dataset_id: int, relpaths: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM derived WHERE dataset_id = ? AND relpath = ?",
                [(dataset_id, r) for r in relpaths],
            )

    # -- purges ------------------------------------------------------------------------------

    def pending_purges(self) -> list[tuple[int, str]]:
        rows = self._db.execute(
            "SELECT purge_id, actor_id FROM purges WHERE status = 'pending' ORDER BY purge_id"
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    def purged_actors(self) -> set[str]:
        rows = self._db.execute("SELECT DISTINCT actor_id FROM purges WHERE status = 'done'")
        return {str(r[0]) for r in rows}

    def start_purge(self, actor_id: str) -> int:
        with self.transaction() as db:
            for purge_id, pending in self.pending_purges():
                if pending == actor_id:
                    return purge_id
            cur = db.execute(
                "INSERT INTO purges (actor_id, status, started_at) VALUES (?, 'pending', ?)",
                (actor_id, stamp(utc_now())),
            )
            self.audit("purge.start", actor_id, purge_id=cur.lastrowid)
            return int(cur.lastrowid or 0)

    def finish_purge(self, purge_id: int, actor_id: str, summary: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE purges SET status = 'done', finished_at = ?, summary = ? "
                "WHERE purge_id = ?",
                (stamp(utc_now()), json.dumps(summary, sort_keys=True), purge_id),
            )
            self.audit("purge.done", actor_id, purge_id=purge_id, **summary)
