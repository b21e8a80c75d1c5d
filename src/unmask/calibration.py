"""Calibrators that map a score (a logit) to an honest probability, scikit-learn style.

``__init__`` stores keyword arguments, ``fit`` validates and returns ``self``, learned
state ends in ``_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from unmask.aggregate import sigmoid
from unmask.errors import ConfigError, MetricInputError


def _check_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size == 0:
        raise MetricInputError(
            f"scores and labels must be non-empty and equally long; got {x.size} and {y.size}"
        )
    if not np.all(np.isfinite(x)):
        raise MetricInputError("scores contain NaN or inf")
    if set(np.unique(y)) - {0.0, 1.0}:
        raise MetricInputError("labels must be 0 (real) or 1 (fake)")
    if len(np.unique(y)) < 2:
        raise MetricInputError("calibration needs both real and fake examples; got one class only")
    return x, y


class PlattCalibrator:
    """p = sigmoid(a * x + b), fitted by Newton's method on the log loss (tiny L2 on a, b).

    >>> cal = PlattCalibrator().fit(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    >>> bool(cal.predict_proba(np.array([3.0]))[0] > 0.9)
    True
    """

    def __init__(self, *, l2: float = 1e-4, max_iter: int = 100) -> None:
        self.l2 = l2
        self.max_iter = max_iter

    def fit(self, x: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        x, y = _check_xy(x, y)
        # Platt's smoothed targets avoid infinite slopes on separable data.
        n_pos, n_neg = y.sum(), (1 - y).sum()
        t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        X = np.stack([x, np.ones_like(x)], 1)
        w = np.zeros(2)
        for _ in range(self.max_iter):
            p = sigmoid(X @ w)
            grad = X.T @ (p - t) + self.l2 * w
            hess = (X * (p * (1 - p))[:, None]).T @ X + self.l2 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.max(np.abs(step)) < 1e-10:
                break
        self.a_, self.b_ = float(w[0]), float(w[1])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.a_ * np.asarray(x, dtype=np.float64) + self.b_)


class TemperatureCalibrator:
    """p = sigmoid(x / T): one parameter, keeps the ranking and the 0.5 point."""

    def __init__(self, *, grid: np.ndarray | None = None) -> None:
        self.grid = grid

    def fit(self, x: np.ndarray, y: np.ndarray) -> TemperatureCalibrator:
        x, y = _check_xy(x, y)
        grid = (
            self.grid
            if self.grid is not None
            else np.exp(np.linspace(np.log(0.05), np.log(20), 400))
        )
        losses = []
        for temp in grid:
            p = np.clip(sigmoid(x / temp), 1e-15, 1 - 1e-15)
            losses.append(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        self.temperature_ = float(grid[int(np.argmin(losses))])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(x, dtype=np.float64) / self.temperature_)


@dataclass(frozen=True)
class CalibrationCfg:
    """How a detector's video logit becomes P(fake): ``p = sigmoid(a * logit + b)``.

    ``method`` records how (a, b) were fitted ("platt", "temperature" with b = 0, or
    "none" with a = 1, b = 0); ``clip`` bounds the reported probability away from 0 and 1 so
    that one confident mistake cannot cost more than -log(clip) in log loss.
    """

    method: str = "none"
    a: float = 1.0
    b: float = 0.0
    clip: float = 0.01
    fitted_on: str = ""

    def __post_init__(self) -> None:
        if self.method not in ("none", "platt", "temperature"):
            raise ConfigError(
                f"calibration.method must be none, platt or temperature; got {self.method!r}"
            )
        if not 0.0 <= self.clip < 0.5:
            raise ConfigError(f"calibration.clip must be in [0, 0.5); got {self.clip}")

    def apply(self, x: np.ndarray | float) -> np.ndarray:
        p = sigmoid(self.a * np.asarray(x, dtype=np.float64) + self.b)
        return np.clip(p, self.clip, 1 - self.clip)

    @classmethod
    def from_calibrator(
        cls, cal: Any, *, clip: float = 0.01, fitted_on: str = ""
    ) -> CalibrationCfg:
        if isinstance(cal, PlattCalibrator):
            return cls("platt", cal.a_, cal.b_, clip, fitted_on)
        if isinstance(cal, TemperatureCalibrator):
            return cls("temperature", 1.0 / cal.temperature_, 0.0, clip, fitted_on)
        raise TypeError(f"unknown calibrator {type(cal).__name__}")
