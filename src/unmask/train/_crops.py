"""Reading labelled face-crop folders such as ../shared/data/ffpp_crops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unmask.errors import DatasetError
from unmask.media import IMAGE_EXTENSIONS

REAL_FOLDERS = frozenset({"youtube", "original", "real", "actors"})


@dataclass(frozen=True)
class CropSet:
    """Parallel lists of crop files, labels (1 = fake) and method names."""

    files: list[Path]
    labels: np.ndarray
    methods: list[str]

    def __len__(self) -> int:
        return len(self.files)


def read_crop_folder(root: Path, split: str) -> CropSet:
    """``root/<split>/<method>/*.jpg``; a folder named youtube/original/real is REAL.

    >>> read_crop_folder(Path("ffpp_crops"), "train")  # doctest: +SKIP
    """
    base = root / split
    if not base.is_dir():
        raise DatasetError(f"{base}: no such folder; expected {root}/<split>/<method>/*.jpg")
    files: list[Path] = []
    labels: list[int] = []
    methods: list[str] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        for f in sorted(folder.iterdir(), key=lambda p: (len(p.name), p.name)):
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(f)
                labels.append(0 if folder.name.lower() in REAL_FOLDERS else 1)
                methods.append("real" if folder.name.lower() in REAL_FOLDERS else folder.name)
    if not files:
        raise DatasetError(f"{base}: no images found under its method folders")
    if len(set(labels)) < 2:
        raise DatasetError(
            f"{base}: needs both real (youtube/original/real) and fake method folders"
        )
    return CropSet(files, np.asarray(labels, np.int64), methods)
