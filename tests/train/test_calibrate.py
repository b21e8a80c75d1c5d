"""Recalibration on held-out videos: the leave-one-out log loss, the shipped calibration's
log loss on the new videos, the refit written beside."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from unmask.calibration import CalibrationCfg, PlattCalibrator
from unmask.detectors import AggregationCfg, load_cfg
from unmask.eval.metrics import log_loss
from unmask.scanner import Scanner
from unmask.train.calibrate import leave_one_out_log_loss, recalibrate, video_logits

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "unmask" / "samples"


def _in_sample(x: np.ndarray, y: np.ndarray, clip: float) -> float:
    p = CalibrationCfg.from_calibrator(PlattCalibrator().fit(x, y), clip=clip).apply(x)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_leave_one_out_is_worse_than_in_sample_on_few_videos() -> None:
    rng = np.random.default_rng(0)
    y = np.array([0.0] * 10 + [1.0] * 10)
    x = rng.normal(0, 1, 20) + 3 * y
    loo = leave_one_out_log_loss(x, y, clip=0.02)
    assert _in_sample(x, y, 0.02) < loo < 0.3  # well-separated scores stay informative


def test_leave_one_out_approaches_in_sample_on_many_videos() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.5).astype(float)
    x = rng.normal(0, 1, 400) + 2 * y
    loo, fit = leave_one_out_log_loss(x, y, clip=0.01), _in_sample(x, y, 0.01)
    assert fit < loo < fit + 0.02


def test_uninformative_scores_lose_to_a_coin_flip() -> None:
    rng = np.random.default_rng(2)
    y = np.array([0.0, 1.0] * 15)
    x = rng.normal(0, 1, 30)
    assert leave_one_out_log_loss(x, y, clip=0.02) > np.log(2)


def test_recalibrate_reports_the_shipped_calibration_on_the_new_videos(tmp_path: Path) -> None:
    """log_loss_before_refit is what a user of the shipped detector gets on these videos;
    the refit is written to --out and leaves the shipped config alone."""
    part = tmp_path / "set" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    meta = {}
    for source, label in (("astronaut_pan.mp4", "REAL"), ("astronaut_swapped.mp4", "FAKE")):
        for copy in ("a", "b"):  # leave-one-out needs two videos of each class
            name = f"{copy}_{source}"
            shutil.copy(SAMPLES / source, part / name)
            meta[name] = {"label": label, "split": "train"}
    (part / "metadata.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    out.mkdir()
    result = recalibrate("spectrum", [tmp_path / "set"], out=out, rules=["mean"], clip=0.02)

    scanner = Scanner("spectrum", frames=32)
    p = [scanner.scan(part / name).p_fake for name in meta]
    y = [0 if m["label"] == "REAL" else 1 for m in meta.values()]
    assert result["log_loss_before_refit"] == pytest.approx(log_loss(y, p), abs=1e-5)
    refit = json.loads((out / "spectrum.json").read_text())
    assert refit["calibration"]["fitted_on"].startswith("4 held-out videos")
    assert load_cfg("spectrum").calibration.fitted_on != refit["calibration"]["fitted_on"]


def test_video_logits_take_the_most_suspicious_track() -> None:
    tracks = [[np.array([-2.0, -1.0]), np.array([1.0, 3.0])], [np.array([-4.0])]]
    assert video_logits(tracks, AggregationCfg("mean")).tolist() == [2.0, -4.0]
