"""Footage the forge tests make themselves, from the public-domain astronaut photo (NASA)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from unmask.media import VideoWriter

FRAMES = 10
SIZE = 192


def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def face_frames(variant: int = 0, *, n: int = FRAMES, size: int = SIZE) -> list[np.ndarray]:
    """``n`` frames of the astronaut's face drifting a few pixels; ``variant`` changes the tint,
    the drift and the mirroring, so every variant is a different file (a different "actor")."""
    img = astronaut()
    rng = np.random.default_rng(variant)
    tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.25, 0.25, 3)
    img = np.clip(img * tint, 0, 255).astype(np.uint8)
    if variant % 2:
        img = np.ascontiguousarray(img[:, ::-1])
    cx = 225 if variant % 2 == 0 else 512 - 225
    cy = 117
    side = 224
    frames = []
    for t in range(n):
        dx = round(float(6 * np.sin(t / 3 + variant)))
        dy = round(float(4 * np.cos(t / 4 + variant)))
        x0, y0 = cx - side // 2 + dx, cy - side // 2 + dy
        crop = img[max(0, y0) : y0 + side, max(0, x0) : x0 + side]
        frames.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], *, fps: float = 30.0) -> Path:
    with VideoWriter(path, fps=fps, crf=18) as w:
        for f in frames:
            w.write(f)
    return path


def face_clip(path: Path, variant: int = 0, *, n: int = FRAMES) -> Path:
    return write_clip(path, face_frames(variant, n=n))


def faceless_clip(path: Path, *, n: int = FRAMES) -> Path:
    rng = np.random.default_rng(1)
    base = cv2.resize(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8), (SIZE, SIZE))
    return write_clip(path, [np.roll(base, t * 3, axis=1) for t in range(n)])


def two_face_clip(path: Path, *, n: int = FRAMES) -> Path:
    left, right = face_frames(0, n=n), face_frames(2, n=n)
    return write_clip(
        path, [np.concatenate([a, b], axis=1) for a, b in zip(left, right, strict=True)]
    )


def blurry_clip(path: Path, *, n: int = FRAMES) -> Path:
    return write_clip(path, [cv2.GaussianBlur(f, (0, 0), 4) for f in face_frames(0, n=n)])


def consent_document(path: Path, text: str = "signed consent form") -> Path:
    path.write_text(text, encoding="utf-8")
    return path
