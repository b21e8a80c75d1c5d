"""Scan speed against the physical floor: decoding every frame of the same video.

    python bench/scan_speed.py [--frames 32] [--repeat 3] [--detectors default,ensemble]

``--detectors`` takes registered names and exported ``<name>.json`` files (from ``unmask
train``), as bench/accuracy.py does.

Generates a 10-s 1080p30 H.264 clip with a moving face (x264 defaults, B-frames, like DFDC
videos), then measures in this run:
  (a) PyAV decoding all frames (frame threading on), the baseline;
  (b) Scanner.scan end to end with N sampled frames (models already loaded), per stage
      (detection and classification overlap decoding, so stages add up to more than b);
and prints b/a and seconds per video. With ../shared/data/ffpp_c40 present it also prints
videos per minute over those 60 videos. Medians over --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

import av
import cv2
import numpy as np

from accuracy import from_export  # bench/ is the script's folder, so on sys.path
from unmask.media import VideoWriter, read_image
from unmask.scanner import Scanner

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def make_clip(path: Path, seconds: int = 10, fps: int = 30) -> Path:
    """A face moving over a panning, detailed background with camera-like grain. The
    grain and detail matter: DFDC's 10-s 1080p videos are about 4 MB, and a clip that
    compresses to 1 MB decodes unrealistically fast, which flatters neither side fairly."""
    face = read_image(Path(str(resources.files("unmask") / "samples" / "astronaut.jpg")))
    face = cv2.resize(face[0:300, 100:360], (390, 450))
    rng = np.random.default_rng(0)
    pan = 2 * seconds * fps
    background = cv2.resize(
        rng.integers(40, 210, (270, 480, 3), dtype=np.uint8),
        (1920 + pan, 1080),
        interpolation=cv2.INTER_CUBIC,
    )
    with VideoWriter(path, fps=fps, crf=23, preset="medium") as w:
        for i in range(seconds * fps):
            frame = background[:, 2 * i : 2 * i + 1920].copy()
            x = 600 + int(300 * np.sin(i / 40))
            y = 300 + int(60 * np.cos(i / 25))
            frame[y : y + 450, x : x + 390] = face
            grain = rng.normal(0, 4, (1080, 1920, 3)).astype(np.int16)
            w.write(np.clip(frame.astype(np.int16) + grain, 0, 255).astype(np.uint8))
    return path


def decode_all(path: Path) -> float:
    start = time.perf_counter()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        n = sum(1 for _ in c.decode(stream))
    assert n > 0
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--detectors",
        default="default,ensemble",
        help="comma-separated detectors (registered names or exported .json files), each "
        "timed against the same decode baseline",
    )
    parser.add_argument(
        "--no-fast-decode", action="store_true", help="decode every frame (no skipping)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "face_1080p_10s.mp4")
        mbytes = clip.stat().st_size / 1e6
        print(
            f"clip: 10 s, 1920x1080, 30 fps, H.264 (x264 medium, crf 23), {mbytes:.1f} MB "
            f"({8 * mbytes / 10:.1f} Mbit/s); {args.frames} frames scanned"
        )
        scanners = []
        for name in args.detectors.split(","):
            t = time.perf_counter()
            detector = from_export(Path(name)) if name.endswith(".json") else name
            scanner = Scanner(detector, frames=args.frames, fast_decode=not args.no_fast_decode)
            print(f"{scanner.detector.name}: models loaded in {time.perf_counter() - t:.2f} s")
            scanner.scan(clip)  # warm-up (onnxruntime allocations)
            scanners.append(scanner)
        decode_times: list[float] = []
        scan_times: list[list[float]] = [[] for _ in scanners]
        stages: list[list[dict[str, float]]] = [[] for _ in scanners]
        for _ in range(args.repeat):  # interleaved, so that load changes hit every row alike
            decode_times.append(decode_all(clip))
            for k, scanner in enumerate(scanners):
                r = scanner.scan(clip)
                assert r.status == "ok", r.error
                scan_times[k].append(r.timings["total"])
                stages[k].append(r.timings)
        a = statistics.median(decode_times)
        print(f"(a) PyAV decode of all 300 frames (baseline): {a:.3f} s")
        for k, scanner in enumerate(scanners):
            b = statistics.median(scan_times[k])
            print(
                f"(b) scan with {scanner.detector.name}: {b:.3f} s per video, ratio b/a = "
                f"{b / a:.2f}  (targets: <= 1.3, < 2.5 s)"
            )
            # detect, crop and classify run on a second thread while decoding goes on;
            # after_decode is the wait for that thread once the last frame was decoded
            for stage in ("decode", "detect", "crop", "classify", "after_decode", "aggregate"):
                median = statistics.median(s.get(stage, 0.0) for s in stages[k])
                print(f"    {stage:<12} {median:.3f} s")
    c40 = SHARED / "ffpp_c40"
    if c40.is_dir():
        videos = sorted(c40.rglob("*.mp4"))
        for scanner in scanners:
            start = time.perf_counter()
            for v in videos:
                scanner.scan(v)
            elapsed = time.perf_counter() - start
            print(
                f"ffpp_c40 with {scanner.detector.name}: {len(videos)} videos in {elapsed:.1f} s "
                f"= {60 * len(videos) / elapsed:.1f} videos/min"
            )


if __name__ == "__main__":
    main()
