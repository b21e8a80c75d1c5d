from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests._media import write_png_header
from unmask.errors import ImageReadError, MediaLimitError
from unmask.media import media_kind, read_image


def test_reads_jpeg_png_webp(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    for ext in ("jpg", "png", "webp"):
        Image.fromarray(rgb).save(tmp_path / f"a.{ext}")
        out = read_image(tmp_path / f"a.{ext}")
        assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    im = Image.new("RGB", (60, 40), "black")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    im.save(tmp_path / "o.jpg", exif=exif)
    assert read_image(tmp_path / "o.jpg").shape == (60, 40, 3)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK"])
def test_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    im = Image.new(mode, (32, 24))
    path = tmp_path / ("m.tiff" if mode in ("I;16", "CMYK") else "m.png")
    im.save(path)
    assert read_image(path).shape == (24, 32, 3)


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = write_png_header(tmp_path / "bomb.png", 50000, 50000)
    with pytest.raises(MediaLimitError, match="2500 megapixels"):
        read_image(path)


def test_one_pixel_image_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(MediaLimitError, match="too small to hold a face"):
        read_image(tmp_path / "dot.png")


def test_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_bytes(b"hello world, not a jpeg")
    with pytest.raises(ImageReadError, match="not a recognised image format"):
        read_image(tmp_path / "x.jpg")


def test_media_kind_sniffs_unknown_extensions(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "noext", format="PNG")
    assert media_kind(tmp_path / "noext") == "image"
    assert media_kind("clip.MOV") == "video"
