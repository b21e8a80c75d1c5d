from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import unmask.media._limits as limits_mod
from tests._media import SAMPLES, face_clip, write_audio_only_mp4, write_png_header, write_video
from tests.conftest import cli_env
from unmask.cli import main


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unmask", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=cwd,
        timeout=300,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every kind of bad input from the issue, beside good files, with non-ASCII names."""
    root = tmp_path_factory.mktemp("batch")
    (root / "sub").mkdir()
    (root / "zero.mp4").write_bytes(b"")
    (root / "random.mp4").write_bytes(np.random.default_rng(0).bytes(2048))
    good = face_clip(root / "sub" / "visage_été_视频.mp4")
    data = good.read_bytes()
    (root / "truncated.mp4").write_bytes(data[:200])
    write_audio_only_mp4(root / "audio_only.mp4")
    write_png_header(root / "bomb.png", 50000, 50000)
    Image.new("RGB", (1, 1)).save(root / "tiny.png")
    Image.open(SAMPLES / "coffee.jpg").save(root / "no_face.jpg")
    Image.open(SAMPLES / "astronaut.jpg").save(root / "ñandú.jpg")
    (root / "notes.txt").write_text("not media, not scanned")
    return root


EXPECTED_ERRORS = {
    "zero.mp4": "file is empty",
    "random.mp4": "not a recognised or intact video",
    "truncated.mp4": "cannot read video",
    "audio_only.mp4": "no video stream",
    "bomb.png": "refused before decoding",
    "tiny.png": "too small to hold a face",
}


def test_batch_with_every_bad_input(bad_folder: Path, tmp_path: Path) -> None:
    out, js, rep = tmp_path / "preds.csv", tmp_path / "r.jsonl", tmp_path / "r.html"
    proc = run_cli(
        "scan", bad_folder, "--output", out, "--json", js, "--report", rep, "--frames", "6"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = {r["filename"]: float(r["label"]) for r in read_csv(out)}
    assert set(rows) == {*EXPECTED_ERRORS, "no_face.jpg", "ñandú.jpg", "sub/visage_été_视频.mp4"}
    err_lines = [line for line in proc.stderr.splitlines() if line.startswith("unmask: error:")]
    assert len(err_lines) == len(EXPECTED_ERRORS)
    for name, message in EXPECTED_ERRORS.items():
        assert rows[name] == 0.5
        assert any(name in line and message in line for line in err_lines), (name, err_lines)
    results = {
        d["filename"]: d for d in map(json.loads, js.read_text(encoding="utf-8").splitlines())
    }
    assert results["no_face.jpg"]["status"] == "no_face"
    assert results["sub/visage_été_视频.mp4"]["status"] == "ok"
    assert results["zero.mp4"]["status"] == "error" and "empty" in results["zero.mp4"]["error"]
    html = rep.read_text(encoding="utf-8")
    assert (
        html.count("<tr>") == len(rows) + 1 and "data:image/jpeg;base64," in html and "<svg" in html
    )
    assert "visage_été_视频.mp4" in html


def test_missing_path_is_a_usage_error_but_the_rest_is_scanned(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    proc = run_cli("scan", tmp_path / "nope.mp4", SAMPLES / "astronaut.jpg", "-o", out, "-q")
    assert proc.returncode == 2
    assert proc.stderr.count("no such file or folder") == 1
    assert [r["filename"] for r in read_csv(out)] == ["nope.mp4", "astronaut.jpg"]


def test_single_file_gets_its_bare_name_and_prints_a_table(tmp_path: Path) -> None:
    proc = run_cli("scan", SAMPLES / "astronaut_pan.mp4", "--frames", "4")
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()[:2]
    assert header.split()[:3] == ["FILE", "VERDICT", "P(FAKE)"]
    assert row.split()[0] == "astronaut_pan.mp4" and row.split()[1] in ("REAL", "FAKE")


def test_unreadable_file_gets_a_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(face_clip(tmp_path / "src.mp4").read_bytes())
    if os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads anything: make the permission check fail as it would for a user
        real_access = os.access
        monkeypatch.setattr(
            limits_mod.os, "access", lambda p, m: False if Path(p) == locked else real_access(p, m)
        )
    out = tmp_path / "p.csv"
    assert main(["scan", str(locked), "-o", str(out), "-q"]) == 0
    assert read_csv(out) == [{"filename": "locked.mp4", "label": "0.500000"}]
    assert "permission denied" in capsys.readouterr().err


def test_usage_errors(tmp_path: Path) -> None:
    assert run_cli("scan").returncode == 2
    proc = run_cli("scan", SAMPLES / "astronaut.jpg", "--frames", "0")
    assert proc.returncode == 2 and "--frames must be at least 1" in proc.stderr
    proc = run_cli("scan", SAMPLES / "astronaut.jpg", "--detector", "spectrun")
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith(
        "unmask: error: unknown detector"
    )
    assert "did you mean 'spectrum'" in proc.stderr


def test_empty_folder(tmp_path: Path) -> None:
    proc = run_cli("scan", tmp_path)
    assert proc.returncode == 2 and "no videos or images found" in proc.stderr


def test_two_folders_with_the_same_relative_names(tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        Image.open(SAMPLES / "coffee.jpg").save(tmp_path / d / "x.jpg")
    proc = run_cli("scan", tmp_path / "a", tmp_path / "b", "-q")
    assert proc.returncode == 2 and "already used" in proc.stderr


def test_demo_prints_the_verdict_table(tmp_path: Path) -> None:
    proc = run_cli("demo", "--report", tmp_path / "demo.html")
    assert proc.returncode == 0, proc.stderr
    assert "astronaut_swapped.mp4" in proc.stdout and "NO FACE" in proc.stdout
    assert (tmp_path / "demo.html").read_text().count("<img") >= 3


def test_detectors_command_lists_the_registry() -> None:
    proc = run_cli("detectors")
    assert proc.returncode == 0 and "clip_fast (default)" in proc.stdout
    assert "\nspectrum:" in proc.stdout and "\nensemble:" in proc.stdout


def test_help_opens_with_examples() -> None:
    proc = run_cli("scan", "--help")
    assert proc.returncode == 0 and "examples:" in proc.stdout.split("positional")[0]


def test_write_failure_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    proc = run_cli("scan", SAMPLES / "coffee.jpg", "-o", target / "inside.csv", "-q")
    assert (
        proc.returncode == 1
        and proc.stderr.strip().count("\n") == 0
        and "cannot write output" in proc.stderr
    )


def test_video_with_write_video_is_scanned_as_one_row(tmp_path: Path) -> None:
    path = write_video(tmp_path / "grey.mp4", [np.full((48, 64, 3), 100, np.uint8)] * 4)
    out = tmp_path / "p.csv"
    assert run_cli("scan", path, "-o", out, "-q").returncode == 0
    assert read_csv(out) == [{"filename": "grey.mp4", "label": "0.500000"}]
