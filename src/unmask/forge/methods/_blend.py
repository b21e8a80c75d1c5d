"""Putting a new face into a frame: colour transfer, Poisson blending, compositing.

``poisson`` solves the same problem as ``cv2.seamlessClone`` (NORMAL_CLONE): keep the new
face's gradients, match the frame on the mask's border. Its solution is the new face plus a
harmonic (smooth) correction, so the correction is solved on a small grid (coarse-to-fine
Jacobi) and scaled up: a few milliseconds instead of ~40 ms for a 720p face.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from unmask.forge.landmarks import mesh_topology
from unmask.forge.methods._mesh import Box, crop_box, face_size, polygon_mask
from unmask.forge.methods._registry import check_choice, check_range

BlendMode = Literal["poisson", "opencv", "alpha"]
BLEND_MODES: tuple[BlendMode, ...] = ("poisson", "opencv", "alpha")
ColorMode = Literal["reinhard", "none"]
COLOR_MODES: tuple[ColorMode, ...] = ("reinhard", "none")

_NEIGHBOURS = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


def reinhard(src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Match the mean and spread of ``src``'s colours to ``dst``'s in LAB, where ``weight`` >= 0.5.

    ``src`` and ``dst`` are uint8 RGB crops of one size; ``weight`` (float, same HxW) says
    where the statistics are taken (on every other pixel: plenty for a mean and a spread).
    Returns the recoloured ``src`` (uint8).
    """
    sample = np.ascontiguousarray((weight[::2, ::2] >= 0.5).astype(np.uint8))
    if sample.sum() < 4:
        return src
    lab_s = cv2.cvtColor(src.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB)
    lab_d = cv2.cvtColor(
        np.ascontiguousarray(dst[::2, ::2]).astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB
    )
    mu_s, sd_s = cv2.meanStdDev(np.ascontiguousarray(lab_s[::2, ::2]), mask=sample)
    mu_d, sd_d = cv2.meanStdDev(lab_d, mask=sample)
    gain = np.clip((sd_d.ravel() + 1e-3) / (sd_s.ravel() + 1e-3), 0.5, 2.0).astype(np.float32)
    shift = (mu_d.ravel() - mu_s.ravel() * gain).astype(np.float32)
    rgb = cv2.cvtColor(lab_s * gain + shift, cv2.COLOR_LAB2RGB)
    return np.asarray(cv2.convertScaleAbs(rgb, alpha=255.0))


