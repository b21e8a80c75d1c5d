"""A logistic-regression head on frozen CLIP features (see unmask.train.clip_head)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from unmask.detectors._base import Detector, DetectorCfg, read_cfg, verified_weights
from unmask.detectors._clip import (
    CLIP_SIZE,
    LEGACY_FEATURES,
    TowerDelta,
    check_features,
    check_size,
    clip_features,
    feature_size,
)
from unmask.errors import WeightsError
from unmask.faces import Faces


class ClipHeadDetector(Detector):
    """CLIP ViT-B/16 features -> standardise -> linear -> P(fake). The weights file names
    the features its coefficients read (a file without names reads LEGACY_FEATURES) and
    the tower's input size (without one, 224); the tower runs only as deep as they need.
    A head trained with some of the tower's parameters (``clip_head.tune_layers``) carries
    their new values (``tower_names``, ``tower_sizes``, ``tower_values``), which replace the
    tower's own (see TowerDelta)."""

    scores_each_crop = True

    def __init__(
        self, cfg: DetectorCfg, *, directory: Path | None = None, threads: int = 0
    ) -> None:
        super().__init__(cfg)
        path = verified_weights(cfg, directory)
        with np.load(path) as w:
            names = [str(n) for n in w["features"]] if "features" in w else LEGACY_FEATURES
            self.mu, self.sigma = w["mu"].astype(np.float64), w["sigma"].astype(np.float64)
            self.coef, self.intercept = w["coef"].astype(np.float64), float(w["intercept"])
            # the tower's input size (a head file without one was trained at 224)
            self.size = int(w["size"]) if "size" in w else CLIP_SIZE
            self.delta = read_delta(w, path) if "tower_names" in w else None
        self.features = tuple(names)
        check_features(self.features)
        check_size(self.size)
        if not self.mu.shape == self.sigma.shape == self.coef.shape == (feature_size(names),):
            raise WeightsError(
                f"{path}: expected {feature_size(names)} coefficients for the features "
                f"{list(names)}; got {self.coef.shape}. Re-export the head"
            )
        self.threads = threads
        # load the tower now: a missing install fails before any file is scanned
        clip_features(
            np.zeros((0, self.size, self.size, 3), np.uint8),
            threads=threads,
            features=names,
            size=self.size,
            delta=self.delta,
        )

    @classmethod
    def from_export(cls, cfg_path: Path) -> ClipHeadDetector:
        return cls(read_cfg(cfg_path), directory=cfg_path.parent)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        x = clip_features(
            crops, threads=self.threads, features=self.features, size=self.size, delta=self.delta
        )
        x = x.astype(np.float64)
        return ((x - self.mu) / self.sigma) @ self.coef + self.intercept

    def score(self, faces: Faces) -> np.ndarray:
        self._check_crops(faces)
        if not len(faces):
            return np.zeros(0, np.float32)
        return (1.0 / (1.0 + np.exp(-self.logits(faces.crops)))).astype(np.float32)


def delta_arrays(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A tower delta as the arrays a head file stores (read back by read_delta)."""
    names = sorted(values)
    return {
        "tower_names": np.array(names),
        "tower_sizes": np.array([values[n].size for n in names], np.int64),
        "tower_values": np.concatenate([values[n].ravel() for n in names]).astype(np.float32),
    }


def read_delta(w: Any, path: Path) -> TowerDelta:
    """The tower delta a head file stores (see delta_arrays); shapes are the tower's, so a
    vector of the wrong length fails when the tower is loaded."""
    names = [str(n) for n in w["tower_names"]]
    sizes, flat = w["tower_sizes"].astype(np.int64), w["tower_values"].astype(np.float32)
    if len(sizes) != len(names) or int(sizes.sum()) != len(flat):
        raise WeightsError(
            f"{path}: its tower delta names {len(names)} parameters of {int(sizes.sum())} values "
            f"in all but holds {len(flat)}; re-export the head"
        )
    ends = np.cumsum(sizes)
    return TowerDelta.of({n: flat[e - k : e] for n, k, e in zip(names, sizes, ends, strict=True)})
