"""Matching predictions to labels, summaries with breakdowns, frame vs video level, scanning."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn import metrics as skm

from tests.eval.ffpp_tree import scores_for, write_csv
from unmask.errors import ConfigError, DatasetError, InvalidSubmissionError, UnknownNameError
from unmask.eval import metrics as M
from unmask.eval.datasets import read_dataset
from unmask.eval.evaluate import (
    EvalSettings,
    ScanOutcome,
    evaluate,
    frame_scores,
    match_predictions,
    matched_from_scans,
    read_predictions,
    scan_items,
    submission_csv,
)
from unmask.eval.submission import parse_predictions


def parsed(scores: dict[str, float]) -> object:
    text = "filename,label\n" + "".join(f"{f},{p}\n" for f, p in scores.items())
    return parse_predictions(text.encode())


def test_summary_matches_sklearn_and_breaks_down_by_method(ffpp, tmp_path):
    root, rows = ffpp
    scores = scores_for(rows)
    items = read_dataset(root)
    matched = match_predictions(items, read_predictions(write_csv(tmp_path / "p.csv", scores)))
    result = evaluate(matched, settings=EvalSettings(n_boot=200))
    s = result.summary
    y = np.array([label for _, label, _ in rows])
    p = np.array([scores[f] for f, _, _ in rows])
    assert s["level"] == "video"
    assert (s["n"], s["n_fake"], s["n_real"]) == (12, 6, 6)
    assert s["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert s["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert s["ap"] == pytest.approx(skm.average_precision_score(y, p))
    for key in ("log_loss", "auc", "ap", "eer", "accuracy", "ece"):
        low, high = s["ci"][key]
        assert low <= s[key] <= high or key in ("eer", "ece")
    assert set(s["by_method"]) == {"real", "Deepfakes", "FaceSwap"}
    df = s["by_method"]["Deepfakes"]
    mask = np.array([m in ("Deepfakes", "real") for _, _, m in rows])
    assert (df["n"], df["n_fake"], df["n_real"]) == (9, 3, 6)
    assert df["auc"] == pytest.approx(skm.roc_auc_score(y[mask], p[mask]))
    assert s["by_method"]["real"]["auc"] is None
    assert set(s["by_perturbation"]) == {"c23"}
    assert set(s["by_dataset"]) == {"ffpp"}
    assert s["by_split"] == {}
    assert s["frame_level"] is None
    worst = s["worst"]
    assert worst[0]["log_loss"] >= worst[-1]["log_loss"]
    assert {"file", "label", "p_fake", "log_loss", "method"} <= set(worst[0])
    assert s["settings"]["eps"] == 1e-15
    assert s["inputs"]["n_missing"] == 0


def test_unknown_missing_and_allow_missing(ffpp):
    root, rows = ffpp
    items = read_dataset(root)
    scores = scores_for(rows)
    extra = dict(scores, **{"elsewhere/x.mp4": 0.5})
    with pytest.raises(
        InvalidSubmissionError, match=r"line 14: unknown filename 'elsewhere/x.mp4'"
    ):
        match_predictions(items, parsed(extra))
    partial = dict(list(scores.items())[:-2])
    with pytest.raises(
        InvalidSubmissionError, match=r"missing 2 of 12 labelled files.*--allow-missing"
    ):
        match_predictions(items, parsed(partial))
    matched = match_predictions(items, parsed(partial), allow_missing=True)
    assert len(matched.items) == 10
    assert matched.n_missing == 2
    assert evaluate(matched, settings=EvalSettings(n_boot=0)).summary["inputs"]["n_missing"] == 2


def test_match_by_basename(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("filename,label\npublic/a.mp4,1\nprivate/b.mp4,0\n")
    items = read_dataset(csv)
    preds = parsed({"a.mp4": 0.9, "b.mp4": 0.2})
    with pytest.raises(InvalidSubmissionError) as info:
        match_predictions(items, preds)
    assert info.value.problems[0] == (
        "predictions: every unknown filename names a labelled file: pass --match basename"
    )
    assert "(the label set has 'public/a.mp4')" in info.value.problems[1]
    matched = match_predictions(items, preds, match="basename")
    assert matched.p_fake.tolist() == [0.9, 0.2]


def test_basename_needs_unique_names(ffpp):
    root, rows = ffpp
    with pytest.raises(DatasetError, match="--match basename needs unique file names"):
        match_predictions(read_dataset(root), parsed(scores_for(rows)), match="basename")


def test_excluded_split_predictions_are_ignored(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text(
        "filename,label,split\npublic/a.mp4,1,public\npublic/c.mp4,0,public\nprivate/b.mp4,0,private\n"
    )
    items = read_dataset(csv)
    public = [it for it in items if it.split == "public"]
    private = [it for it in items if it.split != "public"]
    preds = parsed({"public/a.mp4": 0.9, "public/c.mp4": 0.1, "private/b.mp4": 0.2})
    matched = match_predictions(public, preds, excluded=private)
    assert (len(matched.items), matched.n_ignored) == (2, 1)


def test_frame_level_is_separate_from_video_level(ffpp, tmp_path):
    root, rows = ffpp
    rng = np.random.default_rng(1)
    lines = ["filename,frame,label"]
    frame_y, frame_p, per_video = [], [], {}
    for file, label, _ in rows:
        for frame in (0, 10, 20):
            p = float(np.clip(0.3 + 0.4 * label + rng.normal(0, 0.3), 0, 1).round(3))
            lines.append(f"{file},{frame},{p}")
            frame_y.append(label)
            frame_p.append(p)
            per_video.setdefault(file, []).append(p)
    path = tmp_path / "frames.csv"
    path.write_text("\n".join(lines) + "\n")
    items = read_dataset(root)
    for rule, fn in (("mean", np.mean), ("max", np.max)):
        matched = match_predictions(items, read_predictions(path), video_rule=rule)
        s = evaluate(matched, settings=EvalSettings(n_boot=0)).summary
        frame = s["frame_level"]
        assert frame["level"] == "frame"
        assert (frame["n"], frame["n_videos"], frame["video_rule"]) == (36, 12, rule)
        assert frame["auc"] == pytest.approx(skm.roc_auc_score(frame_y, frame_p))
        video_p = [fn(per_video[it.file]) for it in matched.items]
        assert s["level"] == "video"
        assert s["n"] == 12
        assert s["auc"] == pytest.approx(
            skm.roc_auc_score([it.label for it in matched.items], video_p)
        )
        assert s["settings"]["video_rule"] == rule


def test_read_predictions_errors(tmp_path):
    with pytest.raises(InvalidSubmissionError, match="not found; expected a CSV filename,label"):
        read_predictions(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidSubmissionError, match=r"empty\.csv: empty file"):
        read_predictions(empty)


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="prevalence is out of range"):
        EvalSettings(prevalence=0.0)
    with pytest.raises(UnknownNameError, match="unknown video rule 'avg'"):
        match_predictions(
            [],
            parse_predictions(b"filename,frame,label\na,0,0.5\n", allow_frames=True),
            video_rule="avg",
            allow_missing=True,
        )


@dataclass
class FakeResult:
    p_fake: float
    status: str
    error: str | None = None
    tracks: list = field(default_factory=list)


def tracks_of(*faces: tuple[int, float]) -> list:
    """One track holding faces (video frame, P(FAKE)), shaped like ScanResult.tracks."""
    return [SimpleNamespace(faces=[SimpleNamespace(video_frame=f, p_fake=p) for f, p in faces])]


class FakeScanner:
    """Scores by file name: fakes (named A_B) high, reals low, one unreadable."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def scan(self, path: str) -> FakeResult:
        self.paths.append(path)
        if path.endswith("105.mp4"):
            return FakeResult(0.5, "error", "cannot read video: moov atom not found")
        p = 0.8 if "_" in path.rsplit("/", 1)[-1] else 0.3
        # frame evidence: one frame on the wrong side for every file
        return FakeResult(p, "ok", tracks=tracks_of((0, p), (16, 1 - p), (31, p)))


