from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from unmask.errors import ConfigError
from unmask.train.config import load_config
from unmask.train.faceset import BASE_SIZE, FaceSet, final_crop
from unmask.train.sbi import self_blend
from unmask.train.warp import _controls_mesh, _dense_field, self_warp


def test_warp_moves_the_mouth_and_leaves_the_rest(
    base: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    crop, _box, lm = base
    mouth = lm[3:].mean(0).round().astype(int)
    eye_dist = float(np.linalg.norm(lm[1] - lm[0]))
    for seed in range(6):
        fake, moved = self_warp(crop, None, lm, rng=np.random.default_rng(seed))
        assert fake.shape == crop.shape and fake.dtype == np.uint8
        assert moved.shape == crop.shape[:2] and moved.min() >= 0 and moved.max() <= 1
        diff = np.abs(fake.astype(int) - crop.astype(int)).sum(axis=2)
        r = int(eye_dist * 0.4)
        near_mouth = diff[mouth[1] - r : mouth[1] + r, mouth[0] - r : mouth[0] + r]
        assert near_mouth.mean() > 1.0, seed  # the mouth region changed
        corner = diff[:20, :20]
        assert corner.mean() < 0.5, seed  # far from the face nothing did
        # where nothing moved the pixels are the original's
        still = moved < 1e-4
        assert still.any() and diff[still].mean() < 0.5


def test_jaw_opens_downwards_and_pinned_points_stay(mesh: np.ndarray) -> None:
    expression = {"jaw": 0.2, "corner_out": 0.0, "corner_up": 0.0, "brows": 0.0}
    points, moves, pinned, eye = _controls_mesh(mesh, expression)
    assert eye > 10
    chin_move = moves[np.argmin(np.linalg.norm(points - mesh[152], axis=1))]
    assert chin_move[1] > 0.15 * eye  # the test face is upright: down is +y
    field = _dense_field(
        (BASE_SIZE, BASE_SIZE),
        np.concatenate([points, pinned]),
        np.concatenate([moves, np.zeros_like(pinned)]),
        sigma=0.18 * eye,
    )
    at = lambda p: field[round(p[1]), round(p[0])]  # noqa: E731
    assert at(mesh[17])[1] > 0.3 * chin_move[1]  # the lower lip goes down with the jaw
    assert np.linalg.norm(at(mesh[33])) < 0.2 * chin_move[1]  # an eye corner stays


def test_mesh_warp_is_reproducible_and_changes_the_face(
    base: tuple[np.ndarray, np.ndarray, np.ndarray], mesh: np.ndarray
) -> None:
    crop, _box, lm = base
    a, _ = self_warp(crop, mesh, lm, rng=np.random.default_rng(3))
    b, _ = self_warp(crop, mesh, lm, rng=np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - crop.astype(int)).mean() > 0.1


def _faceset(crop: np.ndarray, box: np.ndarray, lm: np.ndarray, n: int) -> FaceSet:
    obj = lambda v: np.array([v] * n, dtype=object)  # noqa: E731
    return FaceSet(
        crops=np.stack([crop] * n),
        boxes=np.stack([box] * n).astype(np.float32),
        landmarks=np.stack([lm] * n).astype(np.float32),
        mesh=np.full((n, 468, 2), np.nan, np.float32),
        labels=np.zeros(n, np.int64),
        methods=obj("real"),
        identities=obj("a"),
        groups=obj("g"),
        sources=obj("s"),
    )


def test_dataset_pseudo_fakes(base: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("torch")
    from unmask.train.torchdata import FaceDataset

    crop, box, lm = base
    faces = _faceset(crop, box, lm, 40)
    kw = {"size": 64, "margin": 0.3, "align": True, "sbi": True, "augment": None, "train": False}
    plain = FaceDataset(faces, **kw)
    assert len(plain) == 80 and plain.labels().sum() == 40
    # p_warp 0 is the published recipe: the pseudo-fake is self_blend's, sample for sample
    k = 45
    rng = np.random.default_rng([0, 0, k])
    blended, _ = self_blend(crop, None, lm, rng=rng)
    expect = final_crop(blended, box, lm, size=64, margin=0.3, align=True)
    assert np.array_equal(plain.sample(k)[0], expect)
    warped = FaceDataset(faces, p_warp=1.0, **kw)
    rng = np.random.default_rng([0, 0, k])
    rng.random()  # the draw that chose the warp
    fake, _ = self_warp(crop, None, lm, rng=rng)
    assert np.array_equal(
        warped.sample(k)[0], final_crop(fake, box, lm, size=64, margin=0.3, align=True)
    )
    assert warped.sample(k)[1] == 1
    half = FaceDataset(faces, p_fake_from_real=0.5, **kw)
    assert 40 + 10 <= len(half) <= 40 + 30 and half.labels().sum() == len(half) - 40


def test_config_probabilities_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "sbi": {"p_warp": 0.3}}))
    assert load_config(path).sbi.p_warp == 0.3
    path.write_text(yaml.safe_dump({"name": "x", "sbi": {"p_warp": 30}}))
    with pytest.raises(ConfigError, match=r"sbi.p_warp is a probability; got 30"):
        load_config(path)
    path.write_text(yaml.safe_dump({"name": "x", "augment": {"p_jpeg": -0.1}}))
    with pytest.raises(ConfigError, match=r"augment.p_jpeg is a probability"):
        load_config(path)
