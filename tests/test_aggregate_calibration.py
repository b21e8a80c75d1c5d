from __future__ import annotations

import numpy as np
import pytest

from unmask.aggregate import aggregate_track, logit, sigmoid, video_logit
from unmask.calibration import CalibrationCfg, PlattCalibrator, TemperatureCalibrator
from unmask.errors import ConfigError, MetricInputError, UnknownNameError


def test_rules() -> None:
    x = np.array([-3.0, -1.0, 0.0, 2.0])
    assert aggregate_track(x, "mean") == pytest.approx(-0.5)
    assert aggregate_track(x, "topk_mean", k_frac=0.5) == pytest.approx(1.0)
    assert aggregate_track(x, "median") == pytest.approx(-0.5)


def test_confident_rule_follows_the_confident_faces() -> None:
    confident_fake = np.r_[np.full(20, logit(0.95)), np.full(12, logit(0.3))]
    assert sigmoid(aggregate_track(confident_fake, "confident")) == pytest.approx(0.95)
    mostly_real = np.r_[np.full(31, logit(0.05)), [logit(0.6)]]
    assert sigmoid(aggregate_track(mostly_real, "confident")) == pytest.approx(0.05)


def test_unknown_rule_and_empty_track() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'mean'"):
        aggregate_track(np.zeros(2), "meen")
    with pytest.raises(ValueError, match="empty"):
        aggregate_track(np.zeros(0))


def test_one_fake_face_makes_the_video_fake() -> None:
    assert video_logit(np.array([-4.0, 3.0, -2.0])) == 3.0


def test_platt_recovers_a_known_mapping() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, 20000)
    y = (rng.random(20000) < sigmoid(0.5 * x - 1.0)).astype(float)
    cal = PlattCalibrator().fit(x, y)
    assert cal.a_ == pytest.approx(0.5, abs=0.05) and cal.b_ == pytest.approx(-1.0, abs=0.08)


def test_temperature_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, 20000)
    y = (rng.random(20000) < sigmoid(x / 2.0)).astype(float)
    assert TemperatureCalibrator().fit(x, y).temperature_ == pytest.approx(2.0, rel=0.1)


def test_calibration_input_errors() -> None:
    with pytest.raises(MetricInputError, match="one class"):
        PlattCalibrator().fit(np.array([1.0, 2.0]), np.array([1, 1]))
    with pytest.raises(MetricInputError, match="NaN"):
        PlattCalibrator().fit(np.array([np.nan, 2.0]), np.array([0, 1]))


def test_cfg_apply_clips_and_validates() -> None:
    cfg = CalibrationCfg("platt", a=10.0, b=0.0, clip=0.02)
    assert cfg.apply(100.0) == pytest.approx(0.98) and cfg.apply(-100.0) == pytest.approx(0.02)
    cal = PlattCalibrator().fit(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    assert CalibrationCfg.from_calibrator(cal).method == "platt"
    with pytest.raises(ConfigError, match="method"):
        CalibrationCfg("isotonic")


def test_evenly_spaced_keeps_the_ends_and_at_most_the_limit() -> None:
    from unmask.aggregate import evenly_spaced

    np.testing.assert_array_equal(evenly_spaced(32, 4), [0, 10, 21, 31])
    np.testing.assert_array_equal(evenly_spaced(3, 8), [0, 1, 2])  # fewer than the limit
    np.testing.assert_array_equal(evenly_spaced(5, None), np.arange(5))
    np.testing.assert_array_equal(evenly_spaced(1, 1), [0])
    assert len(evenly_spaced(0, 4)) == 0
    for count in range(1, 40):
        for limit in range(1, 12):
            idx = evenly_spaced(count, limit)
            assert len(idx) == min(count, limit) and np.all(np.diff(idx) > 0)
            assert idx[-1] == (count - 1 if limit > 1 else 0)
