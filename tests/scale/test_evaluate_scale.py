"""`unmask evaluate --detector` on worker processes, resumable through a results store."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_scan_cli import run_cli
from tests.scale.conftest import FRAMES, store_lines


def evaluate(corpus: Path, labels: Path, out: Path, *args: str) -> dict[str, object]:
    proc = run_cli(
        "evaluate", "--labels", labels, "--root", corpus, "--detector", "default",
        "--frames", FRAMES, "--n-boot", "0", "--json", out, *args,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary: dict[str, object] = json.loads(out.read_text())
    return summary


def test_evaluate_on_workers_matches_one_process_and_resumes(corpus: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    clips = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("clip_*.mp4"))
    labels.write_text(
        "path,label\n" + "".join(f"{c},{int(c.startswith('a/'))}\n" for c in clips),
        encoding="utf-8",
    )
    one = evaluate(corpus, labels, tmp_path / "one.json")
    store = tmp_path / "scans.jsonl"
    two = evaluate(corpus, labels, tmp_path / "two.json", "--workers", "2", "--store", str(store))
    assert {k: two[k] for k in ("n", "log_loss", "auc")} == {
        k: one[k] for k in ("n", "log_loss", "auc")
    }
    assert len(store_lines(store)) == len(clips)
    again = evaluate(corpus, labels, tmp_path / "3.json", "--workers", "2", "--store", str(store))
    assert len(store_lines(store)) == len(clips)  # all read back, nothing scanned again
    assert again["log_loss"] == one["log_loss"]
    proc = run_cli("evaluate", "--labels", labels, "--predictions", labels, "--workers", "2")
    assert proc.returncode == 1 and "need --detector" in proc.stderr
