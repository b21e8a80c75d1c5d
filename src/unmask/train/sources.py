"""Training sources from folders: labelled crop folders, folders of real videos or photos."""

from __future__ import annotations

from pathlib import Path

from unmask.errors import DatasetError
from unmask.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from unmask.train._crops import REAL_FOLDERS
from unmask.train.faceset import Source, identity_from_name


def _files(root: Path, extensions: frozenset[str]) -> list[Path]:
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in extensions)
    if not files:
        raise DatasetError(f"{root}: no files with extensions {', '.join(sorted(extensions))}")
    return files


def crop_folder_sources(root: Path, split: str, *, group: str = "ffpp_crops") -> list[Source]:
    """``root/<split>/<method>/*.jpg``: youtube/original/real folders are REAL, others FAKE.

    The FF++ crops record no video id, so each crop is its own "identity"; keep their own
    train/test split (a validation split cut from train is not identity-disjoint).
    """
    base = root / split
    sources = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        real = folder.name.lower() in REAL_FOLDERS
        for f in _files(folder, IMAGE_EXTENSIONS):
            sources.append(
                Source(
                    f,
                    0 if real else 1,
                    "real" if real else folder.name,
                    f"{group}:{split}:{folder.name}/{f.stem}",
                    group,
                )
            )
    if not sources:
        raise DatasetError(f"{base}: expected method folders of crops (youtube/, Deepfakes/, ...)")
    return sources


def real_video_sources(root: Path, *, group: str = "real_videos") -> list[Source]:
    """Every video under ``root`` as REAL, identity from its name (see identity_from_name)."""
    return [
        Source(f, 0, "real", identity_from_name(f.name), group)
        for f in _files(root, VIDEO_EXTENSIONS)
    ]


def real_photo_sources(root: Path, *, group: str = "real_photos") -> list[Source]:
    """Every image under ``root`` as REAL; each photo its own identity."""
    return [
        Source(f, 0, "real", f"{group}:{f.stem}", group) for f in _files(root, IMAGE_EXTENSIONS)
    ]
