from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env
from unmask.cli import main

from .footage import consent_document, face_clip, faceless_clip


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_forge_help_opens_with_examples() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "unmask", "forge", "--help"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout.lstrip().startswith("usage:") and "examples:" in proc.stdout
    assert "unmask forge consent add" in proc.stdout


def test_consent_ingest_build_revoke_purge_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ws = str(tmp_path / "ws")
    doc = str(consent_document(tmp_path / "form.txt"))
    actors = []
    for variant in range(4):
        code, out, _ = run(
            capsys,
            "forge",
            "consent",
            "add",
            "-w",
            ws,
            "--roles",
            "source,target",
            "--uses",
            "research",
            "--document",
            doc,
            "--json",
        )
        assert code == 0
        actors.append(json.loads(out)["actor_id"])
        code, out, _ = run(
            capsys,
            "forge",
            "ingest",
            "-w",
            ws,
            actors[-1],
            str(face_clip(tmp_path / f"c{variant}.mp4", variant)),
        )
        assert code == 0 and out.startswith("accepted")
    code, out, err = run(
        capsys, "forge", "ingest", "-w", ws, actors[0], str(faceless_clip(tmp_path / "empty.mp4"))
    )
    assert code == 1 and "rejected" in err and "no face found" in err

    code, out, _ = run(capsys, "forge", "consent", "list", "-w", ws, "--json")
    listed = {r["actor"]: r for r in json.loads(out)}
    assert set(listed) == set(actors)
    assert listed[actors[0]]["accepted"] == 1 and listed[actors[0]]["rejected"] == 1
    assert (
        listed[actors[1]]["roles"] == ["source", "target"]
        and listed[actors[1]]["status"] == "valid"
    )

    spec = tmp_path / "spec.yaml"
    spec.write_text("uses: [research]\nframes: 4\nsplits: {train: 0.5, public_test: 0.5}\n")
    out_dir = tmp_path / "ds"
    code, out, _ = run(capsys, "forge", "build", spec.as_posix(), "--out", str(out_dir), "-w", ws)
    assert code == 0 and "4 videos (4 made now, 0 already complete)" in out
    assert (out_dir / "manifest.jsonl").is_file()

    code, out, _ = run(
        capsys, "forge", "consent", "revoke", "-w", ws, actors[2], "--reason", "asked"
    )
    assert code == 0 and "unmask forge purge" in out
    code, out, _ = run(capsys, "forge", "purge", "-w", ws)
    assert code == 0 and f"{actors[2]}: purged 1 files" in out
    assert actors[2] not in (out_dir / "manifest.jsonl").read_text()
    code, out, _ = run(capsys, "forge", "audit", "-w", ws, "--actor", actors[2])
    actions = [line.split()[2] for line in out.splitlines()]
    assert actions == [
        "consent.grant",
        "footage.accepted",
        "consent.revoke",
        "purge.start",
        "purge.done",
    ]


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    build = ["forge", "build", str(spec), "--out", str(tmp_path / "o"), "-w"]
    spec.write_text("uses: [research]\nmethds: {swap: 2}\n")
    code, _, err = run(capsys, *build, str(tmp_path / "ws"))
    assert code == 1
    assert err.strip().count("\n") == 0
    assert "unknown key 'methds'" in err and "did you mean 'methods'" in err
    spec.write_text("uses: [research]\n")
    code, _, err = run(capsys, *build, str(tmp_path / "none"))
    assert code == 1 and "no forge ledger" in err
    doc = str(consent_document(tmp_path / "d.txt"))
    add = ["forge", "consent", "add", "-w", str(tmp_path / "ws"), "--document", doc]
    code, _, err = run(capsys, *add, "--roles", "targt", "--uses", "research")
    assert code == 1 and "did you mean 'target'" in err
    code, _, err = run(capsys, *add, "--roles", "target", "--uses", "research", "--new-id", "act-1")
    assert code == 1 and err.strip().count("\n") == 0 and "act- and 8 lower-case hex" in err


def test_consent_add_with_a_chosen_id(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = str(consent_document(tmp_path / "d.txt"))
    add = ["forge", "consent", "add", "-w", str(tmp_path / "ws"), "--document", doc]
    add += ["--roles", "target", "--uses", "research", "--new-id", "act-00c0ffee"]
    code, out, _ = run(capsys, *add)
    assert code == 0 and out.startswith("act-00c0ffee: consent 1 recorded")
    code, _, err = run(capsys, *add)
    assert code == 1 and "act-00c0ffee is taken" in err
