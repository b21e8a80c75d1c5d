"""Time to build a forge dataset from ../shared/data/real_videos, each clip as a consenting actor.

    python bench/_forge_build.py [--clips 10] [--methods swap:4,reenact:3,dfae:3] [--frames 48]
                                 [--params '{"dfae": {"train_minutes": 2}}'] [--out DIR]
                                 [--workers N]

The research clips stand in for consenting actors (a placeholder consent document per clip);
nothing of them enters the repository, and everything is written under a temporary folder
(or --out). Clips are taken in name order, one per person where the name tells (the
MEAD-style ``M030_*``/``W009_*`` clips are one person each), skipping footage the quality
filters reject. Measured in this run:
  (a) baseline: decoding the same frames of each real clip and encoding them again with the
      build's encoder settings (what a dataset of reals alone costs at least);
  (b) consent + ingestion (quality filters, face detection, dense landmarks), per clip;
  (c) ``build_dataset`` end to end (reals, fakes, perturbations, indexes).
Prints seconds, videos per minute and b/a, c/a, and the contact sheets' paths. Each person
keeps one actor id in every run (a hash of the clip's person key), so the same command and
seed plan the same build; a ``dfae`` bounded by ``max_steps`` rather than minutes trains
the same, too.
``bench/forge_speed.py`` calls :func:`build_dataset_timing`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unmask.forge._render import ENCODER_OPTIONS
from unmask.forge._workspace import Workspace
from unmask.forge.builder import build_dataset
from unmask.forge.ingest import ingest_footage
from unmask.forge.ledger import Ledger
from unmask.forge.spec import BuildSpec
from unmask.media import VideoWriter, iter_frames

SHARED = Path(
    os.environ.get("UNMASK_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)


def person_key(path: Path) -> str:
    """Clips of one person share a key: ``..._M030_front_angry_level3_001`` -> ``M030``."""
    match = re.search(r"_([MW]\d{3})_", path.name)
    return match.group(1) if match else path.stem


def stable_actor_id(person: str) -> str:
    """The same id for the same person in every build, so the planner, which works from
    the seed and the actor ids, makes the same build from the same command."""
    return "act-" + hashlib.sha256(person.encode()).hexdigest()[:8]


def register_clips(
    videos: Path, workspace: Workspace, n: int, *, max_frames: int
) -> tuple[list[str], dict[str, str], float]:
    """Consent + ingest clips until ``n`` actors have accepted footage; returns
    (actor ids, rejected clip -> reason, seconds)."""
    start = time.perf_counter()
    actors: list[str] = []
    rejected: dict[str, str] = {}
    seen: set[str] = set()
    with Ledger.open(workspace, create=True) as ledger:
        for clip in sorted(videos.glob("*.mp4")):
            if len(actors) >= n:
                break
            if person_key(clip) in seen:
                continue
            doc = workspace.root / "consent_documents" / f"{len(seen):03d}.txt"
            doc.parent.mkdir(parents=True, exist_ok=True)
            doc.write_text(f"placeholder consent form for benchmark actor {len(seen)}\n")
            actor = ledger.add_consent(
                roles=["source", "target"],
                uses=["research", "evaluation"],
                document=doc,
                new_id=stable_actor_id(person_key(clip)),
            ).actor_id
            record = ingest_footage(ledger, workspace, actor, clip, max_frames=max_frames)
            seen.add(person_key(clip))
            if record.status == "accepted":
                actors.append(actor)
            else:
                rejected[clip.name] = record.reason
    return actors, rejected, time.perf_counter() - start


def transcode_baseline(workspace: Workspace, frames: int, scratch: Path) -> tuple[float, int]:
    """Seconds to decode ``frames`` frames of each accepted clip and encode them again."""
    start = time.perf_counter()
    count = 0
    with Ledger.open(workspace) as ledger:
        for record in ledger.footage(status="accepted"):
            out = scratch / f"{record.footage_id}.mp4"
            with VideoWriter(out, fps=record.fps or 25.0, crf=23, options=ENCODER_OPTIONS) as w:
                for _i, rgb in iter_frames(workspace.root / str(record.path), max_frames=frames):
                    w.write(rgb)
            out.unlink()
            count += 1
    return time.perf_counter() - start, count


def build_dataset_timing(
    videos: Path,
    work: Path,
    *,
    clips: int = 10,
    methods: Mapping[str, int] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    frames: int = 48,
    seed: int = 0,
    workers: int = 1,
) -> dict[str, Any]:
    """Register ``clips`` actors from ``videos``, build a dataset under ``work``, time each step.

    >>> build_dataset_timing(Path("real_videos"), Path("/tmp/bench"), clips=10)  # doctest: +SKIP
    {'videos': 20, 'build_s': ..., 'baseline_s': ..., ...}
    """
    methods = dict(methods if methods is not None else {"swap": 4, "reenact": 3, "dfae": 3})
    workspace = Workspace(work / "workspace")
    actors, rejected, ingest_s = register_clips(videos, workspace, clips, max_frames=frames)
    scratch = work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    baseline_s, n_reals = transcode_baseline(workspace, frames, scratch)
    spec = BuildSpec.from_dict(
        {
            "name": "real-videos-bench",
            "uses": ["research", "evaluation"],
            "seed": seed,
            "frames": frames,
            "splits": {"train": 0.5, "validation": 0.1, "public_test": 0.2, "private_test": 0.2},
            "methods": {
                m: {"count": n, "params": dict((params or {}).get(m, {}))}
                for m, n in methods.items()
            },
            "perturbations": {
                "rate": 0.3,
                "max_per_video": 2,
                "apply": {
                    "crf": {},
                    "downscale": {},
                    "fps": {},
                    "blur": {},
                    "noise": {},
                    "brightness_contrast": {},
                    "text": {},
                    "shapes": {},
                    "flip": {},
                    "image": {},
                },
            },
        }
    )
    out = work / "dataset"
    report = build_dataset(spec, out, workspace=workspace, workers=workers)
    return {
        "actors": len(actors),
        "rejected": rejected,
        "videos": report.planned,
        "reals": n_reals,
        "ingest_s": ingest_s,
        "baseline_s": baseline_s,
        "build_s": report.elapsed_s,
        "counts": {k: dict(v) for k, v in report.counts.items()},
        "contact_sheets": {m: str(out / rel) for m, rel in report.contact_sheets.items()},
        "out": str(out),
        "notes": list(report.notes),
        "frames": frames,
        "methods": methods,
        "workers": workers,
    }


def report_lines(r: Mapping[str, Any]) -> list[str]:
    """The lines the benchmark prints for one :func:`build_dataset_timing` result."""
    a = r["baseline_s"] / max(r["reals"], 1)
    per_clip = r["ingest_s"] / max(r["actors"], 1)
    lines = [
        f"{r['actors']} actors, {r['videos']} videos of {r['frames']} frames; methods {r['methods']}"
    ]
    lines += [f"  rejected {name}: {reason}" for name, reason in r["rejected"].items()]
    lines += [
        f"(a) baseline decode + encode per real clip: {a:.2f} s",
        f"(b) consent + ingest: {r['ingest_s']:.1f} s, {per_clip:.2f} s per clip ({per_clip / a:.1f}x a)",
        f"(c) build on {r['workers']} worker(s): {r['build_s']:.1f} s for {r['videos']} videos, "
        f"{60 * r['videos'] / r['build_s']:.1f} videos/min, {r['build_s'] / r['videos'] / a:.1f}x a per video",
    ]
    for split, methods in r["counts"].items():
        lines.append(f"    {split:<13} " + ", ".join(f"{m} {n}" for m, n in methods.items()))
    lines += [f"    contact sheet {m}: {path}" for m, path in r["contact_sheets"].items()]
    lines += [f"    note: {note}" for note in r["notes"]]
    return lines


def _methods(text: str) -> dict[str, int]:
    out = {}
    for part in filter(None, text.split(",")):
        name, _, count = part.partition(":")
        out[name.strip()] = int(count or 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=Path, default=SHARED / "real_videos")
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--methods", type=_methods, default=_methods("swap:4,reenact:3,dfae:3"))
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="method parameters as JSON: {method: {name: value}}",
    )
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="build on N processes")
    parser.add_argument(
        "--out", type=Path, default=None, help="keep everything here (default: a temp folder)"
    )
    args = parser.parse_args()
    if not args.videos.is_dir():
        raise SystemExit(f"no clips at {args.videos} (research data); pass --videos")
    with tempfile.TemporaryDirectory() as tmp:
        r = build_dataset_timing(
            args.videos,
            args.out or Path(tmp),
            clips=args.clips,
            methods=args.methods,
            params=args.params,
            frames=args.frames,
            seed=args.seed,
            workers=args.workers,
        )
        print("\n".join(report_lines(r)))


if __name__ == "__main__":
    main()
