"""Regenerate the demo media in src/unmask/samples/ from public-domain images in scikit-image.

    python tools/make_samples.py

- astronaut.jpg          NASA portrait of Eileen Collins (public domain), REAL
- astronaut_pan.mp4      a slow pan/zoom over that photo, REAL (camera motion only)
- astronaut_swapped.mp4  the same clip with the face region replaced every frame by a
                         low-resolution, colour-shifted re-rendering of itself, blended in
                         with a soft elliptical mask (the artefacts of an autoencoder face
                         swap), MANIPULATED
- coffee.jpg             a cup of coffee (CC0), no face

Deterministic (fixed seed); needs the dev extra (scikit-image).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from unmask.faces import RetinaFace
from unmask.media import VideoWriter

OUT = Path(__file__).resolve().parents[1] / "src" / "unmask" / "samples"
W, H, FPS, SECONDS = 480, 270, 25, 3


def _frames(photo: np.ndarray) -> list[np.ndarray]:
    """Pan and zoom a 16:9 window over the square photo."""
    frames = []
    n = FPS * SECONDS
    for i in range(n):
        t = i / (n - 1)
        zoom = 1.0 + 0.15 * np.sin(np.pi * t)
        cw, ch = 512 / zoom, 288 / zoom
        cx = 256 + 20 * np.sin(2 * np.pi * t)
        cy = 150 + 10 * t
        m = np.array(
            [[W / cw, 0, -(cx - cw / 2) * W / cw], [0, H / ch, -(cy - ch / 2) * H / ch]], np.float32
        )
        frames.append(
            cv2.warpAffine(photo, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        )
    return frames


def _swap(frame: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x1, y1, x2, y2 = box.astype(int)
    w, h = x2 - x1, y2 - y1
    face = frame[y1:y2, x1:x2].astype(np.float32)
    small = cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA)  # the "generator's" resolution
    small = cv2.GaussianBlur(small, (3, 3), 0.8)
    render = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    render = render * np.array([1.06, 0.97, 0.93]) + rng.normal(0, 1.5, 3)  # colour mismatch
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, int(h * 0.55)), (int(w * 0.38), int(h * 0.45)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(w, h) * 0.04)[..., None]
    out = frame.copy()
    out[y1:y2, x1:x2] = np.clip(face * (1 - mask) + render * mask, 0, 255).astype(np.uint8)
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    photo = data.astronaut()
    cv2.imwrite(
        str(OUT / "astronaut.jpg"),
        cv2.cvtColor(photo, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, 90],
    )
    coffee = cv2.resize(data.coffee(), (400, 267), interpolation=cv2.INTER_AREA)
    cv2.imwrite(
        str(OUT / "coffee.jpg"),
        cv2.cvtColor(coffee, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, 85],
    )
    frames = _frames(photo)
    with VideoWriter(OUT / "astronaut_pan.mp4", fps=FPS, crf=23) as w:
        for f in frames:
            w.write(f)
    detector = RetinaFace()
    rng = np.random.default_rng(0)
    dets = detector.detect(frames)
    with VideoWriter(OUT / "astronaut_swapped.mp4", fps=FPS, crf=23) as w:
        for f, d in zip(frames, dets, strict=True):
            w.write(_swap(f, d.boxes_xyxy[int(np.argmax(d.scores))], rng) if len(d) else f)
    for p in sorted(OUT.iterdir()):
        print(f"{p.name}: {p.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