def test_scan_items_with_an_injected_scanner(ffpp):
    root, _ = ffpp
    items = read_dataset(root)
    scanner = FakeScanner()
    outcomes = scan_items(items, scanner=scanner, progress_enabled=False)
    assert scanner.paths == [str(root / it.file) for it in items]
    result = evaluate(
        matched_from_scans(items, outcomes), settings=EvalSettings(n_boot=0), statuses=outcomes
    )
    s = result.summary
    assert s["scan"]["statuses"] == {"ok": 11, "error": 1}
    assert s["scan"]["errors"][0]["error"] == "cannot read video: moov atom not found"
    assert s["auc"] == 1.0
    assert s["worst"][0]["status"] in ("ok", "error")
    frame = s["frame_level"]  # 11 readable files x 3 frames, one frame in three misjudged
    assert (frame["level"], frame["n"], frame["n_videos"], frame["video_rule"]) == (
        "frame",
        33,
        11,
        "scanner",
    )
    assert frame["accuracy"] == pytest.approx(2 / 3)
    assert s["settings"]["video_rule"] == "scanner"


def test_frame_scores_take_the_highest_face_per_frame():
    tracks = tracks_of((3, 0.1), (7, 0.9)) + tracks_of((3, 0.6))
    assert frame_scores(tracks) == ((3, 0.6), (7, 0.9))
    assert frame_scores([]) == ()


def test_submission_csv_round_trips(ffpp):
    root, _ = ffpp
    items = read_dataset(root)[:2]
    text = submission_csv(items, [ScanOutcome(0.25, "ok"), ScanOutcome(0.5, "no_face")])
    assert text.splitlines() == [
        "filename,label",
        f"{items[0].file},0.250000",
        f"{items[1].file},0.500000",
    ]


def test_scan_items_uses_unmask_scanner_by_default(ffpp, monkeypatch):
    import sys
    import types

    made = {}

    class Scanner(FakeScanner):
        def __init__(self, detector: str, frames: int) -> None:
            super().__init__()
            made.update(detector=detector, frames=frames)

    monkeypatch.setitem(sys.modules, "unmask.scanner", types.SimpleNamespace(Scanner=Scanner))
    root, _ = ffpp
    outcomes = scan_items(read_dataset(root), detector="spectrum", frames=8, progress_enabled=False)
    assert made == {"detector": "spectrum", "frames": 8}
    assert len(outcomes) == 12


def test_scanner_out_of_range_is_an_error(ffpp):
    class Broken:
        def scan(self, path: str) -> FakeResult:
            return FakeResult(float("nan"), "ok")

    root, _ = ffpp
    with pytest.raises(Exception, match="expected \\[0, 1\\]"):
        scan_items(read_dataset(root), scanner=Broken(), progress_enabled=False)


def test_one_class_evaluation_has_no_ranking_metrics(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("filename,label\na.mp4,1\nb.mp4,1\n")
    matched = match_predictions(read_dataset(csv), parsed({"a.mp4": 0.9, "b.mp4": 0.4}))
    s = evaluate(matched, settings=EvalSettings(n_boot=50)).summary
    assert s["auc"] is None
    assert s["ci"]["auc"] is None
    assert s["log_loss"] == pytest.approx(M.log_loss([1, 1], [0.9, 0.4]))
