from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from unmask.errors import ConfigError, ConsentError, UnknownNameError, UnmaskError
from unmask.forge import _ledger_schema
from unmask.forge.ledger import Ledger, sha256_file


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger.open(tmp_path / "ws", create=True) as led:
        yield led


def test_new_ledger_is_at_the_latest_schema(ledger: Ledger) -> None:
    assert ledger.schema_version == _ledger_schema.LATEST_VERSION


def test_missing_ledger_is_an_error_unless_created(tmp_path: Path) -> None:
    with pytest.raises(UnmaskError, match="no forge ledger"):
        Ledger.open(tmp_path / "nowhere")


def test_migrations_apply_in_order_and_only_once(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ws"
    with Ledger.open(path, create=True) as led:
        assert led.schema_version == 1
    extra = (2, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);")
    monkeypatch.setattr(_ledger_schema, "MIGRATIONS", (*_ledger_schema.MIGRATIONS, extra))
    monkeypatch.setattr("unmask.forge.ledger.MIGRATIONS", _ledger_schema.MIGRATIONS)
    monkeypatch.setattr("unmask.forge.ledger.LATEST_VERSION", 2)
    with Ledger.open(path) as led:
        assert led.schema_version == 2
        led._db.execute("INSERT INTO notes (text) VALUES ('x')")
    with Ledger.open(path) as led:  # re-opening does not re-run migration 2
        assert led.schema_version == 2
        assert led._db.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 1


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ws"
    Ledger.open(path, create=True).close()
    bad = (2, "CREATE TABLE half (id INTEGER); THIS IS NOT SQL;")
    monkeypatch.setattr("unmask.forge.ledger.MIGRATIONS", (*_ledger_schema.MIGRATIONS, bad))
    monkeypatch.setattr("unmask.forge.ledger.LATEST_VERSION", 2)
    with pytest.raises(UnmaskError, match="migrating the ledger to version 2 failed"):
        Ledger.open(path)
    monkeypatch.undo()
    with Ledger.open(path) as led:
        assert led.schema_version == 1
        tables = {r[0] for r in led._db.execute("SELECT name FROM sqlite_master")}
        assert "half" not in tables


def test_a_ledger_from_a_newer_unmask_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ws"
    with Ledger.open(path, create=True) as led:
        led._db.execute("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(UnmaskError, match="newer than this unmask"):
        Ledger.open(path)


def test_grant_stores_document_hash_roles_uses_and_audits(ledger: Ledger, document: Path) -> None:
    event = ledger.add_consent(roles=["target"], uses=["research"], document=document)
    assert event.actor_id.startswith("act-")
    assert event.document_sha256 == sha256_file(document)
    assert event.roles == ("target",) and event.uses == ("research",)
    ledger.check_consent(event.actor_id, role="target", uses=["research"])
    with pytest.raises(ConsentError, match="role 'source'"):
        ledger.check_consent(event.actor_id, role="source", uses=["research"])
    with pytest.raises(ConsentError, match="commercial"):
        ledger.check_consent(event.actor_id, role="target", uses=["research", "commercial"])
    actions = [e.action for e in ledger.audit_log(event.actor_id)]
    assert actions == ["consent.grant"]


def test_a_new_actor_can_be_given_its_id(ledger: Ledger, document: Path) -> None:
    event = ledger.add_consent(
        roles=["target"], uses=["research"], document=document, new_id="act-0123abcd"
    )
    assert event.actor_id == "act-0123abcd" and ledger.actor_ids() == ["act-0123abcd"]
    ledger.check_consent("act-0123abcd", role="target", uses=["research"])
    with pytest.raises(ConfigError, match="act-0123abcd is taken"):
        ledger.add_consent(
            roles=["target"], uses=["research"], document=document, new_id="act-0123abcd"
        )
    for bad in ("act-0123ABCD", "actor-1", "act-0123abcd0"):
        with pytest.raises(ConfigError, match="act- and 8 lower-case hex digits"):
            ledger.add_consent(roles=["target"], uses=["research"], document=document, new_id=bad)
    with pytest.raises(ConfigError, match="both an existing actor"):
        ledger.add_consent(
            roles=["target"],
            uses=["research"],
            document=document,
            actor_id="act-0123abcd",
            new_id="act-99999999",
        )
    assert ledger.actor_ids() == ["act-0123abcd"]  # nothing half-made by the refusals
    assert len(ledger.events()) == 1


def test_unknown_role_or_use_suggests_the_closest(ledger: Ledger, document: Path) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'source'"):
        ledger.add_consent(roles=["sorce"], uses=["research"], document=document)
    with pytest.raises(UnknownNameError, match="did you mean 'research'"):
        ledger.add_consent(roles=["source"], uses=["reserch"], document=document)


def test_missing_document_and_past_expiry_are_errors(
    ledger: Ledger, tmp_path: Path, document: Path
) -> None:
    with pytest.raises(ConfigError, match="cannot read the consent document"):
        ledger.add_consent(roles=["source"], uses=["research"], document=tmp_path / "none.pdf")
    with pytest.raises(ConfigError, match="not in the future"):
        ledger.add_consent(
            roles=["source"], uses=["research"], document=document, expires_on=date(2000, 1, 1)
        )


def test_revocation_ends_earlier_grants_and_a_new_grant_restores(
    ledger: Ledger, document: Path
) -> None:
    actor = ledger.add_consent(
        roles=["source", "target"], uses=["research"], document=document
    ).actor_id
    ledger.revoke(actor, reason="changed mind")
    with pytest.raises(ConsentError, match="revoked"):
        ledger.check_consent(actor, role="target", uses=["research"])
    assert [e.kind for e in ledger.events(actor)] == ["grant", "revoke"]  # nothing deleted
    ledger.add_consent(roles=["target"], uses=["research"], document=document, actor_id=actor)
    ledger.check_consent(actor, role="target", uses=["research"])
    with pytest.raises(ConsentError):
        ledger.check_consent(actor, role="source", uses=["research"])


def test_expiry(ledger: Ledger, document: Path) -> None:
    today = datetime.now(UTC)
    expires = (today + timedelta(days=10)).date()
    actor = ledger.add_consent(
        roles=["target"], uses=["research"], document=document, expires_on=expires
    ).actor_id
    ledger.check_consent(actor, role="target", uses=["research"], now=today)
    later = today + timedelta(days=10)
    with pytest.raises(ConsentError, match=f"expired on {expires.isoformat()}"):
        ledger.check_consent(actor, role="target", uses=["research"], now=later)


def test_unknown_actor_suggests_known_ids(ledger: Ledger, document: Path) -> None:
    actor = ledger.add_consent(roles=["target"], uses=["research"], document=document).actor_id
    typo = actor[:-1] + ("0" if actor[-1] != "0" else "1")
    with pytest.raises(UnknownNameError, match=f"did you mean '{actor}'"):
        ledger.revoke(typo)


def test_audit_log_and_consent_records_cannot_be_changed(ledger: Ledger, document: Path) -> None:
    ledger.add_consent(roles=["target"], uses=["research"], document=document)
    for sql in (
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "UPDATE consent_events SET roles = '[]'",
        "DELETE FROM consent_events",
    ):
        with pytest.raises(sqlite3.DatabaseError, match=r"append-only|never"):
            ledger._db.execute(sql)
