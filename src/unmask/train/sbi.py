"""Self-blended images (Shiohara & Yamasaki, CVPR 2022): pseudo-fakes from real faces only.

A real face is blended with a slightly transformed copy of itself inside a face-shaped
mask. The result has the traces every face swap leaves (a blending boundary, colour and
frequency mismatch, a small misalignment) without the identity or method of any
particular deepfake generator, which is why detectors trained on it generalise.

    >>> fake, mask = self_blend(crop, mesh, landmarks, rng=np.random.default_rng(0))  # doctest: +SKIP
"""

from __future__ import annotations

import cv2
import numpy as np

# Face-oval and inner-face vertices of the MediaPipe 468-point mesh (the convex hull of a
# subset is the mask; which subset is sampled, as SBI samples mask shapes).
_INNER = np.array(
    [33, 133, 362, 263, 61, 291, 1, 168, 6, 4, 70, 300, 105, 334, 152, 199, 175, 57, 287, 205, 425]
)


def hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled convex hull of ``points`` as a float32 mask of ``shape`` (H, W)."""
    mask = np.zeros(shape, np.uint8)
    pts = points[np.all(np.isfinite(points), axis=1)]
    if len(pts) >= 3:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), (1,))
    return mask.astype(np.float32)


def ellipse_mask(landmarks5: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A face ellipse from the 5 RetinaFace points (eyes, nose, mouth corners)."""
    eyes, mouth = landmarks5[:2], landmarks5[3:]
    centre = (eyes.mean(0) + mouth.mean(0)) / 2
    eye_dist = float(np.linalg.norm(eyes[1] - eyes[0]))
    vertical = float(np.linalg.norm(mouth.mean(0) - eyes.mean(0)))
    angle = float(np.degrees(np.arctan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0])))
    mask = np.zeros(shape, np.uint8)
    axes = (max(1, round(eye_dist * 1.05)), max(1, round(vertical * 1.75)))
    cv2.ellipse(
        mask, (round(centre[0]), round(centre[1] + vertical * 0.15)), axes, angle, 0, 360, (1,), -1
    )
    return mask.astype(np.float32)


def _deform(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random dilation/erosion and a smooth elastic warp of the mask's boundary."""
    h, w = mask.shape
    k = int(rng.integers(1, max(2, w // 20)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    mask = cv2.dilate(mask, kernel) if rng.random() < 0.5 else cv2.erode(mask, kernel)
    grid = 4
    dx = cv2.resize(
        rng.normal(0, w * 0.015, (grid, grid)).astype(np.float32),
        (w, h),
        interpolation=cv2.INTER_CUBIC,
    )
    dy = cv2.resize(
        rng.normal(0, h * 0.015, (grid, grid)).astype(np.float32),
        (w, h),
        interpolation=cv2.INTER_CUBIC,
    )
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _blur_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = mask.shape[1]
    sigma = float(rng.uniform(0.5, 0.05 * w))
    blurred = cv2.GaussianBlur(mask, (0, 0), sigma)
    peak = float(blurred.max())
    return blurred / peak if peak > 0 else blurred


def _colour_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    out += rng.uniform(-20, 20, 3)  # per-channel shift (RGB shift)
    out = (
        (out - out.mean()) * rng.uniform(0.9, 1.1) + out.mean() + rng.uniform(-10, 10)
    )  # contrast, brightness
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-5, 5)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.85, 1.15), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def _frequency_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    if rng.random() < 0.5:  # lose detail: down- then up-scale
        f = float(rng.uniform(0.3, 0.8))
        small = cv2.resize(
            img, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA
        )
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    blur = cv2.GaussianBlur(img, (0, 0), 1.0)  # sharpen (unsharp mask)
    amount = float(rng.uniform(0.3, 1.0))
    return np.clip(
        img.astype(np.float32) * (1 + amount) - blur.astype(np.float32) * amount, 0, 255
    ).astype(np.uint8)


def _misalign(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    scale = float(rng.uniform(0.95, 1.05))
    sx, sy = float(rng.uniform(0.95, 1.05)), float(rng.uniform(0.95, 1.05))
    tx, ty = rng.uniform(-0.03, 0.03, 2) * (w, h)
    m = np.array([[scale * sx, 0, 0], [0, scale * sy, 0]], np.float32)
    m[:, 2] = (w / 2, h / 2) - m[:, :2] @ (w / 2, h / 2) + (tx, ty)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


def self_blend(
    img: np.ndarray, mesh: np.ndarray | None, landmarks5: np.ndarray, *, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A self-blended pseudo-fake of ``img`` (RGB uint8) and the blend mask used (float32).

    The mask is the convex hull of the 468-point mesh (whole face or inner face, chosen at
    random) or, without a mesh, an ellipse from the 5 landmarks; it is deformed and blurred,
    and scaled by a blend ratio from ``BLEND_RATIOS``. Source and target (the jittered copy
    and the original) swap roles at random.
    """
    shape = (int(img.shape[0]), int(img.shape[1]))
    if mesh is not None and np.isfinite(mesh).all():
        points = mesh if rng.random() < 0.7 else mesh[_INNER]
        mask = hull_mask(points, shape)
    else:
        mask = ellipse_mask(landmarks5, shape)
    if mask.sum() < 16:
        mask = ellipse_mask(landmarks5, shape)
    mask = _blur_mask(_deform(mask, rng), rng) * float(rng.choice(BLEND_RATIOS))
    source = img
    if rng.random() < 0.5:
        source = _colour_jitter(source, rng)
    if rng.random() < 0.5 or source is img:
        source = _frequency_jitter(source, rng)
    source = _misalign(source, rng)
    target = img
    if rng.random() < 0.5:
        source, target = target, source
    m = mask[..., None]
    fake = source.astype(np.float32) * m + target.astype(np.float32) * (1 - m)
    return np.clip(fake + 0.5, 0, 255).astype(np.uint8), mask
