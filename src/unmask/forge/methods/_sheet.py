"""Contact sheets: rows of original | fake | |difference| for a quick visual check."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from unmask._io import atomic_write_bytes


def write_contact_sheet(
    original: Sequence[np.ndarray],
    fake: Sequence[np.ndarray],
    path: str | Path,
    *,
    n: int = 4,
    tile: int = 320,
    gain: float = 4.0,
    frames: Sequence[int] | None = None,
) -> Path:
    """Write a PNG with ``n`` rows (evenly spaced frames) of original | fake | |difference|.

    The difference is the per-pixel absolute difference summed over channels, times
    ``gain`` (so faint changes show), in grey. Tiles are scaled to ``tile`` px wide. Pass
    ``frames`` to choose the rows yourself. The file is written atomically.

    >>> write_contact_sheet(clip.frames, result.frames, "swap.png")  # doctest: +SKIP
    PosixPath('swap.png')
    """
    if len(original) != len(fake) or not len(original):
        raise ValueError(
            f"need the same number of original and fake frames, at least one; "
            f"got {len(original)} and {len(fake)}"
        )
    if frames is None:
        count = max(1, min(n, len(original)))
        frames = np.unique(np.linspace(0, len(original) - 1, count).round().astype(int)).tolist()
    rows = []
    for i in frames:
        a, b = original[i], fake[i]
        if a.shape != b.shape:
            raise ValueError(f"frame {i}: original {a.shape} and fake {b.shape} differ in size")
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).sum(2).astype(np.float32)
        grey = np.clip(diff * gain / 3.0, 0, 255).astype(np.uint8)
        row = np.concatenate([a, b, np.repeat(grey[..., None], 3, axis=2)], axis=1)
        scale = 3 * tile / row.shape[1]
        size = (3 * tile, max(1, round(row.shape[0] * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        rows.append(cv2.resize(row, size, interpolation=interp))
    sheet = np.concatenate(rows, axis=0)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode the contact sheet for {path}")
    path = Path(path)
    atomic_write_bytes(path, png.tobytes())
    return path
