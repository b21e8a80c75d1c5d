"""Limits that keep hostile or broken media from exhausting memory or time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from unmask.errors import MediaError, MediaLimitError


@dataclass(frozen=True)
class MediaLimits:
    """Upper (and lower) bounds checked before any pixel is decoded.

    The defaults admit 8K video and 100-megapixel photos; a PNG header that claims
    50000x50000 pixels is refused from its header alone.
    """

    max_file_bytes: int = 8 * 1024**3
    max_image_pixels: int = 100_000_000
    max_frame_pixels: int = 7680 * 4320
    max_duration_s: float = 4 * 3600.0
    min_side: int = 16

    def check_file(self, path: Path, *, what: type[MediaError] = MediaError) -> int:
        """Return the file size after checking it exists, is readable, non-empty and small enough."""
        try:
            st = path.stat()
        except FileNotFoundError:
            raise what(path, "no such file; check the path") from None
        except PermissionError:
            raise what(path, "permission denied; check the file's permissions") from None
        if path.is_dir():
            raise what(path, "is a directory; expected a video or image file")
        if not os.access(path, os.R_OK):
            raise what(path, "permission denied; check the file's permissions")
        if st.st_size == 0:
            raise what(path, "file is empty (0 bytes)")
        if st.st_size > self.max_file_bytes:
            raise MediaLimitError(
                path,
                f"file is {st.st_size / 1024**3:.1f} GiB; the limit is "
                f"{self.max_file_bytes / 1024**3:.1f} GiB (raise MediaLimits.max_file_bytes)",
            )
        return st.st_size

    def check_size(self, path: Path, width: int, height: int, *, image: bool) -> None:
        """Refuse frames or images that are too small to hold a face or too large to decode."""
        limit = self.max_image_pixels if image else self.max_frame_pixels
        if width * height > limit:
            raise MediaLimitError(
                path,
                f"{width}x{height} is {width * height / 1e6:.0f} megapixels; the limit is "
                f"{limit / 1e6:.0f} (raise MediaLimits.max_{'image' if image else 'frame'}_pixels)",
            )
        if min(width, height) < self.min_side:
            raise MediaLimitError(
                path,
                f"{width}x{height} is too small to hold a face; expected at least "
                f"{self.min_side} pixels on each side",
            )


DEFAULT_LIMITS = MediaLimits()
