"""Media the tests make themselves (no research data needed)."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import cv2
import numpy as np

from unmask.media import VideoWriter, read_image

SAMPLES = Path(str(resources.files("unmask") / "samples"))


def astronaut() -> np.ndarray:
    """The public-domain NASA portrait bundled as a demo sample (512x512 RGB)."""
    return read_image(SAMPLES / "astronaut.jpg")


def astronaut_photos(folder: Path, n: int = 6, name: str = "p{i}.jpg") -> Path:
    """``n`` photos of the astronaut, each rotated and scaled a little (a tiny training set);
    ``name`` is formatted with the index ``i``."""
    folder.mkdir(parents=True, exist_ok=True)
    img = astronaut()
    for i in range(n):
        m = cv2.getRotationMatrix2D((256, 256), i * 4 - 10, 1.0 - i * 0.05)
        cv2.imwrite(
            str(folder / name.format(i=i)),
            cv2.cvtColor(cv2.warpAffine(img, m, (512, 512)), cv2.COLOR_RGB2BGR),
        )
    return folder


def numbered_frames(n: int, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    """Frames whose mean brightness encodes their index (i * 8), easy to recognise after coding."""
    w, h = size
    return [np.full((h, w, 3), min(255, 8 * i), np.uint8) for i in range(n)]


def write_video(path: Path, frames: list[np.ndarray], *, fps: float = 25.0, **kw: object) -> Path:
    with VideoWriter(path, fps=fps, crf=kw.pop("crf", 18), **kw) as w:  # type: ignore[arg-type]
        for f in frames:
            w.write(f)
    return path


def face_clip(
    path: Path, *, n: int = 12, size: tuple[int, int] = (320, 240), fps: float = 10.0
) -> Path:
    """The astronaut's face drifting across a grey frame."""
    face = cv2.resize(astronaut()[30:230, 150:310], (110, 138))
    w, h = size
    frames = []
    for i in range(n):
        frame = np.full((h, w, 3), 128, np.uint8)
        x = 30 + (w - 200) * i // max(n - 1, 1)
        frame[50 : 50 + 138, x : x + 110] = face
        frames.append(frame)
    return write_video(path, frames, fps=fps)


def write_vfr_video(path: Path, frames: list[np.ndarray], times_s: list[float]) -> Path:
    """A variable-frame-rate H.264 file: frame i is shown at times_s[i]."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuv420p"
        s.time_base = Fraction(1, 1000)
        s.codec_context.time_base = Fraction(1, 1000)
        for f, t in zip(frames, times_s, strict=True):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = round(t * 1000)
            vf.time_base = Fraction(1, 1000)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def write_audio_only_mp4(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        samples = np.zeros((1, 1024), np.float32)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def write_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height but whose data is tiny (a decompression bomb shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path
