"""DFDC-style perturbations, applied to real and fake videos alike so they never tell the label.

Each perturbation is one small function registered with its parameter defaults. A default
that is a two-number list is a range sampled per video (integers when both ends are
integers); anything else is a fixed value. A build spec may override any default; the
sampled values are recorded per video in the manifest, so every video can be reproduced.

>>> rng = np.random.default_rng(0)
>>> params = sample_params("blur", rng, {"sigma": [1.0, 2.0]})
>>> sorted(params)
['sigma']
>>> video = VideoFrames([np.zeros((64, 64, 3), np.uint8)] * 4, fps=30.0)
>>> apply_perturbations(video, [{"name": "blur", "params": params}]).frames[0].shape
(64, 64, 3)
"""

from __future__ import annotations

import inspect
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from unmask.errors import ConfigError, UnknownNameError, closest_names


@dataclass(frozen=True)
class VideoFrames:
    """Frames on their way to the encoder: RGB uint8, all the same size, with fps and CRF."""

    frames: list[np.ndarray]
    fps: float
    crf: int = 23

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> VideoFrames:
        return replace(self, frames=[fn(f) for f in self.frames])


Perturb = Callable[..., VideoFrames]


@dataclass(frozen=True)
class PerturbationSpec:
    name: str
    fn: Perturb
    stage: int  # 0 time, 1 geometry, 2 pixels, 3 overlays, 4 encoding
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, PerturbationSpec] = {}


def register_perturbation(
    name: str, *, stage: int, **defaults: Any
) -> Callable[[Perturb], Perturb]:
    """Register ``fn(video, **params) -> VideoFrames`` under ``name`` with parameter defaults."""

    def decorate(fn: Perturb) -> Perturb:
        if name in _REGISTRY:
            raise ValueError(f"perturbation {name!r} is registered twice")
        params = [p for p in inspect.signature(fn).parameters if p != "video"]
        if sorted(params) != sorted(defaults):
            raise ValueError(f"perturbation {name!r}: defaults {sorted(defaults)} != {params}")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = PerturbationSpec(name, fn, stage, dict(defaults), doc[0] if doc else "")
        return fn

    return decorate


def list_perturbations() -> list[str]:
    """Registered perturbation names, sorted."""
    return sorted(_REGISTRY)


def get_perturbation(name: str) -> PerturbationSpec:
    if name not in _REGISTRY:
        raise UnknownNameError("perturbation", name, _REGISTRY)
    return _REGISTRY[name]


