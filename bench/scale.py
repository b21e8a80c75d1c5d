"""Corpus throughput: one process, a local process pool and a Dask cluster, on the same corpus.

    python bench/scale.py [--videos 24] [--seconds 3] [--height 720] [--frames 32] [--workers 2]
                          [--detector default]

Generates a corpus of short H.264 clips with a moving face (x264, B-frames, like DFDC),
then scans all of it, in this run, with the same code path as `unmask scan --output`
(results store and all):
  (a) 1 process (`unmask scan`), the baseline;
  (b) `--workers N` (a local process pool);
  (c) Dask: a LocalCluster of N worker processes with one thread each, started beforehand
      (a cluster is already running when a user scans with --cluster);
and prints videos per minute, the speed-up over (a), whether the three outputs are identical,
the per-video cost by stage (from ScanResult.timings) and the machine load before and after.
Wall-clock times include loading the models in every worker, as a real run does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from unmask.batch import collect_inputs, submission_text
from unmask.detectors import resolve_detector_name
from unmask.media import VideoWriter, read_image
from unmask.scale import ResultStore
from unmask.scale.scan import scan_inputs

STAGES = ("decode", "detect", "crop", "classify", "after_decode", "aggregate", "total")
DFDC_TRAIN_VIDEOS = 119_000


def make_corpus(root: Path, n: int, seconds: float, height: int, fps: int = 30) -> list[Path]:
    """``n`` clips of ``seconds`` at 16:9 ``height``; the face's size and path vary per clip."""
    width = height * 16 // 9
    face_src = read_image(Path(str(resources.files("unmask") / "samples" / "astronaut.jpg")))
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        rng = np.random.default_rng(k)
        fh = int(height * rng.uniform(0.3, 0.45))
        face = cv2.resize(face_src[0:300, 100:360], (fh * 26 // 30, fh))
        small = rng.integers(40, 210, (9, 16, 3), dtype=np.uint8)
        background = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        path = root / f"clip_{k:03d}.mp4"
        with VideoWriter(path, fps=fps, crf=23) as w:
            for i in range(int(seconds * fps)):
                frame = np.roll(background, 2 * i, axis=1).copy()
                x = int((width - face.shape[1]) * (0.5 + 0.3 * np.sin(i / 30 + k)))
                y = int((height - fh) * (0.5 + 0.2 * np.cos(i / 20 + k)))
                frame[y : y + fh, x : x + face.shape[1]] = face
                noise = rng.integers(-3, 4, (height, width, 1), dtype=np.int16)
                w.write(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


def timed_scan(
    corpus: Path, store_path: Path, frames: int, detector: str, **mode: object
) -> tuple[float, str, list[dict[str, float]]]:
    """Scan the corpus with a fresh store: wall seconds, the CSV text, per-video timings."""
    inputs, _ = collect_inputs([corpus])
    with ResultStore(store_path, fresh=True) as store:
        start = time.perf_counter()
        run = scan_inputs(
            inputs,
            store,
            detector=detector,
            frames=frames,
            show_progress=False,
            **mode,  # type: ignore[arg-type]
        )
        seconds = time.perf_counter() - start
        rows = list(run.rows)
    bad = [r.input.filename for r in rows if r.result.status != "ok"]
    if bad:
        raise SystemExit(f"bench corpus did not scan cleanly: {bad}")
    return seconds, submission_text(rows), [r.result.timings for r in rows]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="local processes and Dask workers")
    parser.add_argument("--detector", default="default")
    args = parser.parse_args()
    from distributed import LocalCluster

    print(f"before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        t = time.perf_counter()
        make_corpus(corpus, args.videos, args.seconds, args.height)
        print(
            f"corpus: {args.videos} clips, {args.seconds:g} s, {args.height * 16 // 9}x{args.height}, "
            f"30 fps, H.264 crf 23 (made in {time.perf_counter() - t:.0f} s); {args.frames} frames "
            f"sampled; detector {resolve_detector_name(args.detector)}"
        )
        n = args.workers
        with LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            modes: list[tuple[str, Callable[[], tuple[float, str, list[dict[str, float]]]]]] = [
                (
                    "(a) 1 process",
                    lambda: timed_scan(corpus, Path(tmp) / "a", args.frames, args.detector),
                ),
                (
                    f"(b) --workers {n}",
                    lambda: timed_scan(
                        corpus, Path(tmp) / "b", args.frames, args.detector, workers=n
                    ),
                ),
                (
                    f"(c) Dask, {n} local workers x 1 thread",
                    lambda: timed_scan(
                        corpus,
                        Path(tmp) / "c",
                        args.frames,
                        args.detector,
                        cluster=cluster.scheduler_address,
                    ),
                ),
            ]
            results = [(name, *run()) for name, run in modes]
    base_s = results[0][1]
    print(f"{'mode':<40} {'seconds':>8} {'videos/min':>11} {'speed-up':>9}")
    for name, seconds, _, _ in results:
        print(
            f"{name:<40} {seconds:>8.1f} {60 * args.videos / seconds:>11.1f} {base_s / seconds:>8.2f}x"
        )
    same = len({csv for _, _, csv, _ in results}) == 1
    print(f"outputs identical across the three modes: {'yes' if same else 'NO'}")
    timings = results[0][3]
    print("per-video cost, 1 process (median seconds; models already loaded):")
    for stage in STAGES:
        print(f"    {stage:<12} {statistics.median(t.get(stage, 0.0) for t in timings):.3f}")
    overhead = base_s / args.videos - statistics.mean(t["total"] for t in timings)
    print(f"    {'other':<12} {overhead:.3f}  (model loading, store writes, listing; per video)")
    per_core = 60 * args.videos / results[1][1] / n
    print(
        f"measured with --workers {n}: {per_core:.1f} videos/min per core. Extrapolation to "
        f"{DFDC_TRAIN_VIDEOS:,} such videos, assuming linear scaling:"
    )
    for machines, cores in ((1, 8), (4, 16), (16, 32)):
        hours = DFDC_TRAIN_VIDEOS / (per_core * machines * cores) / 60
        print(f"    {machines:>3} x {cores:>2} cores: {hours:7.1f} h")
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
