"""The ``Faces`` value object: face crops and their detections as parallel arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np


def _check(name: str, value: np.ndarray, shape: tuple[int | None, ...], n: int) -> None:
    want = (
        "("
        + ", ".join("n" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(shape))
        + ")"
    )
    if value.ndim != len(shape) or value.shape[0] != n:
        raise ValueError(f"{name} must have shape {want} with n={n}; got {value.shape}")
    for axis, dim in enumerate(shape[1:], start=1):
        if dim is not None and value.shape[axis] != dim:
            raise ValueError(f"{name} must have shape {want}; got {value.shape}")


@dataclass(frozen=True, eq=False)
class Faces:
    """``n`` face crops with where they came from, in the style of ``supervision.Detections``.

    Fields (all of length n): ``crops`` (n, H, W, 3) uint8 RGB; ``boxes_xyxy`` (n, 4) float32
    in frame pixels; ``frame_index`` (n,) index into the sampled frames; ``track_id`` (n,)
    face track; ``score`` (n,) detection confidence; ``landmarks`` (n, 5, 2) float32 in frame
    pixels (eyes, nose tip, mouth corners).

    >>> faces = Faces.empty(crop_size=64)
    >>> len(faces), faces.crops.shape
    (0, (0, 64, 64, 3))
    """

    crops: np.ndarray
    boxes_xyxy: np.ndarray
    frame_index: np.ndarray
    track_id: np.ndarray
    score: np.ndarray
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        coerce = {
            "crops": np.uint8,
            "boxes_xyxy": np.float32,
            "frame_index": np.int64,
            "track_id": np.int64,
            "score": np.float32,
            "landmarks": np.float32,
        }
        for name, dtype in coerce.items():
            value = getattr(self, name)
            if name == "crops" and isinstance(value, np.ndarray) and value.dtype != np.uint8:
                raise ValueError(f"crops must be uint8 RGB; got dtype {value.dtype}")
            object.__setattr__(self, name, np.asarray(value, dtype=dtype))
        n = self.crops.shape[0] if self.crops.ndim else -1
        _check("crops", self.crops, (None, None, None, 3), n)
        _check("boxes_xyxy", self.boxes_xyxy, (None, 4), n)
        _check("frame_index", self.frame_index, (None,), n)
        _check("track_id", self.track_id, (None,), n)
        _check("score", self.score, (None,), n)
        _check("landmarks", self.landmarks, (None, 5, 2), n)

    def __len__(self) -> int:
        return int(self.crops.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Faces:
        """Select faces by slice, integer array or boolean mask (always returns ``Faces``)."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if int(index) != -1 else None)
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise IndexError(f"boolean mask must have shape ({len(self)},); got {index.shape}")
        return Faces(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def crop_size(self) -> tuple[int, int]:
        return int(self.crops.shape[1]), int(self.crops.shape[2])

    @classmethod
    def empty(cls, crop_size: int | tuple[int, int] = 224) -> Faces:
        h, w = (crop_size, crop_size) if isinstance(crop_size, int) else crop_size
        return cls(
            crops=np.zeros((0, h, w, 3), np.uint8),
            boxes_xyxy=np.zeros((0, 4), np.float32),
            frame_index=np.zeros(0, np.int64),
            track_id=np.zeros(0, np.int64),
            score=np.zeros(0, np.float32),
            landmarks=np.zeros((0, 5, 2), np.float32),
        )

    @classmethod
    def concat(cls, parts: Sequence[Faces]) -> Faces:
        """Join several ``Faces`` (crop sizes must match)."""
        if not parts:
            raise ValueError("Faces.concat needs at least one Faces object")
        sizes = {p.crop_size for p in parts if len(p)}
        if len(sizes) > 1:
            raise ValueError(f"cannot concat Faces with different crop sizes: {sorted(sizes)}")
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    def summary(self) -> dict[str, Any]:
        return {
            "n": len(self),
            "tracks": sorted(set(self.track_id.tolist())),
            "crop_size": self.crop_size,
        }
