"""Frequency-spectrum baseline (Durall et al., CVPR 2020): azimuthally averaged log power
spectrum of the grey face crop, then logistic regression. Pure numpy; tiny weights.

Trained by ``python -m unmask.train.spectrum`` (see weights/spectrum.md).
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from unmask.detectors._base import Detector, DetectorCfg, load_cfg, verified_weights
from unmask.detectors._registry import register_detector
from unmask.faces import Faces


@cache
def _radial_index(size: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.indices((size, size))
    r = np.hypot(yy - size / 2, xx - size / 2) / (size / 2)  # 0 at DC, 1 at Nyquist on the axes
    bins = np.minimum((r * n_bins).astype(np.int64), n_bins)  # corners (r > 1) go to an extra bin
    counts = np.bincount(bins.ravel(), minlength=n_bins + 1)
    return bins.ravel(), counts


def spectrum_features(crops: np.ndarray, *, size: int = 128, n_bins: int = 64) -> np.ndarray:
    """(n, n_bins) azimuthal averages of the centred log power spectrum, mean removed.

    >>> spectrum_features(np.zeros((2, 64, 64, 3), np.uint8), size=64, n_bins=16).shape
    (2, 16)
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise ValueError(f"crops must have shape (n, H, W, 3); got {crops.shape}")
    bins, counts = _radial_index(size, n_bins)
    out = np.empty((len(crops), n_bins), np.float32)
    for i, crop in enumerate(crops):
        gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
        if gray.shape != (size, size):
            gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
        g = gray.astype(np.float32)
        g -= g.mean()
        power = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
        logp = np.log(power + 1e-3).ravel()
        radial = np.bincount(bins, weights=logp, minlength=n_bins + 1) / np.maximum(counts, 1)
        feat = radial[:n_bins]
        out[i] = feat - feat.mean()
    return out


class SpectrumDetector(Detector):
    """Logistic regression on spectrum features; weights are mean/scale/coef/intercept."""

    scores_each_crop = True

    def __init__(self, cfg: DetectorCfg) -> None:
        super().__init__(cfg)
        with np.load(verified_weights(cfg)) as w:
            self.mu = w["mu"].astype(np.float64)
            self.sigma = w["sigma"].astype(np.float64)
            self.coef = w["coef"].astype(np.float64)
            self.intercept = float(w["intercept"])
        self.n_bins = int(cfg.extra["n_bins"])

    def score(self, faces: Faces) -> np.ndarray:
        self._check_crops(faces)
        if not len(faces):
            return np.zeros(0, np.float32)
        x = spectrum_features(faces.crops, size=self.cfg.input_size, n_bins=self.n_bins)
        z = (x - self.mu) / self.sigma @ self.coef + self.intercept
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


@register_detector("spectrum")
def spectrum(*, threads: int = 0) -> SpectrumDetector:
    del threads  # numpy only
    return SpectrumDetector(load_cfg("spectrum"))
