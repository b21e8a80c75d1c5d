"""Still images through Pillow (JPEG, PNG, WebP, BMP, TIFF)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from unmask.errors import ImageReadError, MediaLimitError
from unmask.media._limits import DEFAULT_LIMITS, MediaLimits


def read_image(path: str | Path, *, limits: MediaLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Read an image as RGB uint8 (H, W, 3), with its EXIF orientation applied.

    The pixel count is checked from the header before anything is decoded, so a file that
    claims 50000x50000 pixels is refused without allocating memory.

    >>> rgb = read_image("portrait.jpg")  # doctest: +SKIP
    >>> rgb.shape, rgb.dtype              # doctest: +SKIP
    ((1024, 768, 3), dtype('uint8'))
    """
    path = Path(path)
    limits.check_file(path, what=ImageReadError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as source:
                width, height = source.size
                limits.check_size(path, width, height, image=True)
                source.draft("RGB", (width, height))
                im: Image.Image = ImageOps.exif_transpose(source)
                if im.mode != "RGB":
                    im = _to_rgb(im)
                rgb = np.asarray(im, dtype=np.uint8)
    except UnidentifiedImageError:
        raise ImageReadError(
            path, "not a recognised image format (JPEG, PNG, WebP, BMP, TIFF)"
        ) from None
    except Image.DecompressionBombError as err:
        claimed = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(claimed.group(1)) / 1e6:.0f} megapixels" if claimed else "too many pixels"
        raise MediaLimitError(
            path, f"its header claims {size}; refused before decoding (a decompression bomb?)"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(path, f"corrupt or truncated image ({err})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageReadError(path, f"decoded to shape {rgb.shape}; expected (H, W, 3)")
    return np.ascontiguousarray(rgb)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Flatten transparency onto white and convert any mode (L, P, CMYK, I;16) to RGB."""
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    if im.mode.startswith("I;16") or im.mode == "I":
        arr = np.asarray(im, dtype=np.float32)
        scale = 255.0 / max(float(arr.max()), 1.0)
        return Image.fromarray((arr * scale).astype(np.uint8)).convert("RGB")
    return im.convert("RGB")
