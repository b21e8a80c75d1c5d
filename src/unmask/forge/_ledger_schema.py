"""Schema of the consent ledger as ordered migrations (SQLite).

Each migration is applied once, in order, inside one transaction, and bumps
``schema_version``. Never edit a released migration: add the next one.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE actors (
            actor_id   TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        );
        -- Grants and revocations are both records; nothing is ever deleted. A grant is valid
        -- until it expires or until a later 'revoke' record for the same actor.
        CREATE TABLE consent_events (
            event_id        INTEGER PRIMARY KEY AUTOINCREMENT,
            actor_id        TEXT NOT NULL REFERENCES actors(actor_id),
            kind            TEXT NOT NULL CHECK (kind IN ('grant', 'revoke')),
            roles           TEXT NOT NULL DEFAULT '[]',   -- JSON list: source, target
            uses            TEXT NOT NULL DEFAULT '[]',   -- JSON list: research, training, ...
            expires_on      TEXT,                         -- ISO date; invalid from that day on
            document_sha256 TEXT,                         -- hash of the signed consent document
            reason          TEXT NOT NULL DEFAULT '',
            recorded_at     TEXT NOT NULL
        );
        CREATE INDEX consent_events_actor ON consent_events(actor_id);
        CREATE TABLE footage (
            footage_id  TEXT PRIMARY KEY,
            actor_id    TEXT NOT NULL REFERENCES actors(actor_id),
            path        TEXT,                 -- relative to the workspace; NULL once purged
            sha256      TEXT NOT NULL,
            kind        TEXT NOT NULL CHECK (kind IN ('video', 'image')),
            status      TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'purged')),
            reason      TEXT NOT NULL DEFAULT '',
            width       INTEGER NOT NULL DEFAULT 0,
            height      INTEGER NOT NULL DEFAULT 0,
            fps         REAL NOT NULL DEFAULT 0,
            n_frames    INTEGER NOT NULL DEFAULT 0,
            stats       TEXT NOT NULL DEFAULT '{}',
            added_at    TEXT NOT NULL
        );
        CREATE INDEX footage_actor ON footage(actor_id);
        CREATE TABLE datasets (
            dataset_id INTEGER PRIMARY KEY AUTOINCREMENT,
            path       TEXT NOT NULL UNIQUE,      -- absolute path of the dataset folder
            created_at TEXT NOT NULL
        );
        -- Every file a build writes, with every actor it uses (an index of existing files).
        CREATE TABLE derived (
            dataset_id INTEGER NOT NULL REFERENCES datasets(dataset_id),
            relpath    TEXT NOT NULL,
            sha256     TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (dataset_id, relpath)
        );
        CREATE TABLE derived_actors (
            dataset_id INTEGER NOT NULL,
            relpath    TEXT NOT NULL,
            actor_id   TEXT NOT NULL,
            PRIMARY KEY (dataset_id, relpath, actor_id),
            FOREIGN KEY (dataset_id, relpath) REFERENCES derived(dataset_id, relpath)
                ON DELETE CASCADE
        );
        CREATE INDEX derived_actors_actor ON derived_actors(actor_id);
        CREATE TABLE purges (
            purge_id    INTEGER PRIMARY KEY AUTOINCREMENT,
            actor_id    TEXT NOT NULL REFERENCES actors(actor_id),
            status      TEXT NOT NULL CHECK (status IN ('pending', 'done')),
            started_at  TEXT NOT NULL,
            finished_at TEXT,
            summary     TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE audit_log (
            seq      INTEGER PRIMARY KEY AUTOINCREMENT,
            at       TEXT NOT NULL,
            action   TEXT NOT NULL,
            actor_id TEXT,
            detail   TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
        BEGIN SELECT RAISE(ABORT, 'consent records are never changed; add a new one'); END;
        CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
        BEGIN SELECT RAISE(ABORT, 'consent records are never deleted; revoke instead'); END;
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]
