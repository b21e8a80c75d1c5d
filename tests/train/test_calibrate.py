"""Recalibration on held-out videos: the leave-one-out log loss."""

from __future__ import annotations

import numpy as np

from unmask.calibration import CalibrationCfg, PlattCalibrator
from unmask.train.calibrate import leave_one_out_log_loss


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
