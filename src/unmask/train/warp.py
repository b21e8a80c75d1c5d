"""Self-reenacted pseudo-fakes: a real face whose expression is changed by warping it.

Self-blending (``sbi.py``) imitates face swaps: a blending boundary, colour and frequency
mismatch. Reenactment (Face2Face, NeuralTextures, forge's ``reenact``) keeps the face's
own skin and identity and leaves no such boundary; what it changes is the geometry of the
mouth, jaw and brows, re-rendering or resampling those regions. A detector trained on
self-blends alone scores such fakes like reals. This makes the missing kind of
pseudo-fake from a real face, with no generator of any particular method:

1. a random expression: the jaw drops or closes, the mouth corners move (smile, pout),
   the brows rise or fall, each by an amount relative to the eye distance;
2. those displacements at their mesh points (or, without a mesh, at the 5 RetinaFace
   points), pinned to zero at the eyes, the nose and a ring around the face, spread into
   a smooth dense field by normalised Gaussian weights, and the image resampled along it;
3. the traces a re-rendering leaves: the changed region is, at random, smoothed or
   sharpened and its colour nudged, inside a soft mask of where the warp moved pixels.

    >>> fake, moved = self_warp(crop, mesh, landmarks, rng=np.random.default_rng(0))  # doctest: +SKIP
"""

from __future__ import annotations

import cv2
import numpy as np