def _is_range(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


def check_overrides(name: str, overrides: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for parameters the perturbation does not have."""
    spec = get_perturbation(name)
    for key, value in overrides.items():
        if key not in spec.defaults:
            close = closest_names(key, spec.defaults)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(spec.defaults)) or "none"
            raise ConfigError(
                f"perturbation {name!r} has no parameter {key!r}{hint} (parameters: {known})"
            )
        if _is_range(value) and value[0] > value[1]:
            raise ConfigError(f"perturbation {name!r}: range {key}={list(value)} is reversed")


def sample_params(
    name: str, rng: np.random.Generator, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Draw one value per parameter: ranges uniformly, fixed values as they are."""
    spec = get_perturbation(name)
    overrides = dict(overrides or {})
    check_overrides(name, overrides)
    out: dict[str, Any] = {}
    for key in sorted(spec.defaults):
        value = overrides.get(key, spec.defaults[key])
        if _is_range(value):
            lo, hi = value
            if isinstance(lo, int) and isinstance(hi, int):
                out[key] = int(rng.integers(lo, hi + 1))
            else:
                out[key] = round(float(rng.uniform(lo, hi)), 4)
        else:
            out[key] = value
    return out


def apply_perturbations(video: VideoFrames, applied: Sequence[Mapping[str, Any]]) -> VideoFrames:
    """Apply ``[{"name": ..., "params": {...}}, ...]`` in stage order (time, size, pixels,
    overlays, encoding), whatever order they are listed in."""
    ordered = sorted(applied, key=lambda a: (get_perturbation(a["name"]).stage, a["name"]))
    for item in ordered:
        video = get_perturbation(item["name"]).fn(video, **item["params"])
    return video


# -- time and geometry -----------------------------------------------------------------------


@register_perturbation("fps", stage=0, fps=15.0)
def change_fps(video: VideoFrames, *, fps: float) -> VideoFrames:
    """Lower the frame rate by dropping frames (never raises it)."""
    if fps <= 0:
        raise ConfigError(f"perturbation 'fps' needs fps > 0; got {fps}")
    if video.fps <= fps:
        return video
    n = max(1, int(len(video.frames) * fps / video.fps))
    keep = np.minimum((np.arange(n) * video.fps / fps).astype(int), len(video.frames) - 1)
    return replace(video, frames=[video.frames[i] for i in keep], fps=float(fps))


@register_perturbation("downscale", stage=1, factor=0.25)
def downscale(video: VideoFrames, *, factor: float) -> VideoFrames:
    """Shrink each side by ``factor`` (the DFDC test set used 1/4)."""
    if not 0 < factor <= 1:
        raise ConfigError(f"perturbation 'downscale' needs 0 < factor <= 1; got {factor}")
    h, w = video.frames[0].shape[:2]
    size = (max(16, round(w * factor / 2) * 2), max(16, round(h * factor / 2) * 2))
    return video.map(lambda f: cv2.resize(f, size, interpolation=cv2.INTER_AREA))


# -- pixels ----------------------------------------------------------------------------------


@register_perturbation("blur", stage=2, sigma=[0.5, 3.0])
def blur(video: VideoFrames, *, sigma: float) -> VideoFrames:
    """Gaussian blur with standard deviation ``sigma`` pixels."""
    return video.map(lambda f: cv2.GaussianBlur(f, (0, 0), sigmaX=float(sigma)))


@register_perturbation("noise", stage=2, sigma=[2.0, 12.0], seed=[0, 2**31 - 1])
def noise(video: VideoFrames, *, sigma: float, seed: int) -> VideoFrames:
    """Additive Gaussian noise (``sigma`` in 0-255 units), new noise every frame."""
    rng = np.random.default_rng(seed)

    def add(f: np.ndarray) -> np.ndarray:
        noisy = f.astype(np.float32) + rng.normal(0.0, sigma, f.shape).astype(np.float32)
        return np.clip(noisy, 0, 255).astype(np.uint8)

    return video.map(add)


@register_perturbation("brightness_contrast", stage=2, brightness=[-40, 40], contrast=[0.6, 1.4])
def brightness_contrast(video: VideoFrames, *, brightness: float, contrast: float) -> VideoFrames:
    """``out = (in - 128) * contrast + 128 + brightness``, clipped."""
    lut = np.clip((np.arange(256) - 128.0) * contrast + 128.0 + brightness, 0, 255)
    lut = lut.astype(np.uint8)
    return video.map(lambda f: lut[f])


# -- distractor overlays ---------------------------------------------------------------------


def _place(
    rng: np.random.Generator, frame_wh: tuple[int, int], box_wh: tuple[int, int]
) -> tuple[int, int]:
    (w, h), (bw, bh) = frame_wh, box_wh
    return int(rng.integers(0, max(1, w - bw + 1))), int(rng.integers(0, max(1, h - bh + 1)))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, 3))
    return r, g, b


@register_perturbation("text", stage=3, size=[0.04, 0.1], seed=[0, 2**31 - 1])
def text(video: VideoFrames, *, size: float, seed: int) -> VideoFrames:
    """A random caption (letters and digits), ``size`` a fraction of the frame height."""
    rng = np.random.default_rng(seed)
    alphabet = string.ascii_letters + string.digits + "    "
    caption = "".join(rng.choice(list(alphabet), int(rng.integers(4, 16)))).strip() or "abc"
    h, w = video.frames[0].shape[:2]
    scale = max(0.2, size * h / 22.0)  # Hershey simplex is ~22 px tall at scale 1
    thickness = max(1, round(scale * 1.5))
    (tw, th), _ = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = _place(rng, (w, h), (tw, th * 2))
    colour = _colour(rng)

    def draw(f: np.ndarray) -> np.ndarray:
        out = f.copy()
        cv2.putText(out, caption, (x, y + th), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness)
        return out

    return video.map(draw)


