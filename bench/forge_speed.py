"""Forge speed on this CPU: frames per second of each generation method at 720p.

Every speed is also given as a ratio to a baseline measured in the same run on the same
frames: decoding plus H.264-encoding the clip (``iter_frames`` + ``VideoWriter``), the
I/O that any forge job pays anyway. A ratio of 2.0 means the method runs twice as fast as
that I/O.

Reported:
- ``landmarks``: the 468-point face mesh (``FaceMesh``), which every method needs first;
- each registered method's ``generate`` on a clip with landmarks already computed; for
  ``dfae`` that is inference with an already trained model (a short training run first);
- ``dfae`` training speed: steps/s, faces/s and steps in 20 minutes at the default size;
- the time to build a 20-video dataset (10 reals, 10 fakes) from ../shared/data/real_videos,
  each clip as a consenting actor (``bench/_forge_build.py``; ``--build-clips 0`` skips it).

The footage is generated (the packaged astronaut sample photo moving across a 1280x720
frame, face ~270 px tall) unless ``--target`` and ``--source`` name videos.

    python bench/forge_speed.py                        # synthetic 720p clips
    python bench/forge_speed.py --target a.mp4 --source b.mp4 --frames 60 --out /tmp/speed
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

BASELINE = "decode+encode (baseline)"
SHARED = Path(
    os.environ.get("UNMASK_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)


def synthetic_footage(
    n: int, *, width: int = 1280, height: int = 720
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Target and source clips: the astronaut (source: mirrored and warmer) drifting across
    a textured background, head 640 px (face ~270 px) at 720p."""
    from importlib import resources

    from unmask.media import read_image

    samples = resources.files("unmask") / "samples"
    head = read_image(str(samples / "astronaut.jpg"))[10:250, 110:350]
    side = round(height * 0.89)
    target_head = cv2.resize(head, (side, side), interpolation=cv2.INTER_CUBIC)
    source_head = np.ascontiguousarray(target_head[:, ::-1])
    source_head = np.clip(source_head.astype(np.int16) + np.int16([18, 4, -14]), 0, 255).astype(
        np.uint8
    )
    coffee = read_image(str(samples / "coffee.jpg"))
    background = cv2.resize(coffee, (width, height), interpolation=cv2.INTER_LINEAR)
    clips: list[list[np.ndarray]] = [[], []]
    for i in range(n):
        for k, face in enumerate((target_head, source_head)):
            frame = background.copy()
            x0 = (width - side) // 2 + round(40 * np.sin(i / 9 + k))
            y0 = (height - side) // 2 + round(10 * np.cos(i / 7))
            frame[max(y0, 0) : y0 + side, x0 : x0 + side] = face[max(-y0, 0) : height - y0]
            clips[k].append(frame)
    return clips[0], clips[1]


def read_clip(path: str, n: int) -> list[np.ndarray]:
    from unmask.media import iter_frames

    return [rgb for _, rgb in iter_frames(path, max_frames=n)]


@dataclass
class Speed:
    """Frames per second of one stage: by the wall clock and per CPU-second of this process.

    On a machine shared with other jobs the wall-clock number drops; the CPU number says
    what the stage costs (it counts every thread, so it is conservative for threaded code).
    """

    frames: int
    wall_s: float
    cpu_s: float

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    @property
    def cpu_fps(self) -> float:
        return self.frames / max(self.cpu_s, 1e-9)


@contextmanager
def measure(frames: int, into: dict[str, Speed], key: str) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into[key] = Speed(frames, time.perf_counter() - wall, time.process_time() - cpu)


def baseline_io(frames: list[np.ndarray], fps: float, into: dict[str, Speed]) -> None:
    """H.264-encode the frames and decode them again: the baseline of every ratio."""
    from unmask.media import VideoWriter, iter_frames

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        with measure(len(frames), into, BASELINE):
            with VideoWriter(path, fps=fps, crf=23) as writer:
                for frame in frames:
                    writer.write(frame)
            decoded = sum(1 for _ in iter_frames(path))
    if decoded != len(frames):
        raise RuntimeError(f"decoded {decoded} of {len(frames)} frames")


def bench_methods(
    target_frames: list[np.ndarray],
    source_frames: list[np.ndarray],
    *,
    fps: float,
    workdir: Path,
    dfae_steps: int,
) -> dict[str, Speed]:
    """Frames/s of the landmarks and of every method's ``generate`` on these frames, with the
    decode+encode baseline of the same frames."""
    from unmask.forge.landmarks import FaceMesh
    from unmask.forge.methods import Clip, create_method, list_methods

    speeds: dict[str, Speed] = {}
    baseline_io(target_frames, fps, speeds)
    with FaceMesh(video=True) as mesh:
        mesh.landmarks(target_frames[:2])  # load the model
        with measure(len(target_frames), speeds, "landmarks (FaceMesh)"):
            target_lm = mesh.landmarks(target_frames)
    with FaceMesh(video=True) as mesh:
        source_lm = mesh.landmarks(source_frames)
    target = Clip(target_frames, target_lm, fps, "target", "bench-target")
    source = Clip(source_frames, source_lm, fps, "source", "bench-source")
    print(
        f"faces found: target {int(target.has_face.sum())}/{len(target.frames)}, "
        f"source {int(source.has_face.sum())}/{len(source.frames)}"
    )
    rng = np.random.default_rng(0)
    for name in list_methods():
        kwargs: dict[str, Any] = {}
        if create_method(name).spec.trains_per_pair:  # train briefly; time the inference
            kwargs = {"max_steps": dfae_steps, "min_faces": min(16, len(target.frames))}
        method = create_method(name, **kwargs)
        method.generate(target, source, rng=rng, workdir=workdir)  # warm-up
        with measure(len(target.frames), speeds, name):
            result = method.generate(target, source, rng=rng, workdir=workdir)
        print(f"  {name}: contact sheet {result.contact_sheet}")
    return speeds