# MediaPipe 468-point mesh vertices.
_LOWER_LIP = np.array([146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402])
_UPPER_LIP = np.array([185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311])
_CORNERS = np.array([[61, 78], [291, 308]])  # left and right mouth corner (outer, inner)
_CHIN = np.array([152, 148, 176, 149, 377, 400, 378, 199, 175, 18, 200])
_JAW_SIDES = np.array([150, 136, 172, 379, 365, 397])
_BROWS = np.array([[70, 63, 105, 66, 107], [300, 293, 334, 296, 336]])
_FIXED = np.array([33, 133, 362, 263, 1, 4, 6, 168, 10, 151, 234, 454, 127, 356])
_OVAL = np.array(
    [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
     152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
)  # fmt: skip


def _expression(rng: np.random.Generator) -> dict[str, float]:
    """Amounts in eye distances: jaw (+ opens), corners out and up, brows up."""
    return {
        "jaw": float(rng.uniform(-0.06, 0.22)) if rng.random() < 0.8 else 0.0,
        "corner_out": float(rng.uniform(-0.08, 0.12)) if rng.random() < 0.7 else 0.0,
        "corner_up": float(rng.uniform(-0.06, 0.10)) if rng.random() < 0.7 else 0.0,
        "brows": float(rng.uniform(-0.05, 0.10)) if rng.random() < 0.4 else 0.0,
    }


def _axes(
    left_eye: np.ndarray, right_eye: np.ndarray, towards_chin: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """The eye distance and the face's own unit axes: across (eye to eye) and down
    (perpendicular to it, on the chin's side)."""
    eye = float(np.linalg.norm(right_eye - left_eye))
    across = (right_eye - left_eye) / max(eye, 1e-6)
    down = np.array([-across[1], across[0]])
    return eye, across, (down if np.dot(down, towards_chin) >= 0 else -down)


def _controls_mesh(
    mesh: np.ndarray, e: dict[str, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Control points, their displacements, the pinned points and the eye distance."""
    eye, across, down = _axes(mesh[33], mesh[263], mesh[152] - mesh[6])
    points, moves = [], []

    def add(idx: np.ndarray, move: np.ndarray) -> None:
        points.append(mesh[idx])
        moves.append(np.broadcast_to(move, (len(idx), 2)))

    add(_LOWER_LIP, down * e["jaw"] * eye)
    add(_CHIN, down * e["jaw"] * eye * 1.1)
    add(_JAW_SIDES, down * e["jaw"] * eye * 0.5)
    add(_UPPER_LIP, -down * e["jaw"] * eye * 0.15)
    for side, idx in zip((-1.0, 1.0), _CORNERS, strict=True):
        move = (across * side * e["corner_out"] - down * e["corner_up"]) * eye
        add(idx, move + down * e["jaw"] * eye * 0.4)
    for brow in _BROWS:
        add(brow, -down * e["brows"] * eye)
    centre = mesh[_OVAL].mean(0)
    ring = centre + (mesh[_OVAL] - centre) * 1.45
    pinned = np.concatenate([mesh[_FIXED], ring])
    return np.concatenate(points), np.concatenate(moves), pinned, eye


def _controls_5(
    lm: np.ndarray, e: dict[str, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The same from the 5 RetinaFace points (eyes, nose, mouth corners): mouth and chin."""
    eyes, nose, mouth = lm[:2], lm[2], lm[3:]
    mid = mouth.mean(0)
    eye, across, down = _axes(eyes[0], eyes[1], mid - eyes.mean(0))
    lip_down = mid + down * 0.25 * eye
    chin = mid + down * 0.75 * eye
    points = np.stack([mouth[0], mouth[1], lip_down, chin])
    jaw = down * e["jaw"] * eye
    moves = np.stack(
        [
            (-across * e["corner_out"] - down * e["corner_up"]) * eye + jaw * 0.4,
            (across * e["corner_out"] - down * e["corner_up"]) * eye + jaw * 0.4,
            jaw,
            jaw * 1.1,
        ]
    )
    centre = (eyes.mean(0) + mid) / 2
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = centre + 1.9 * eye * np.stack([np.cos(angles), np.sin(angles)], 1)
    pinned = np.concatenate([eyes, nose[None], ring])
    return points, moves, pinned, eye


def _dense_field(
    shape: tuple[int, int], points: np.ndarray, moves: np.ndarray, sigma: float
) -> np.ndarray:
    """(H, W, 2) displacement: Gaussian-weighted average of the control moves (pinned
    points move by zero), computed at a quarter of the resolution and resized."""
    h, w = shape
    step = 4
    gy, gx = np.mgrid[0:h:step, 0:w:step].astype(np.float32)
    d2 = (gx[..., None] - points[:, 0]) ** 2 + (gy[..., None] - points[:, 1]) ** 2
    weights = np.exp(-d2 / (2 * sigma**2)).astype(np.float32)
    total = weights.sum(-1, keepdims=True)
    # far from every control point nothing moves (the small constant keeps it so)
    field = (weights @ moves.astype(np.float32)) / (total + 1e-3)
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)


def self_warp(
    img: np.ndarray, mesh: np.ndarray | None, landmarks5: np.ndarray, *, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A self-reenacted pseudo-fake of ``img`` (RGB uint8) and where it moved (float32 in
    [0, 1]). Uses the 468-point mesh when it is finite, else the 5 RetinaFace points."""
    h, w = img.shape[:2]
    e = _expression(rng)
    if not any(e.values()):
        e["jaw"] = float(rng.uniform(0.08, 0.2))
    if mesh is not None and np.isfinite(mesh).all():
        points, moves, pinned, eye = _controls_mesh(mesh, e)
    else:
        points, moves, pinned, eye = _controls_5(landmarks5, e)
    points = np.concatenate([points, pinned]).astype(np.float32)
    moves = np.concatenate([moves, np.zeros_like(pinned)]).astype(np.float32)
    field = _dense_field((h, w), points, moves, sigma=max(2.0, 0.18 * eye))
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    # backward mapping: the pixel at x comes from x - d(x) (near enough for smooth fields)
    warped = cv2.remap(
        img, xs - field[..., 0], ys - field[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    moved = np.linalg.norm(field, axis=-1)
    moved = np.clip(moved / max(float(moved.max()), 1e-6) * 3, 0, 1).astype(np.float32)
    moved = np.clip(cv2.GaussianBlur(moved, (0, 0), max(1.0, 0.1 * eye)), 0, 1)
    out = warped.astype(np.float32)
    if rng.random() < 0.7:  # the re-rendered region is smoother or sharper than the rest
        if rng.random() < 0.6:
            other = cv2.GaussianBlur(warped, (0, 0), float(rng.uniform(0.6, 1.6)))
        else:
            blur = cv2.GaussianBlur(warped, (0, 0), 1.0).astype(np.float32)
            amount = float(rng.uniform(0.3, 0.8))
            other = np.clip(out * (1 + amount) - blur * amount, 0, 255)
        m = moved[..., None]
        out = other.astype(np.float32) * m + out * (1 - m)
    if rng.random() < 0.3:  # and its colour a little off
        out += moved[..., None] * rng.uniform(-8, 8, 3).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), moved
