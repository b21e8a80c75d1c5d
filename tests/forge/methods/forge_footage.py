"""Footage for the forge method tests, generated from the astronaut sample photo.

The astronaut (NASA, public domain) is the target actor; the "source" actor is the same
photo mirrored, with a dark mark on the nose, so that a swap shows in the pixels. The
"driving" clip is the source clip with its jaw opened in the landmarks of its last two frames
(the mesh does not follow a synthetic jaw reliably, so the expression is set directly).
"""

from __future__ import annotations

import cv2
import numpy as np

from tests._media import astronaut
from unmask.forge.methods import Clip

SIZE = 160  # frame side
NOSE_TIP = 1  # mesh landmark indices
UPPER_LIP = 13
LOWER_LIP = 14
CHIN = 152
JAW_OPEN = (4, 5)  # frames of the driving clip with an open jaw


def head() -> np.ndarray:
    return astronaut()[10:250, 110:350]  # 240 x 240 around the face


def place(
    face: np.ndarray, *, size: int = SIZE, scale: float = 0.85, dx: int = 0, dy: int = 0
) -> np.ndarray:
    """``face`` scaled to ``scale * size`` on a grey ``size`` x ``size`` canvas, shifted."""
    canvas = np.full((size, size, 3), 90, np.uint8)
    side = round(size * scale)
    small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    x0, y0 = (size - side) // 2 + dx, (size - side) // 2 + dy
    canvas[max(y0, 0) : y0 + side, max(x0, 0) : x0 + side] = small[max(-y0, 0) :, max(-x0, 0) :][
        : size - max(y0, 0), : size - max(x0, 0)
    ]
    return canvas


def blank(size: int = SIZE) -> np.ndarray:
    return np.full((size, size, 3), 90, np.uint8)


def clip(frames: list[np.ndarray], actor: str, video: str) -> Clip:
    return Clip.from_frames(frames, fps=25.0, actor_id=actor, video_id=video)


def open_jaw(points: np.ndarray, pixels: float) -> np.ndarray:
    """Mesh points with everything below the upper lip moved down by ``pixels``."""
    out = points.copy()
    below = points[:, 1] > points[UPPER_LIP, 1] + 0.5
    out[below, 1] += pixels
    return out