def bench_dfae_training(
    target_frames: list[np.ndarray],
    source_frames: list[np.ndarray],
    *,
    fps: float,
    workdir: Path,
    steps: int = 100,
) -> dict[str, float]:
    """Training speed of ``dfae`` at its default size (a step = one batch per identity)."""
    from unmask.forge.landmarks import FaceMesh
    from unmask.forge.methods import Clip, create_method

    clips = []
    for k, frames in enumerate((target_frames, source_frames)):
        with FaceMesh(video=True) as mesh:
            clips.append(Clip(frames, mesh.landmarks(frames), fps, f"actor{k}", f"video{k}"))
    method = create_method(
        "dfae", max_steps=steps, min_faces=min(16, len(target_frames)), contact_sheet=False
    )
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        result = method.generate(
            clips[0], clips[1], rng=np.random.default_rng(1), workdir=Path(tmp)
        )
    steps_per_s = result.params["train_steps"] / max(result.params["train_seconds"], 1e-9)
    return {
        "steps/s": steps_per_s,
        "faces/s": steps_per_s * 2 * method.batch_size,
        "steps in 20 min": steps_per_s * 20 * 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", help="target video (default: synthetic 720p)")
    parser.add_argument("--source", help="source video (default: synthetic 720p)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument(
        "--dfae-steps", type=int, default=20, help="training steps before dfae inference"
    )
    parser.add_argument(
        "--out", type=Path, help="work folder for contact sheets (default: a temp folder)"
    )
    parser.add_argument(
        "--build-clips",
        type=int,
        default=10,
        help="also time building a dataset from this many real_videos clips (10 actors: 10 "
        "reals + 10 fakes = 20 videos; 0 skips it)",
    )
    parser.add_argument(
        "--videos", type=Path, default=SHARED / "real_videos", help="clips for the build timing"
    )
    parser.add_argument(
        "--build-dfae-minutes", type=float, default=2.0, help="dfae training per pair in the build"
    )
    args = parser.parse_args()

    if bool(args.target) != bool(args.source):
        parser.error("give both --target and --source, or neither")
    if args.target:
        target, source = read_clip(args.target, args.frames), read_clip(args.source, args.frames)
        n = min(len(target), len(source))
        target, source = target[:n], source[:n]
    else:
        target, source = synthetic_footage(args.frames)
    workdir = args.out or Path(tempfile.mkdtemp(prefix="forge_speed_"))
    h, w = target[0].shape[:2]
    print(
        f"{len(target)} frames of {w}x{h}; {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    speeds = bench_methods(target, source, fps=25.0, workdir=workdir, dfae_steps=args.dfae_steps)
    base = speeds[BASELINE]
    print(f"{'stage':>24}  {'frames/s':>9}  {'x baseline':>10}  {'frames/CPU-s':>12}")
    for key, speed in speeds.items():
        print(f"{key:>24}  {speed.fps:9.1f}  {speed.fps / base.fps:10.2f}  {speed.cpu_fps:12.1f}")
    training = bench_dfae_training(target, source, fps=25.0, workdir=workdir)
    print("dfae training (default size): " + ", ".join(f"{v:.1f} {k}" for k, v in training.items()))
    if args.build_clips:
        build_timing(args.videos, workdir / "build", args.build_clips, args.build_dfae_minutes)


def build_timing(videos: Path, work: Path, clips: int, dfae_minutes: float) -> None:
    """Time a 2 x ``clips``-video dataset build (see bench/_forge_build.py)."""
    if not videos.is_dir():
        print(f"build timing skipped: no clips at {videos} (set UNMASK_SHARED_DATA)")
        return
    from _forge_build import build_dataset_timing, report_lines  # bench/ is on sys.path

    fakes = {"swap": clips - 2 * (clips // 3), "reenact": clips // 3, "dfae": clips // 3}
    result = build_dataset_timing(
        videos,
        work,
        clips=clips,
        methods=fakes,
        params={"dfae": {"train_minutes": dfae_minutes}},
    )
    print("dataset build from real clips (each clip as a consenting actor):")
    print("\n".join(report_lines(result)))


if __name__ == "__main__":
    main()
