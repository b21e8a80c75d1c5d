"""The HTML report: one self-contained file, escaped names, every figure present and drawn."""

from __future__ import annotations

import base64
import csv
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.eval.ffpp_tree import scores_for, write_csv
from unmask.eval.datasets import read_dataset
from unmask.eval.evaluate import (
    EvalSettings,
    Evaluation,
    evaluate,
    match_predictions,
    read_predictions,
)
from unmask.eval.report import FIGURES, render_report, write_report

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"')
NASTY = '<script>alert("x")</script>&amp;.mp4'


def make_eval(root: Path, rows, tmp_path: Path, **settings) -> Evaluation:
    preds = write_csv(tmp_path / "preds.csv", scores_for(rows))
    matched = match_predictions(read_dataset(root), read_predictions(preds))
    return evaluate(
        matched, settings=EvalSettings(n_boot=100, **settings), inputs={"labels": [str(root)]}
    )


def test_report_is_self_contained_with_every_figure(ffpp, tmp_path):
    root, rows = ffpp
    page = render_report(make_eval(root, rows, tmp_path), title="FF++ <test>")
    images = IMG.findall(page)
    assert [alt for _, alt in images] == list(FIGURES)
    for data, _ in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    for forbidden in ("http://", "https://", "<script", "<link", 'src="/', "url("):
        assert forbidden not in page
    assert "<title>FF++ &lt;test&gt;</title>" in page
    for heading in ("Headline (video level)", "Per method (video level)", "Worst-scored files"):
        assert heading in page
    assert "95% CI" in page
    assert "Deepfakes" in page


def test_file_names_are_escaped(tmp_path):
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as f:
        csv.writer(f).writerows(
            [
                ["path", "label", "method"],
                [NASTY, 1, "<b>m</b>"],
                ["ok.mp4", 0, ""],
                ["x.mp4", 1, "swap"],
            ]
        )
    preds = tmp_path / "preds.csv"
    with preds.open("w", newline="") as f:
        csv.writer(f).writerows(
            [["filename", "label"], [NASTY, 0.01], ["ok.mp4", 0.2], ["x.mp4", 0.7]]
        )
    ev = evaluate(
        match_predictions(read_dataset(labels), read_predictions(preds)),
        settings=EvalSettings(n_boot=0),
    )
    page = render_report(ev)
    assert "<script" not in page
    assert "<b>m</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;.mp4" in page
    assert "&lt;b&gt;m&lt;/b&gt;" in page


def test_frame_level_and_scan_sections(ffpp, tmp_path):
    root, rows = ffpp
    lines = ["filename,frame,label"]
    for file, label, _ in rows:
        lines += [f"{file},{k},{0.2 + 0.5 * label + 0.05 * k}" for k in range(3)]
    (tmp_path / "frames.csv").write_text("\n".join(lines))
    matched = match_predictions(read_dataset(root), read_predictions(tmp_path / "frames.csv"))
    page = render_report(evaluate(matched, settings=EvalSettings(n_boot=0)))
    assert "Frame-level ROC curve" in page
    assert "36 frames of 12 videos" in page


def test_one_class_report_still_renders(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("filename,label\na.mp4,1\nb.mp4,1\n")
    preds = tmp_path / "p.csv"
    preds.write_text("filename,label\na.mp4,0.9\nb.mp4,0.3\n")
    page = render_report(evaluate(match_predictions(read_dataset(labels), read_predictions(preds))))
    assert [alt for _, alt in IMG.findall(page)] == ["Reliability diagram", "Score histograms"]
    assert "ROC and PR curves need both REAL and FAKE files" in page


def test_write_report_is_atomic_utf8(ffpp, tmp_path):
    root, rows = ffpp
    out = tmp_path / "out" / "report.html"
    write_report(make_eval(root, rows, tmp_path), out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHECK = """<script>
addEventListener("load", () => {
  const ok = [...document.images].filter(i => i.complete && i.naturalWidth > 0).map(i => i.alt);
  document.body.setAttribute("data-drawn", ok.join("|"));
});
</script>"""


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={cwd / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=90, cwd=cwd
    )


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_headless_chromium(ffpp, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    root, rows = ffpp
    report = tmp_path / "report.html"
    write_report(make_eval(root, rows, tmp_path), report)
    # a copy with a load check: which images the browser decoded and laid out
    probe = tmp_path / "probe.html"
    probe.write_text(
        report.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8"
    )
    dom = _chromium("--dump-dom", probe.as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    drawn = re.search(r'data-drawn="([^"]*)"', dom.stdout)
    assert drawn is not None, dom.stdout[-2000:]
    assert drawn.group(1).split("|") == list(FIGURES)
    # and the unmodified report, as a screenshot: the plots' colours are on the page
    shot = tmp_path / "shot.png"
    run = _chromium(
        f"--screenshot={shot}", "--window-size=1200,2400", report.as_uri(), cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    blue = np.sum(np.abs(pixels - [31, 119, 180]).sum(axis=1) < 30)  # matplotlib's tab:blue
    assert blue > 500