@register_perturbation("shapes", stage=3, count=[1, 4], seed=[0, 2**31 - 1])
def shapes(video: VideoFrames, *, count: int, seed: int) -> VideoFrames:
    """``count`` filled rectangles and circles in random colours at fixed places."""
    rng = np.random.default_rng(seed)
    h, w = video.frames[0].shape[:2]
    drawn = []
    for _ in range(int(count)):
        side = int(rng.integers(max(4, min(h, w) // 12), max(5, min(h, w) // 4)))
        x, y = _place(rng, (w, h), (side, side))
        drawn.append((bool(rng.integers(0, 2)), x, y, side, _colour(rng)))

    def draw(f: np.ndarray) -> np.ndarray:
        out = f.copy()
        for circle, x, y, side, colour in drawn:
            if circle:
                cv2.circle(out, (x + side // 2, y + side // 2), side // 2, colour, -1)
            else:
                cv2.rectangle(out, (x, y), (x + side, y + side), colour, -1)
        return out

    return video.map(draw)


@register_perturbation("flip", stage=3, scale=[0.2, 0.35], seed=[0, 2**31 - 1])
def flip(video: VideoFrames, *, scale: float, seed: int) -> VideoFrames:
    """A small mirrored copy of the video itself, in a corner."""
    rng = np.random.default_rng(seed)
    h, w = video.frames[0].shape[:2]
    bw, bh = max(2, round(w * scale)), max(2, round(h * scale))
    x = 0 if rng.integers(0, 2) else w - bw
    y = 0 if rng.integers(0, 2) else h - bh

    def draw(f: np.ndarray) -> np.ndarray:
        out = f.copy()
        small = cv2.resize(f[:, ::-1], (bw, bh), interpolation=cv2.INTER_AREA)
        out[y : y + bh, x : x + bw] = small
        return out

    return video.map(draw)


def _synthetic_image(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A gradient with a few shapes: a stand-in for an unrelated picture, with no person in it."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = _colour(rng), _colour(rng)
    t = (xs / max(w - 1, 1) + ys / max(h - 1, 1))[..., None] / 2
    img = (np.array(a, np.float32) * (1 - t) + np.array(b, np.float32) * t).astype(np.uint8)
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(max(2, min(w, h) // 10), max(3, min(w, h) // 3)))
        cv2.circle(img, (cx, cy), r, _colour(rng), -1)
    return img


def _image_files(folder: str) -> list[Path]:
    root = Path(folder)
    from unmask.media import IMAGE_EXTENSIONS

    files = sorted(p for p in root.glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ConfigError(f"perturbation 'image': no images found in {root}")
    return files


@register_perturbation(
    "image", stage=3, scale=[0.2, 0.4], alpha=[0.7, 1.0], seed=[0, 2**31 - 1], folder=None
)
def image(
    video: VideoFrames, *, scale: float, alpha: float, seed: int, folder: str | None
) -> VideoFrames:
    """Another picture over part of the frame: from ``folder``, else a generated one.

    Use a folder of pictures you own that show no people: a person in a distractor would be
    one more identity the consent ledger knows nothing about.
    """
    from unmask.media import read_image

    rng = np.random.default_rng(seed)
    h, w = video.frames[0].shape[:2]
    bw, bh = max(2, round(w * scale)), max(2, round(h * scale))
    if folder:
        files = _image_files(folder)
        picture = read_image(files[int(rng.integers(0, len(files)))])
        picture = cv2.resize(picture, (bw, bh), interpolation=cv2.INTER_AREA)
    else:
        picture = _synthetic_image(rng, bw, bh)
    x, y = _place(rng, (w, h), (bw, bh))
    top = picture.astype(np.float32) * alpha

    def draw(f: np.ndarray) -> np.ndarray:
        out = f.copy()
        region = out[y : y + bh, x : x + bw].astype(np.float32)
        out[y : y + bh, x : x + bw] = np.clip(region * (1 - alpha) + top, 0, 255).astype(np.uint8)
        return out

    return video.map(draw)


# -- encoding --------------------------------------------------------------------------------


@register_perturbation("crf", stage=4, crf=[28, 40])
def reencode(video: VideoFrames, *, crf: int) -> VideoFrames:
    """Encode at this H.264 constant rate factor (higher: stronger compression)."""
    if not 0 <= int(crf) <= 51:
        raise ConfigError(f"perturbation 'crf' needs 0 <= crf <= 51; got {crf}")
    return replace(video, crf=int(crf))
