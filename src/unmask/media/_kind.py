"""Tell videos from images by extension, falling back to the file's first bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".3gp",
        ".ts",
    }
)
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS

MediaKind = Literal["video", "image"]

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*")


def media_kind(path: str | Path) -> MediaKind:
    """``"image"`` or ``"video"``: by extension, else by magic bytes (default ``"video"``).

    >>> media_kind("face.JPG")
    'image'
    """
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return "video"
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    return "video"


def is_media_path(path: str | Path) -> bool:
    """True when the extension is one unmask scans when walking a folder."""
    return Path(path).suffix.lower() in MEDIA_EXTENSIONS