def _membrane(
    values: np.ndarray, ring: np.ndarray, inside: np.ndarray, *, iterations: int
) -> np.ndarray:
    """Harmonic interpolation over ``inside`` of the ``values`` given on the ``ring`` around it.

    ``ring`` and ``inside`` are fractions in [0, 1] (1 at full resolution); each coarser level
    averages them, pins a cell to the ring's mean value when the cell holds ring pixels and is
    mostly not inside, and solves the rest: coarse-to-fine Jacobi.
    """
    h, w = ring.shape
    pinned = (ring > 1e-3) & (inside < 0.5)
    if not pinned.any():
        return np.zeros_like(values)
    if max(h, w) > 8:
        size = (max(w // 2, 1), max(h // 2, 1))
        r_small = cv2.resize(ring, size, interpolation=cv2.INTER_AREA)
        i_small = cv2.resize(inside, size, interpolation=cv2.INTER_AREA)
        v_small = cv2.resize(values * ring[..., None], size, interpolation=cv2.INTER_AREA)
        v_small = v_small.reshape((*r_small.shape, values.shape[2]))
        v_small = v_small / np.maximum(r_small, 1e-6)[..., None]
        coarse = _membrane(v_small, r_small, i_small, iterations=iterations)
        out = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(values.shape)
    else:
        out = np.broadcast_to(values[pinned].mean(0), values.shape).astype(np.float32)
    fixed = pinned[..., None]
    out = np.where(fixed, values, out)
    for _ in range(iterations):
        avg = cv2.filter2D(out, -1, _NEIGHBOURS, borderType=cv2.BORDER_REPLICATE)
        out = np.where(fixed, values, avg.reshape(values.shape))
    return out


def poisson(
    src: np.ndarray, dst: np.ndarray, inside: np.ndarray, *, grid: int = 96, iterations: int = 12
) -> np.ndarray:
    """Seamless clone of ``src`` into ``dst`` over the bool mask ``inside`` (same-size crops).

    Returns float32 RGB: ``src`` plus the smooth correction inside, ``dst`` outside. The
    boundary values come from a ring just outside ``inside``, so ``src`` must be valid there.
    """
    s = src.astype(np.float32)
    d = dst.astype(np.float32)
    h, w = inside.shape
    scale = min(1.0, grid / max(h, w))
    r = int(np.ceil(2.0 / scale))
    hard = inside.astype(np.uint8)
    ring = ((cv2.dilate(hard, np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0) & ~inside).astype(
        np.float32
    )
    diff = (d - s) * ring[..., None]
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    r_small = cv2.resize(ring, size, interpolation=cv2.INTER_AREA)
    i_small = cv2.resize(hard.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    d_small = cv2.resize(diff, size, interpolation=cv2.INTER_AREA).reshape((*r_small.shape, 3))
    d_small = d_small / np.maximum(r_small, 1e-6)[..., None]
    corr = _membrane(d_small, r_small, i_small, iterations=iterations)
    corr = cv2.resize(corr, (w, h), interpolation=cv2.INTER_LINEAR).reshape(s.shape)
    return np.where(inside[..., None], s + corr, d)


def blend_face(
    frame: np.ndarray,
    face: np.ndarray,
    alpha: np.ndarray,
    box: Box,
    *,
    valid: np.ndarray | None = None,
    blend: BlendMode = "poisson",
    color: ColorMode = "reinhard",
) -> tuple[np.ndarray, np.ndarray]:
    """Put ``face`` (a crop the size of ``box``) into a copy of ``frame`` under the soft ``alpha``.

    Colour transfer first (statistics inside ``alpha``), then the blend (its boundary is the
    ``alpha`` = 0.5 line, so ``face`` must be valid a few pixels beyond it), then an alpha
    composite, so pixels where ``alpha`` is 0 keep their exact values. ``valid`` (bool) marks
    the pixels of ``face`` that hold a face at all; the others are taken from the frame.
    Returns the new frame and its full-size float32 mask of changed pixels.
    """
    ys, xs = box.slices
    dst = frame[ys, xs]
    if valid is not None:
        face = np.where(valid[..., None], face, dst)
    if color == "reinhard":
        face = reinhard(face, dst, alpha)
    inside = alpha >= 0.5  # the Poisson boundary runs through the middle of the feathered edge
    if blend == "poisson":
        new = poisson(face, dst, inside)
    elif blend == "opencv" and inside.any():
        hard = np.zeros(inside.shape, np.uint8)
        hard[1:-1, 1:-1] = inside[1:-1, 1:-1] * 255
        x, y, bw, bh = cv2.boundingRect(hard)
        center = (x + bw // 2, y + bh // 2)  # puts the clone exactly where it was cut
        new = cv2.seamlessClone(face, dst, hard, center, cv2.NORMAL_CLONE).astype(np.float32)
    else:
        new = face.astype(np.float32)
    out = frame.copy()
    new_u8 = np.asarray(cv2.convertScaleAbs(new))  # rounds and saturates to 0..255
    out[ys, xs] = cv2.blendLinear(new_u8, dst, alpha, 1.0 - alpha)
    mask = np.zeros(frame.shape[:2], np.float32)
    mask[ys, xs] = alpha
    return out, mask


@dataclass
class PasteOptions:
    """How a method puts a new face into the target frames (shared by ``swap`` and ``dfae``).

    ``margin`` (crop around the face), ``erode`` and ``feather`` (of the face-oval mask) are
    fractions of the face size, the square root of the face-oval area. ``smooth_window`` is
    the landmark smoothing window in frames (1: off).
    """

    smooth_window: int = 7
    margin: float = 0.12
    erode: float = 0.05
    feather: float = 0.04
    blend: BlendMode = "poisson"
    color: ColorMode = "reinhard"
    contact_sheet: bool = True

    def __post_init__(self) -> None:
        check_choice("blend", self.blend, BLEND_MODES)
        check_choice("color", self.color, COLOR_MODES)
        check_range("smooth_window", self.smooth_window, 1, 99)
        check_range("margin", self.margin, 0.0, 1.0)
        check_range("erode", self.erode, 0.0, 0.3)
        check_range("feather", self.feather, 0.0, 0.3)

    def face_box(self, frame: np.ndarray, points: np.ndarray) -> Box:
        """The crop of ``frame`` that the face with mesh ``points`` is pasted into."""
        return crop_box(points, frame.shape, margin=self.margin)

    def paste(
        self, frame: np.ndarray, face: np.ndarray, points: np.ndarray, box: Box, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Blend ``face`` (a crop of ``box``, ``valid`` where it holds pixels) into ``frame``
        under the feathered face oval of ``points``; returns the new frame and its mask."""
        oval = mesh_topology().face_oval
        size = face_size(points, oval)
        alpha = polygon_mask(
            points[oval] - box.origin,
            box.shape,
            erode=self.erode * size,
            feather=self.feather * size,
        )
        alpha *= valid
        return blend_face(frame, face, alpha, box, valid=valid, blend=self.blend, color=self.color)
