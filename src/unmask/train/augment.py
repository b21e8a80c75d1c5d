"""Degradations that imitate what real videos go through: re-compression (JPEG and
H.264 at a random CRF), down/up-scaling, blur, noise and colour changes. Applied to real
and fake faces alike so that none of them carries the label."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else img


def h264(img: np.ndarray, crf: int) -> np.ndarray:
    """One frame through libx264 (as an I-frame) at ``crf`` and back."""
    h, w = img.shape[:2]
    h2, w2 = h - h % 2, w - w % 2
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h2, :w2]), format="rgb24")
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = w2, h2, "yuv420p"
    codec.time_base = Fraction(1, 25)
    codec.options = {"crf": str(int(crf)), "preset": "ultrafast", "tune": "zerolatency"}
    packets = [*codec.encode(frame.reformat(format="yuv420p")), *codec.encode(None)]
    decoder = av.CodecContext.create("h264", "r")
    out = None
    for packet in packets:
        for decoded in decoder.decode(packet):
            out = decoded.to_ndarray(format="rgb24")
    for decoded in decoder.decode(None):
        out = decoded.to_ndarray(format="rgb24")
    if out is None:
        return img
    result = img.copy()
    result[:h2, :w2] = out
    return result


def rescale(img: np.ndarray, factor: float) -> np.ndarray:
    h, w = img.shape[:2]
    small = cv2.resize(
        img, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def colour(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    out = (out - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-20, 20)
    grey = out.mean(axis=2, keepdims=True)
    out = grey + (out - grey) * rng.uniform(0.7, 1.3)
    return np.clip(out, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Degradations:
    """Probabilities and ranges of each degradation (each applied independently)."""

    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (30, 100)
    p_h264: float = 0.3
    h264_crf: tuple[int, int] = (18, 40)
    p_rescale: float = 0.3
    rescale_factor: tuple[float, float] = (0.3, 0.9)
    p_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    p_noise: float = 0.2
    noise_sigma: tuple[float, float] = (1.0, 8.0)
    p_colour: float = 0.3

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.p_colour:
            img = colour(img, rng)
        if rng.random() < self.p_rescale:
            img = rescale(img, float(rng.uniform(*self.rescale_factor)))
        if rng.random() < self.p_blur:
            img = blur(img, float(rng.uniform(*self.blur_sigma)))
        if rng.random() < self.p_noise:
            img = noise(img, float(rng.uniform(*self.noise_sigma)), rng)
        if rng.random() < self.p_h264:
            img = h264(img, int(rng.integers(self.h264_crf[0], self.h264_crf[1] + 1)))
        if rng.random() < self.p_jpeg:
            img = jpeg(img, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        return img
