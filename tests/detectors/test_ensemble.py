"""Stacked ensembles: members' logits weighted on the same faces, and members that take
smaller crops than the ensemble (a CLIP tower run at 128 pixels beside a 224-pixel
network) get the ensemble's crops downscaled."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from unmask.detectors import DetectorCfg, create_detector
from unmask.detectors._base import Detector
from unmask.detectors._ensemble import EnsembleDetector, downscaled
from unmask.errors import ConfigError
from unmask.faces import Faces


class _MeanBrightness(Detector):
    """A stand-in member whose logit is a crop's mean brightness, recording the crop sizes
    it was given."""

    scores_each_crop = True

    def __init__(self, cfg: DetectorCfg) -> None:
        super().__init__(cfg)
        self.seen: list[tuple[int, ...]] = []

    def logits(self, crops: np.ndarray) -> np.ndarray:
        self.seen.append(crops.shape[1:3])
        return crops.reshape(len(crops), -1).mean(axis=1) / 255.0 - 0.5

    def score(self, faces: Faces) -> np.ndarray:
        return (1 / (1 + np.exp(-self.logits(faces.crops)))).astype(np.float32)


def _cfg(name: str, size: int, **extra: object) -> DetectorCfg:
    base = create_detector("spectrum").cfg
    return dataclasses.replace(base, name=name, input_size=size, extra=dict(extra))


def test_a_member_with_smaller_crops_gets_them_downscaled() -> None:
    big, small = _MeanBrightness(_cfg("big", 224)), _MeanBrightness(_cfg("small", 128))
    cfg = _cfg("pair", 224, members=["big", "small"], weights=[0.5, 2.0], bias=-0.25)
    ensemble = EnsembleDetector(cfg, [big, small])
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    got = ensemble.logits(crops)
    assert big.seen == [(224, 224)] and small.seen == [(128, 128)]
    resized = np.stack([cv2.resize(c, (128, 128), interpolation=cv2.INTER_AREA) for c in crops])
    want = 0.5 * big.logits(crops) + 2.0 * small.logits(resized) - 0.25
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert downscaled(crops, 224) is crops  # the right size already: no copy
    assert ensemble.scores_each_crop


def test_members_must_share_margin_and_not_take_larger_crops() -> None:
    cfg = _cfg("pair", 128, members=["a", "b"], weights=[1.0, 1.0])
    with pytest.raises(ConfigError, match="member big crops 224 px"):
        EnsembleDetector(cfg, [_MeanBrightness(_cfg("a", 128)), _MeanBrightness(_cfg("big", 224))])
    other_margin = dataclasses.replace(_cfg("m", 128), margin=0.5)
    with pytest.raises(ConfigError, match="must share margin and alignment"):
        EnsembleDetector(cfg, [_MeanBrightness(_cfg("a", 128)), _MeanBrightness(other_margin)])
    with pytest.raises(ConfigError, match="one weight per member"):
        EnsembleDetector(_cfg("pair", 128, members=["a"], weights=[1.0, 2.0]), [
            _MeanBrightness(_cfg("a", 128))
        ])  # fmt: skip
