"""Accuracy and speed of every registered detector, as one table.

    python bench/accuracy.py [--detectors effnet_sbi,spectrum] [--frames 32] [--forge DIR]

- ffpp_c40 (60 videos, video level, 32 frames): AUC and DFDC log loss, overall and per
  method (each method's fakes against all reals), and the expected calibration error
  (15 equal-width bins) overall;
- ffpp_crops test split (624 face crops, frame level: each crop scanned as an image): AUC;
- a forge dataset (``--forge DIR``, every video of its manifest), video level, when given;
- speed: face crops per second through the detector at batch 32, and scan seconds per
  10-s 1080p clip (see bench/scan_speed.py for the decode baseline).
The data folder is ``$UNMASK_SHARED_DATA`` or ../shared/data beside the checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from unmask.detectors import Detector, create_detector, list_detectors
from unmask.detectors._base import read_cfg
from unmask.detectors._clip_head import ClipHeadDetector
from unmask.detectors._ensemble import EnsembleDetector
from unmask.detectors._onnx import OnnxDetector
from unmask.eval.datasets import read_dataset
from unmask.eval.metrics import expected_calibration_error, log_loss, roc_auc
from unmask.faces import Faces
from unmask.scanner import Scanner

REPO = Path(__file__).resolve().parents[1]


def shared() -> Path:
    env = os.environ.get("UNMASK_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def scores(scanner: Scanner, paths: list[str]) -> np.ndarray:
    return np.array([scanner.scan(p).p_fake for p in paths])


def method_table(y: np.ndarray, p: np.ndarray, methods: list[str]) -> dict[str, dict[str, float]]:
    out = {
        "all": {
            "auc": roc_auc(y, p),
            "log_loss": log_loss(y, p),
            "ece": expected_calibration_error(y, p),
            "n": len(y),
        }
    }
    real = np.array([m == "real" for m in methods])
    for m in sorted(set(methods) - {"real"}):
        keep = real | np.array([x == m for x in methods])
        out[m] = {
            "auc": roc_auc(y[keep], p[keep]),
            "log_loss": log_loss(y[keep], p[keep]),
            "n": int(keep.sum()),
        }
    return out


def from_export(cfg_path: Path) -> Detector:
    """A trained export (JSON beside its weights) that is not shipped yet; an ensemble's
    members are registered detectors or exports in the same folder."""
    cfg = read_cfg(cfg_path)
    if "members" in cfg.extra:
        members = [
            from_export(cfg_path.parent / f"{m}.json")
            if (cfg_path.parent / f"{m}.json").exists()
            else create_detector(m)
            for m in cfg.extra["members"]
        ]
        return EnsembleDetector(cfg, members)
    # by the weights the config names, so a renamed copy of a config still loads
    if cfg.weights.endswith(".npz"):
        return ClipHeadDetector.from_export(cfg_path)
    return OnnxDetector.from_export(cfg_path)


def crops_per_second(det: Detector) -> float:
    s = det.cfg.input_size
    rng = np.random.default_rng(0)
    faces = Faces(
        crops=rng.integers(0, 255, (32, s, s, 3), dtype=np.uint8),
        boxes_xyxy=np.zeros((32, 4)),
        frame_index=np.arange(32),
        track_id=np.zeros(32),
        score=np.ones(32),
        landmarks=np.zeros((32, 5, 2)),
    )
    det.score(faces)
    start = time.perf_counter()
    for _ in range(3):
        det.score(faces)
    return 96 / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--detectors",
        default=",".join(list_detectors()),
        help="registered names, or paths of exported <name>.json files (from unmask train)",
    )
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument(
        "--forge",
        type=Path,
        default=None,
        help="a forge dataset folder (every video of its manifest)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args(argv)
    data = shared()
    table: dict[str, dict[str, object]] = {}
    for name in args.detectors.split(","):
        detector = from_export(Path(name)) if name.endswith(".json") else create_detector(name)
        scanner = Scanner(detector, frames=args.frames)
        row: dict[str, object] = {}
        c40 = data / "ffpp_c40"
        if c40.is_dir():
            files = read_dataset(c40)
            y = np.array([f.label for f in files])
            t = time.perf_counter()
            p = scores(scanner, [f.path for f in files])
            row["ffpp_c40"] = method_table(y, p, [f.method for f in files])
            row["ffpp_c40_seconds_per_video"] = (time.perf_counter() - t) / len(files)
        crops = data / "ffpp_crops" / "test"
        if crops.is_dir():
            files = sorted(crops.rglob("*.jpg"))
            y = np.array([0 if f.parent.name == "youtube" else 1 for f in files])
            p = scores(scanner, [str(f) for f in files])
            row["ffpp_crops_test"] = method_table(
                y, p, ["real" if f.parent.name == "youtube" else f.parent.name for f in files]
            )
        if args.forge:
            files = read_dataset(args.forge)  # the manifest: every split
            y = np.array([f.label for f in files])
            row["forge"] = method_table(
                y, scores(scanner, [f.path for f in files]), [f.method for f in files]
            )
        if not args.no_speed:
            row["crops_per_second_b32"] = crops_per_second(detector)
        table[name] = row
        print_row(name, row)
    if not args.no_speed:
        sys.path.insert(0, str(REPO / "bench"))
        from scan_speed import make_clip

        with tempfile.TemporaryDirectory() as tmp:
            clip = make_clip(Path(tmp) / "clip.mp4")
            scanner = Scanner("default", frames=args.frames)
            scanner.scan(clip)
            t = time.perf_counter()
            scanner.scan(clip)
            print(
                f"default detector ({scanner.detector.name}): {time.perf_counter() - t:.2f} s per 10-s 1080p clip"
            )
    if args.json:
        args.json.write_text(json.dumps(table, indent=2, default=float))
    return 0


def print_row(name: str, row: dict[str, object]) -> None:
    print(f"== {name}")
    for key in ("ffpp_c40", "ffpp_crops_test", "forge"):
        if key in row:
            level = "video" if key != "ffpp_crops_test" else "frame"
            parts = [
                f"{m} AUC {v['auc']:.3f} LL {v['log_loss']:.3f}"
                + (f" ECE {v['ece']:.3f}" if "ece" in v else "")
                for m, v in row[key].items()  # type: ignore[attr-defined]
            ]
            print(f"  {key} ({level}): " + " | ".join(parts))
    if "crops_per_second_b32" in row:
        print(f"  speed: {row['crops_per_second_b32']:.0f} crops/s at batch 32")


if __name__ == "__main__":
    sys.exit(main())
