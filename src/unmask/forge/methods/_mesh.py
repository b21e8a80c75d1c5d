"""Shared geometry for the mesh-based methods: tracks, crops, similarity fits, mesh warps, masks.

Everything works on a crop around the face (the bounding box of the target points plus a
margin), never on the whole frame: at 720p that is a tenth of the pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np


class Box(NamedTuple):
    """A pixel rectangle [x0, x1) x [y0, y1) inside a frame."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def origin(self) -> np.ndarray:
        return np.array([self.x0, self.y0], np.float32)


def crop_box(points: np.ndarray, frame_shape: tuple[int, ...], *, margin: float) -> Box:
    """Bounding box of ``points`` grown by ``margin`` times its longer side, clipped to the frame.

    >>> crop_box(np.array([[10.0, 20.0], [30.0, 60.0]]), (100, 100, 3), margin=0.1)
    Box(x0=6, y0=16, x1=35, y1=65)
    """
    h, w = frame_shape[:2]
    lo, hi = points.min(0), points.max(0)
    pad = margin * float(max(hi - lo))
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int) + 1
    return Box(max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h))


def face_size(points: np.ndarray, oval: np.ndarray) -> float:
    """Square root of the area inside the face oval, in pixels (a scale for radii)."""
    return float(np.sqrt(max(cv2.contourArea(points[oval].astype(np.float32)), 1.0)))


