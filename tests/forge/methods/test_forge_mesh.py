"""Shared geometry and blending helpers of the mesh methods."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest

from tests._media import astronaut
from unmask.forge.landmarks import mesh_topology
from unmask.forge.methods._blend import poisson, reinhard
from unmask.forge.methods._mesh import (
    Box,
    apply_affine,
    match_frames,
    mesh_maps,
    polygon_mask,
    similarity,
    smooth_landmarks,
)


def test_topology_covers_the_face_as_one_disc() -> None:
    topo = mesh_topology()
    assert topo.triangles.shape == (898, 3) and topo.mouth_triangles.sum() == 18
    uses = Counter(tuple(sorted(e)) for a, b, c in topo.triangles for e in ((a, b), (a, c), (b, c)))
    assert set(uses.values()) == {1, 2}  # a surface: no edge borders three triangles
    border = {e for e, n in uses.items() if n == 1}
    oval = topo.face_oval
    assert border == {tuple(sorted((oval[i], oval[(i + 1) % len(oval)]))) for i in range(len(oval))}
    assert len(topo.mouth) == 20 and topo.mouth[0] == 78  # starts at a mouth corner


def test_similarity_recovers_a_transform() -> None:
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(50, 2))
    angle, scale, shift = 0.4, 2.5, np.array([3.0, -7.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = similarity(pts, pts @ rot.T + shift)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(apply_affine(m, pts), pts @ rot.T + shift, atol=1e-5)


def test_smoothing_reduces_jitter_and_keeps_gaps() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(40, dtype=np.float32)
    truth = np.stack([np.stack([t, 0.5 * t], 1)] * 468, 1)  # (40, 468, 2), moving steadily
    noisy = truth + rng.normal(0, 1.0, truth.shape).astype(np.float32)
    noisy[20] = np.nan
    out = smooth_landmarks(noisy, window=7)
    assert np.isnan(out[20]).all() and np.isfinite(np.delete(out, 20, 0)).all()
    ok = np.isfinite(out).all(axis=(1, 2))
    assert np.abs(out - truth)[ok].mean() < 0.6 * np.abs(noisy - truth)[ok].mean()
    np.testing.assert_allclose(smooth_landmarks(truth), truth, atol=1e-3)  # lines stay put


def test_mesh_maps_identity_and_shift() -> None:
    topo = mesh_topology()
    rng = np.random.default_rng(3)
    # a plausible face: the astronaut's mean shape would need mediapipe; a jittered grid is enough
    pts = np.zeros((468, 2), np.float32)
    pts[:] = rng.uniform(20, 80, (468, 2))
    pts[topo.face_oval] = 50 + 40 * np.stack(
        [
            np.sin(np.linspace(0, 2 * np.pi, 36, endpoint=False)),
            -np.cos(np.linspace(0, 2 * np.pi, 36, endpoint=False)),
        ],
        1,
    )
    box = Box(0, 0, 100, 100)
    map_x, map_y, ids = mesh_maps(pts, pts + np.float32([5, 0]), topo.triangles, box)
    covered = ids >= 0
    assert covered.sum() > 3000
    xs, ys = np.meshgrid(np.arange(100), np.arange(100))
    np.testing.assert_allclose(map_x[covered], xs[covered] - 5, atol=1e-2)  # samples 5 px left
    np.testing.assert_allclose(map_y[covered], ys[covered], atol=1e-2)


def test_polygon_mask_stays_inside_the_polygon() -> None:
    square = np.array([[10, 10], [50, 10], [50, 50], [10, 50]], np.float32)
    mask = polygon_mask(square, (60, 60), erode=4, feather=2)
    assert mask.dtype == np.float32 and mask.max() == pytest.approx(1.0) and mask.max() <= 1.0
    assert not mask[:9].any() and not mask[:, 52:].any()
    assert mask[30, 30] == pytest.approx(1.0) and mask[30, 10] < 0.1


def test_match_frames_plays_on_and_jumps_only_when_worth_it() -> None:
    cost = np.ones((4, 6))
    cost[0, 2] = 0.0
    cost[3, 0] = 0.0
    assert match_frames(cost, jump=10.0, hold=0.5).tolist() == [2, 3, 4, 5]  # playing on is free
    assert match_frames(cost, jump=0.5, hold=0.5).tolist() == [2, 3, 4, 0]  # cheap jumps pay off


def exact_poisson(src: np.ndarray, dst: np.ndarray, inside: np.ndarray) -> np.ndarray:
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    ys, xs = np.nonzero(inside)
    idx = -np.ones(inside.shape, int)
    idx[ys, xs] = np.arange(len(ys))
    n, rows, cols, vals = (
        len(ys),
        [np.arange(len(ys))],
        [np.arange(len(ys))],
        [np.full(len(ys), 4.0)],
    )
    rhs = np.zeros((n, 3))
    diff = dst.astype(float) - src.astype(float)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        j = idx[ys + dy, xs + dx]
        inner = j >= 0
        rows.append(np.arange(n)[inner])
        cols.append(j[inner])
        vals.append(-np.ones(inner.sum()))
        np.add.at(rhs, np.arange(n)[~inner], diff[ys[~inner] + dy, xs[~inner] + dx])
    a = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    out = dst.astype(float).copy()
    out[ys, xs] = src[ys, xs] + spl.splu(a).solve(rhs)
    return out


def test_poisson_matches_the_exact_solution_inside() -> None:
    dst = astronaut()[100:260, 150:310]
    src = np.clip(cv2.GaussianBlur(dst, (0, 0), 3).astype(int) * 0.6 + 70, 0, 255).astype(np.uint8)
    inside = np.zeros(dst.shape[:2], np.uint8)
    cv2.ellipse(inside, (80, 80), (55, 65), 0, 0, 360, 1, -1)
    inside = inside.astype(bool)
    ours = poisson(src, dst, inside)
    exact = exact_poisson(src, dst, inside)
    core = cv2.erode(inside.astype(np.uint8), np.ones((11, 11), np.uint8)).astype(bool)
    error = np.abs(ours - exact)[core].mean()
    pasted = np.abs(src.astype(float) - exact)[core].mean()  # no blending at all: ~34 levels
    assert error < 0.15 * pasted and error < 5.0, (error, pasted)
    assert np.array_equal(ours[~inside], dst[~inside].astype(np.float32))


def test_reinhard_matches_colour_statistics() -> None:
    rng = np.random.default_rng(4)

    def smooth(lo: int, hi: int) -> np.ndarray:
        noise = cv2.GaussianBlur(rng.uniform(lo, hi, (60, 60, 3)).astype(np.float32), (0, 0), 3)
        return np.clip((noise - noise.mean()) * 4 + (lo + hi) / 2, 0, 255).astype(np.uint8)

    src, dst = smooth(20, 100), smooth(120, 220)
    out = reinhard(src, dst, np.ones((60, 60), np.float32))
    lab = [
        cv2.cvtColor(a.astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(-1, 3)
        for a in (out, dst)
    ]
    np.testing.assert_allclose(lab[0].mean(0), lab[1].mean(0), atol=1.0)
    np.testing.assert_allclose(lab[0].std(0), lab[1].std(0), rtol=0.1)
