"""``unmask arena``: the commands parse, migrate, make host tokens and submit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.arena.conftest import World, predictions_csv
from tests.conftest import cli_env
from unmask.arena.client import guess_kind, submit
from unmask.arena.core.db import head_revision
from unmask.arena.errors import ClientError
from unmask.arena.worker import Worker


def unmask(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unmask", *args], capture_output=True, text=True,
                          env=env or cli_env(), timeout=120)  # fmt: skip


def test_help_opens_with_examples() -> None:
    out = unmask("arena", "--help")
    assert out.returncode == 0 and out.stdout.split("\n\n")[1].startswith("examples:")
    for action in ("serve", "worker", "submit", "migrate", "host-token"):
        assert action in out.stdout
    assert "arena" in unmask("--help").stdout


def test_migrate_and_host_token_on_a_fresh_data_dir(tmp_path: Path) -> None:
    out = unmask("arena", "migrate", "--data-dir", str(tmp_path))
    assert out.returncode == 0 and f"revision {head_revision()}" in out.stdout, out.stderr
    out = unmask("arena", "host-token", "--data-dir", str(tmp_path))
    assert out.returncode == 0 and out.stdout.startswith("umk_")


def test_submit_errors_are_one_line(tmp_path: Path) -> None:
    preds = tmp_path / "p.csv"
    preds.write_bytes(predictions_csv())
    out = unmask("arena", "submit", "--url", "http://127.0.0.1:9", "--token", "umk_x", str(preds))
    assert (
        out.returncode == 1
        and out.stderr.startswith("unmask: error:")
        and "Traceback" not in out.stderr
    )


def test_client_submits_and_waits(
    client: TestClient, world: World, worker: Worker, tmp_path: Path
) -> None:
    preds = tmp_path / "preds.csv"
    preds.write_bytes(predictions_csv())
    transport = client._transport  # the in-process app
    out = submit("http://testserver", world.team_a, preds, transport=transport)
    assert out["status"] == "queued" and out["challenge"] == "dfdc" and out["usage"]["today"] == 1
    worker.run_once()
    bad = tmp_path / "bad.csv"
    bad.write_text("filename,label\nnope.mp4,0.5\n")
    with pytest.raises(ClientError, match=r"server answered 422: invalid submission.*line "):
        submit("http://testserver", world.team_a, bad, transport=transport)
    with pytest.raises(ClientError, match="401"):
        submit("http://testserver", "umk_" + "z" * 43, preds, transport=transport)


def test_client_needs_a_challenge_name_when_there_are_several(
    client: TestClient, world: World, session, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from unmask.arena import crud

    crud.create_challenge(session, slug="second", title="Second")
    preds = tmp_path / "p.csv"
    preds.write_bytes(predictions_csv())
    with pytest.raises(ClientError, match=r"2 challenges .*pick one with --challenge"):
        submit("http://testserver", world.team_a, preds, transport=client._transport)
    assert submit(
        "http://testserver", world.team_a, preds, challenge="dfdc", transport=client._transport
    )["id"]


def test_kind_from_the_file_name() -> None:
    assert guess_kind(Path("preds.csv")) == "csv"
    assert guess_kind(Path("team.tar.gz")) == "code" and guess_kind(Path("TEAM.ZIP")) == "code"
