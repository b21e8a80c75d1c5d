"""A logistic-regression head on frozen CLIP features (see unmask.train.clip_head)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unmask.detectors._base import Detector, DetectorCfg, read_cfg, verified_weights
from unmask.detectors._clip import clip_features, clip_session
from unmask.faces import Faces


class ClipHeadDetector(Detector):
    """CLIP ViT-B/16 features -> standardise -> linear -> P(fake)."""

    scores_each_crop = True

    def __init__(
        self, cfg: DetectorCfg, *, directory: Path | None = None, threads: int = 0
    ) -> None:
        super().__init__(cfg)
        with np.load(verified_weights(cfg, directory)) as w:
            self.mu, self.sigma = w["mu"].astype(np.float64), w["sigma"].astype(np.float64)
            self.coef, self.intercept = w["coef"].astype(np.float64), float(w["intercept"])
        self.threads = threads
        clip_session(threads)  # load the tower now: a missing install fails before any scan

    @classmethod
    def from_export(cls, cfg_path: Path) -> ClipHeadDetector:
        return cls(read_cfg(cfg_path), directory=cfg_path.parent)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        x = clip_features(crops, threads=self.threads).astype(np.float64)
        return ((x - self.mu) / self.sigma) @ self.coef + self.intercept

    def score(self, faces: Faces) -> np.ndarray:
        self._check_crops(faces)
        if not len(faces):
            return np.zeros(0, np.float32)
        return (1.0 / (1.0 + np.exp(-self.logits(faces.crops)))).astype(np.float32)
