"""Recalibration on held-out videos: the leave-one-out log loss, the shipped calibration's
log loss on the new videos, the refit written beside."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from unmask.calibration import CalibrationCfg, PlattCalibrator
from unmask.detectors import AggregationCfg, DetectorCfg, load_cfg
from unmask.eval.metrics import log_loss
from unmask.scanner import Scanner
from unmask.train.calibrate import (
    leave_one_out_log_loss,
    recalibrate,
    scan_key,
    video_logits,
)

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


def _labelled_set(folder: Path, copies: tuple[str, ...] = ("a", "b")) -> dict[str, dict[str, str]]:
    """A DFDC-style set of copies of the real and the face-swapped sample clip."""
    part = folder / "dfdc_train_part_0"
    part.mkdir(parents=True)
    meta = {}
    for source, label in (("astronaut_pan.mp4", "REAL"), ("astronaut_swapped.mp4", "FAKE")):
        for copy in copies:
            name = f"{copy}_{source}"
            shutil.copy(SAMPLES / source, part / name)
            meta[name] = {"label": label, "split": "train"}
    (part / "metadata.json").write_text(json.dumps(meta))
    return meta


def test_recalibrate_reports_the_shipped_calibration_on_the_new_videos(tmp_path: Path) -> None:
    """log_loss_before_refit is what a user of the shipped detector gets on these videos;
    the refit is written to --out and leaves the shipped config alone."""
    meta = _labelled_set(tmp_path / "set")  # leave-one-out needs two videos of each class
    part = tmp_path / "set" / "dfdc_train_part_0"
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


def test_a_check_set_scores_the_refit_and_the_cache_spares_rescans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unmask.train.calibrate as calibrate
    from unmask.eval.metrics import expected_calibration_error, roc_auc

    _labelled_set(tmp_path / "fit")
    _labelled_set(tmp_path / "check", copies=("c",))
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    result = recalibrate(
        "spectrum", [tmp_path / "fit"], out=out, rules=["mean"], clip=0.02,
        check=[tmp_path / "check"], cache=cache,
    )  # fmt: skip
    (stored,) = cache.glob("spectrum-*-32f.json")
    assert len(json.loads(stored.read_text())) == 6  # 4 fitted on, 2 checked
    # the check set's numbers are the refit's, on videos it was not fitted on
    refit = DetectorCfg.from_dict(json.loads((out / "spectrum.json").read_text()))
    scanner = Scanner(refit.name, frames=32)
    scanner.detector.cfg = refit
    check = tmp_path / "check" / "dfdc_train_part_0"
    p = np.array(
        [
            scanner.scan(check / f"c_{n}").p_fake
            for n in ("astronaut_pan.mp4", "astronaut_swapped.mp4")
        ]
    )
    y = np.array([0, 1])
    assert result["check"] == {
        "videos": 2,
        "auc": pytest.approx(roc_auc(y, p), abs=1e-5),
        "log_loss": pytest.approx(log_loss(y, p), abs=1e-4),
        "ece": pytest.approx(expected_calibration_error(y, p), abs=1e-4),
        "log_loss_before_refit": pytest.approx(result["check"]["log_loss_before_refit"]),
    }

    # a second fit on the same videos scans nothing: every video comes from the cache
    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("scanned a cached video")

    monkeypatch.setattr(calibrate.Scanner, "scan", no_scan)
    again = recalibrate(
        "spectrum", [tmp_path / "check", tmp_path / "fit"], out=out, rules=["mean"],
        clip=0.02, cache=cache,
    )  # fmt: skip
    assert again["calibration"]["fitted_on"].startswith("6 held-out videos")


def test_a_set_of_one_class_names_itself(tmp_path: Path) -> None:
    from unmask.errors import DatasetError

    part = tmp_path / "reals" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    shutil.copy(SAMPLES / "astronaut_pan.mp4", part / "a.mp4")
    (part / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "REAL", "split": "train"}}))
    with pytest.raises(DatasetError, match=r"reals: calibration needs both real and fake videos"):
        recalibrate("spectrum", [tmp_path / "reals"], out=tmp_path, rules=["mean"], clip=0.02)


def test_the_scan_cache_is_per_scoring_config_not_per_calibration() -> None:
    cfg = load_cfg("clip_fast")
    key = scan_key(cfg)
    assert len(key) == 12 and scan_key(load_cfg("clip_fast")) == key
    # what changes a face logit changes the key ...
    for change in (
        {"test_time_flip": True},
        {"max_faces_per_track": 8},
        {"margin": 0.3},
        {"sha256": "0" * 64},
    ):
        assert scan_key(dataclasses.replace(cfg, **change)) != key, change
    # ... what only turns face logits into a video probability does not
    refit = dataclasses.replace(cfg, calibration=CalibrationCfg(method="platt", a=2.0, b=0.1))
    assert scan_key(refit) == key
