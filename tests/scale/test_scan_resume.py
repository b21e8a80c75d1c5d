"""`unmask scan` with a results store: --workers, kill and resume, torn lines, changed files."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests._cluster import wait_until
from tests.cli.test_scan_cli import run_cli
from tests.scale.conftest import (
    FRAMES,
    spawn_cli,
    store_lines,
    stored_files,
    varied_clip,
)
from unmask.scale import store_path_for

N_FILES = 12  # in the corpus: 10 clips, a photo, an empty file


def scan(corpus: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli("scan", corpus, "-o", out, "-q", "--frames", FRAMES, *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_workers_give_the_single_process_result(
    corpus: Path, baseline: str, tmp_path: Path
) -> None:
    out = tmp_path / "preds.csv"
    proc = scan(corpus, out, "--workers", "2", "--json", str(tmp_path / "r.jsonl"))
    assert out.read_text(encoding="utf-8") == baseline
    assert sorted(stored_files(store_path_for(out))) == sorted(
        line.split(",")[0] for line in baseline.splitlines()[1:]
    )
    assert proc.stderr.count("unmask: error:") == 1 and "broken.mp4" in proc.stderr


@pytest.mark.slow
def test_a_killed_run_resumes_without_rescanning(
    corpus: Path, baseline: str, tmp_path: Path
) -> None:
    out = tmp_path / "preds.csv"
    store = store_path_for(out)
    args = ["scan", corpus, "-o", out, "-q", "--frames", FRAMES, "--workers", "2"]
    # its own session: the kill takes the pool's processes too, like a crash of the machine
    proc = spawn_cli(*args, start_new_session=True)
    try:
        wait_until(
            lambda: store.exists() and len(store.read_bytes().splitlines()) >= 3,
            timeout=120,
            what="two stored results",
        )
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    assert not out.exists()
    done_before = stored_files(store)
    assert 2 <= len(done_before) < N_FILES, "the run ended before it was killed"

    proc2 = run_cli(*args)
    assert proc2.returncode == 0, proc2.stderr
    assert out.read_text(encoding="utf-8") == baseline
    files = stored_files(store)
    assert files[: len(done_before)] == done_before  # the first run's lines are kept as they were
    assert collections.Counter(files) == collections.Counter(set(files))  # nothing scanned twice
    assert len(files) == N_FILES
    assert f"{len(done_before)} of {N_FILES} files were already scanned" in proc2.stderr


def test_a_torn_store_line_is_repaired_and_its_file_rescanned(
    corpus: Path, baseline: str, tmp_path: Path
) -> None:
    out = tmp_path / "preds.csv"
    scan(corpus, out)
    store = store_path_for(out)
    files = stored_files(store)
    data = store.read_bytes()
    store.write_bytes(data[: len(data) - 40])  # the last line was being written when it crashed
    proc = scan(corpus, out)
    assert "dropped an incomplete last line" in proc.stderr
    assert f"{N_FILES - 1} of {N_FILES} files were already scanned" in proc.stderr
    assert out.read_text(encoding="utf-8") == baseline
    assert stored_files(store) == files  # the torn one rescanned, once, in its place at the end


def test_a_changed_file_is_rescanned_and_only_it(copy_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    scan(copy_corpus, out)
    first = dict(line.split(",") for line in out.read_text().splitlines()[1:])
    varied_clip(copy_corpus / "a" / "clip_03.mp4", seed=99)  # new content, size and mtime
    proc = scan(copy_corpus, out)
    assert f"{N_FILES - 1} of {N_FILES} files were already scanned" in proc.stderr
    assert stored_files(store_path_for(out))[N_FILES:] == ["a/clip_03.mp4"]
    second = dict(line.split(",") for line in out.read_text().splitlines()[1:])
    assert {k for k in first if first[k] != second[k]} == {"a/clip_03.mp4"}


@pytest.mark.slow
def test_other_settings_errors_and_fresh(corpus: Path, baseline: str, tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    store = store_path_for(out)
    scan(corpus, out)
    scan(corpus, out, "--retry-errors")  # the empty file again, nothing else
    assert stored_files(store)[N_FILES:] == ["broken.mp4"]
    proc = scan(corpus, out, "--frames", "5")  # another job: everything again, kept apart
    assert "already scanned" not in proc.stderr and len(store_lines(store)) == 2 * N_FILES + 1
    scan(corpus, out)  # back to the first settings: all stored
    assert (
        out.read_text(encoding="utf-8") == baseline and len(store_lines(store)) == 2 * N_FILES + 1
    )
    scan(corpus, out, "--fresh")
    assert len(store_lines(store)) == N_FILES and out.read_text(encoding="utf-8") == baseline


def test_report_thumbnails_come_back_from_the_store(corpus: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "preds.csv", tmp_path / "r.html"
    scan(corpus / "a", out, "--report", str(report))
    first = report.read_text(encoding="utf-8").count("<img")
    proc = scan(corpus / "a", out, "--report", str(report))
    assert "5 of 5 files were already scanned" in proc.stderr
    assert first >= 5 and report.read_text(encoding="utf-8").count("<img") == first


def test_scan_option_errors(corpus: Path) -> None:
    proc = run_cli("scan", corpus, "--workers", "0")
    assert proc.returncode == 2 and "--workers must be at least 1" in proc.stderr
    proc = run_cli("scan", corpus, "--workers", "2", "--cluster", "tcp://127.0.0.1:8786")
    assert proc.returncode == 2 and "do not go together" in proc.stderr
    proc = run_cli("scan", corpus, "--cluster", "nonsense")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "not a Dask scheduler address" in proc.stderr