def smooth_landmarks(landmarks: np.ndarray, *, window: int = 7, polyorder: int = 2) -> np.ndarray:
    """Savitzky–Golay smoothing of each landmark track over time, run per run of face frames.

    Frames without a face (NaN rows) stay NaN and split the track, so a face that leaves
    and comes back is not smeared across the gap. ``window`` is in frames; 1 turns it off.

    >>> tracks = np.zeros((5, 468, 2), np.float32); tracks[2] = np.nan
    >>> bool(np.isnan(smooth_landmarks(tracks)[2]).all())
    True
    """
    from scipy.signal import savgol_filter

    out = np.array(landmarks, np.float32, copy=True)
    valid = np.isfinite(out).all(axis=(1, 2))
    edges = np.flatnonzero(np.diff(np.r_[0, valid.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        n = stop - start
        win = min(window, n if n % 2 else n - 1)
        if win > polyorder and win >= 3:
            out[start:stop] = savgol_filter(out[start:stop], win, polyorder, axis=0, mode="interp")
    return out


def match_frames(cost: np.ndarray, *, jump: float, hold: float = 0.0) -> np.ndarray:
    """Choose one column per row of ``cost`` (T, S), minimising the total cost of the path.

    Moving from column j to j + 1 (play on) is free, staying at j costs ``hold``, any other
    move costs ``jump``.

    >>> match_frames(np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]), jump=5.0).tolist()
    [0, 1, 2]
    """
    t, s = cost.shape
    total = cost[0].astype(np.float64)
    back = np.empty((t, s), np.int32)
    cols = np.arange(s)
    for i in range(1, t):
        best = int(total.argmin())
        advance = np.r_[np.inf, total[:-1]]
        stay = total + hold
        step_from = np.where(stay <= advance, cols, cols - 1)
        step = np.minimum(stay, advance)
        jumped = total[best] + jump < step
        back[i] = np.where(jumped, best, step_from)
        total = np.where(jumped, total[best] + jump, step) + cost[i]
    path = np.empty(t, np.int64)
    path[-1] = int(total.argmin())
    for i in range(t - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def pairwise_rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) root-mean-square point distance between the shapes a (n, k, 2) and b (m, k, 2)."""
    x, y = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    d2 = (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.maximum(d2, 0.0) / a.shape[1])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift; no reflection) mapping src to dst.

    Returns a 2x3 matrix ``m`` with ``dst ≈ src @ m[:, :2].T + m[:, 2]`` (Umeyama, 1991).

    >>> m = similarity(np.array([[0, 0], [1, 0], [0, 1]]), np.array([[1, 1], [3, 1], [1, 3]]))
    >>> (np.round(m, 6) + 0.0).tolist()
    [[2.0, 0.0, 1.0], [0.0, 2.0, 1.0]]
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var) if var > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (..., 2) points."""
    return (points @ m[:, :2].T + m[:, 2]).astype(np.float32)


def invert_affine(m: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix."""
    return np.asarray(cv2.invertAffineTransform(np.asarray(m, np.float64)))


def normalize_shapes(
    landmarks: np.ndarray, reference: np.ndarray, *, anchors: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Align every face to ``reference`` with a similarity fitted on ``anchors`` (all points).

    Returns the aligned shapes (T, 468, 2) (NaN where no face) and the (T, 2, 3) transforms
    from frame pixels to the reference frame (NaN where no face).
    """
    idx = slice(None) if anchors is None else anchors
    shapes = np.full_like(landmarks, np.nan, dtype=np.float32)
    transforms = np.full((len(landmarks), 2, 3), np.nan)
    for t in np.flatnonzero(np.isfinite(landmarks).all(axis=(1, 2))):
        m = similarity(landmarks[t][idx], reference[idx])
        transforms[t] = m
        shapes[t] = apply_affine(m, landmarks[t])
    return shapes, transforms


def mean_shape(landmarks: np.ndarray, *, size: float = 1.0, iterations: int = 3) -> np.ndarray:
    """Generalised Procrustes mean of the faces in (T, 468, 2), centred, scaled to ``size``."""
    faces = landmarks[np.isfinite(landmarks).all(axis=(1, 2))]
    if not len(faces):
        raise ValueError("mean_shape needs at least one face")
    ref = faces[0] - faces[0].mean(0)
    for _ in range(iterations):
        ref = ref / np.sqrt((ref**2).sum(1).mean()) * size
        aligned, _ = normalize_shapes(faces, ref)
        ref = aligned.mean(0)
        ref = ref - ref.mean(0)
    return (ref / np.sqrt((ref**2).sum(1).mean()) * size).astype(np.float32)


def _triangle_affines(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle 2x3 affines taking dst-triangle pixels to src-triangle pixels.

    ``src`` and ``dst`` are (n, 3, 2). Returns (n, 6) coefficients [a, b, c, d, e, f] with
    ``src_x = a x + b y + c`` and ``src_y = d x + e y + f``, and (n,) bool: non-degenerate dst.
    """
    dx = dst[:, 1:] - dst[:, :1]  # (n, 2, 2) edge vectors of dst
    sx = src[:, 1:] - src[:, :1]
    det = dx[:, 0, 0] * dx[:, 1, 1] - dx[:, 0, 1] * dx[:, 1, 0]
    ok = np.abs(det) > 1e-6
    safe = np.where(ok, det, 1.0)
    inv = np.empty_like(dx)  # inverse of the matrix whose rows are the dst edges
    inv[:, 0, 0], inv[:, 0, 1] = dx[:, 1, 1] / safe, -dx[:, 0, 1] / safe
    inv[:, 1, 0], inv[:, 1, 1] = -dx[:, 1, 0] / safe, dx[:, 0, 0] / safe
    # src = src0 + S E^-1 (p - dst0) with the edges as the columns of S and E.
    lin = np.transpose(inv @ sx, (0, 2, 1))
    shift = src[:, 0] - np.einsum("nij,nj->ni", lin, dst[:, 0])
    coef = np.concatenate([lin[:, 0], shift[:, :1], lin[:, 1], shift[:, 1:]], axis=1)
    return coef.astype(np.float32), ok


def mesh_maps(
    src_points: np.ndarray, dst_points: np.ndarray, triangles: np.ndarray, box: Box
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piecewise-affine ``cv2.remap`` maps for the crop ``box`` of the destination image.

    Each destination triangle (``dst_points`` in frame pixels) samples the same triangle of
    ``src_points`` (pixels of the image that will be remapped). Returns ``map_x``, ``map_y``
    (float32, crop-sized, source pixel coordinates) and the triangle index of every crop
    pixel (-1 where no triangle covers it).
    """
    h, w = box.shape
    local = (dst_points - box.origin).astype(np.float32)
    tri_dst = local[triangles].astype(np.float64)
    coef, ok = _triangle_affines(src_points[triangles].astype(np.float64), tri_dst)
    ids = np.full((h, w), -1, np.int32)
    fixed = np.round(tri_dst * 16).astype(np.int32)  # 4 bits of sub-pixel precision
    for i in np.flatnonzero(ok):
        cv2.fillConvexPoly(ids, fixed[i], (int(i),), lineType=cv2.LINE_8, shift=4)
    g = coef[np.maximum(ids, 0)]  # (h, w, 6)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    map_x = g[..., 0] * xs + g[..., 1] * ys + g[..., 2]
    map_y = g[..., 3] * xs + g[..., 4] * ys + g[..., 5]
    outside = ids < 0
    map_x[outside] = -1.0
    map_y[outside] = -1.0
    return map_x, map_y, ids


def remap(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Bilinear ``cv2.remap`` with replicated borders."""
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def polygon_mask(
    polygon: np.ndarray, shape: tuple[int, int], *, erode: float, feather: float
) -> np.ndarray:
    """Soft mask (float32 in [0, 1]) of a polygon: 0 outside it and within ``erode`` px of its
    edge, rising smoothly to 1 over the next ``2 * feather`` px inwards. Where the polygon
    runs off the image, the image border is not an edge (a face cut by the frame stays
    solid up to the frame).

    >>> m = polygon_mask(np.array([[5, 5], [45, 5], [45, 45], [5, 45]], np.float32), (51, 51), erode=2, feather=3)
    >>> float(m[25, 25]), float(m[25, 6]), float(m[25, 2])
    (1.0, 0.0, 0.0)
    """
    hard = np.zeros(shape, np.uint8)
    cv2.fillPoly(hard, [np.round(polygon * 16).astype(np.int32)], (255,), cv2.LINE_8, shift=4)
    inside = cv2.distanceTransform(hard, cv2.DIST_L2, 3)  # px to the nearest outside pixel
    ramp = np.clip((inside - erode) / max(2.0 * feather, 1e-6), 0.0, 1.0)
    return (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)  # smoothstep
