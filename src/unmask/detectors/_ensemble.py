"""Ensembles: a weighted sum of member logits on the same crops, with its own aggregation
and calibration (fitted by ``python -m unmask.train.ensemble``)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from unmask.detectors._base import Detector, DetectorCfg
from unmask.errors import ConfigError
from unmask.faces import Faces


def downscaled(crops: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size, 3) crops: ``crops`` as they are when already that size, else each
    resized with area interpolation."""
    if crops.shape[1:3] == (size, size):
        return crops
    out = np.empty((len(crops), size, size, crops.shape[3]), crops.dtype)
    for k, crop in enumerate(crops):
        out[k] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out


class EnsembleDetector(Detector):
    """logit = bias + sum_i weight_i * logit_i over member detectors that share the
    ensemble's margin and alignment. The ensemble crops at its own input size, which no
    member's may exceed; a member that takes smaller crops gets them downscaled (area
    interpolation), which is how the scanner would have cut them at that size, up to
    resampling."""

    def __init__(self, cfg: DetectorCfg, members: Sequence[Detector]) -> None:
        super().__init__(cfg)
        weights = cfg.extra.get("weights")
        names = cfg.extra.get("members")
        if (
            not isinstance(weights, list)
            or not isinstance(names, list)
            or len(weights) != len(members)
        ):
            raise ConfigError(
                f"{cfg.name}: extra.members and extra.weights must list one weight per member"
            )
        for m in members:
            crop = (m.cfg.margin, m.cfg.align)
            if crop != (cfg.margin, cfg.align) or m.cfg.input_size > cfg.input_size:
                raise ConfigError(
                    f"{cfg.name}: member {m.name} crops {m.cfg.input_size} px with margin and "
                    f"alignment {crop}, the ensemble {cfg.input_size} px with {(cfg.margin, cfg.align)}; "
                    "members must share margin and alignment and take crops no larger than the ensemble's"
                )
        self.members = list(members)
        self.scores_each_crop = all(m.scores_each_crop for m in self.members)
        self.weights = np.asarray(weights, np.float64)
        self.bias = float(cfg.extra.get("bias", 0.0))

    def logits(self, crops: np.ndarray) -> np.ndarray:
        stacked = np.stack(
            [m.logits(downscaled(crops, m.cfg.input_size)) for m in self.members], axis=1
        )
        return stacked @ self.weights + self.bias

    def with_threads(self, threads: int) -> EnsembleDetector | None:
        """The ensemble of its members' ``with_threads`` (they run one after another);
        None when a member cannot."""
        wide = [m.with_threads(threads) for m in self.members]
        if any(m is None for m in wide):
            return None
        return type(self)(self.cfg, [m for m in wide if m is not None])

    def heatmaps(self, crops: np.ndarray) -> np.ndarray | None:
        """The weighted sum of the members' maps, each resized to the finest member grid
        (bilinear, which keeps a map's mean up to resampling); members without a map, and
        the bias, are terms of the whole face. None when no member has one."""
        maps = [
            (w, m.heatmaps(downscaled(crops, m.cfg.input_size)))
            for w, m in zip(self.weights, self.members, strict=True)
        ]
        present = [(w, h) for w, h in maps if h is not None]
        if not present:
            return None
        rows = max(h.shape[1] for _, h in present)
        cols = max(h.shape[2] for _, h in present)
        out = np.zeros((len(crops), rows, cols), np.float64)
        for w, h in present:
            for k, cell in enumerate(h):
                out[k] += w * cv2.resize(cell, (cols, rows), interpolation=cv2.INTER_LINEAR)
        return out.astype(np.float32)

    def score(self, faces: Faces) -> np.ndarray:
        self._check_crops(faces)
        if not len(faces):
            return np.zeros(0, np.float32)
        return (1.0 / (1.0 + np.exp(-self.logits(faces.crops)))).astype(np.float32)
