"""Detectors on labelled forge builds of methods they were not trained on: the table of the
model cards.

    python bench/forge_compare.py --fit runs/forge_c/dataset --check runs/forge_b/dataset \\
        [--detectors clip_fast,clip_sbi,ensemble,effnet_sbi] [--cache runs/cal/cache] [--json F]

``--detectors`` takes registered names and exported ``<name>.json`` files (from ``unmask
train``, not shipped yet).

For each detector, with the aggregation rule of its shipped config:
  - on each set: video AUC, overall and per method (each method's fakes against all reals);
  - out of sample: Platt scaling fitted on the --fit set's video logits, scored on the
    --check set (log loss, ECE): what a calibration from one build gives on another;
  - both sets together: the leave-one-out log loss of Platt scaling (each video scored by a
    fit on all the others), the number to expect from a calibration fitted on all of them;
  - for every detector after the first: its AUC on each set less the first's, on the videos
    both scored, with a paired bootstrap 95% interval (an interval that holds 0: these
    videos do not tell the two apart).
Scans go through ``unmask.train.calibrate``'s face-logit cache (``--cache``), so the
videos a calibration run scanned are not scanned again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from accuracy import from_export  # bench/ is the script's folder, so on sys.path
from unmask.calibration import CalibrationCfg, PlattCalibrator
from unmask.detectors import create_detector
from unmask.eval.datasets import read_dataset
from unmask.eval.metrics import (
    expected_calibration_error,
    log_loss,
    paired_bootstrap_diff,
    roc_auc,
)
from unmask.train.calibrate import face_logits_by_video, leave_one_out_log_loss, video_logits

CLIP = 0.02  # the shipped calibrations' clipping


def video_scores(
    name: str, folder: Path, *, frames: int, cache: Path | None
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Video logits (the shipped aggregation rule, no calibration), labels, methods and
    file paths of the videos of ``folder`` in which a face was found."""
    detector = from_export(Path(name)) if name.endswith(".json") else create_detector(name)
    aggregation = detector.cfg.aggregation
    files = [f for f in read_dataset(folder) if f.path]
    tracks = face_logits_by_video(
        detector, [str(f.path) for f in files], frames=frames, cache=cache
    )
    kept = [(t, f) for t, f in zip(tracks, files, strict=True) if t]
    x = video_logits([t for t, _ in kept], aggregation)
    labels = np.array([f.label for _, f in kept], float)
    return x, labels, [f.method for _, f in kept], [str(f.path) for _, f in kept]


def per_method_auc(x: np.ndarray, y: np.ndarray, methods: list[str]) -> dict[str, float]:
    """Each method's fakes against all reals."""
    kind = np.array(methods)
    out = {}
    for m in sorted(set(methods) - {"real"}):
        keep = (kind == "real") | (kind == m)
        out[m] = roc_auc(y[keep], x[keep])
    return out


Videos = tuple[list[str], np.ndarray, np.ndarray]  # file paths, video logits, labels


def compare(
    name: str, fit: Path, check: Path, *, frames: int, cache: Path | None
) -> tuple[dict[str, Any], dict[str, Videos]]:
    """The detector's row of the table, and its videos of each set for paired_auc."""
    xf, yf, mf, idf = video_scores(name, fit, frames=frames, cache=cache)
    xc, yc, mc, idc = video_scores(name, check, frames=frames, cache=cache)
    cal = CalibrationCfg.from_calibrator(PlattCalibrator().fit(xf, yf), clip=CLIP)
    p = cal.apply(xc)
    row = {
        "fit": {"videos": len(yf), "auc": roc_auc(yf, xf), "by_method": per_method_auc(xf, yf, mf)},
        "check": {
            "videos": len(yc),
            "auc": roc_auc(yc, xc),
            "by_method": per_method_auc(xc, yc, mc),
            "log_loss_calibrated_on_fit": log_loss(yc, p),
            "ece_calibrated_on_fit": expected_calibration_error(yc, p),
        },
        "both_log_loss_leave_one_out": leave_one_out_log_loss(
            np.r_[xf, xc], np.r_[yf, yc], clip=CLIP
        ),
    }
    return row, {"fit": (idf, xf, yf), "check": (idc, xc, yc)}


def paired_auc(base: Videos, other: Videos) -> tuple[float, float, float, int]:
    """AUC of ``other`` less that of ``base`` on the videos both scored, with its paired
    bootstrap 95% interval (videos resampled within each class), and the video count."""
    where = {v: i for i, v in enumerate(base[0])}
    common = [(where[v], j) for j, v in enumerate(other[0]) if v in where]
    i, j = (np.array(k, int) for k in zip(*common, strict=True))
    d, lo, hi = paired_bootstrap_diff(roc_auc, base[2][i], base[1][i], other[1][j], n_boot=2000)
    return d, lo, hi, len(common)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fit", type=Path, required=True, help="labelled set to calibrate on")
    parser.add_argument("--check", type=Path, required=True, help="labelled set to score on")
    parser.add_argument(
        "--detectors",
        default="clip_fast,clip_sbi,ensemble,effnet_sbi",
        help="comma-separated registered names or exported .json files",
    )
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--cache", type=Path, default=None, help="face-logit cache folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    args = parser.parse_args()
    table = {}
    print(
        f"fit: {args.fit}; check: {args.check}; video AUC (per method), log loss of Platt "
        "fitted on fit and scored on check, leave-one-out log loss on both"
    )
    names = args.detectors.split(",")
    for name in names:
        row, videos = compare(name, args.fit, args.check, frames=args.frames, cache=args.cache)
        if name == names[0]:
            baseline = videos
        else:
            row["auc_minus_first"] = {}
            for part in ("fit", "check"):
                d, lo, hi, n = paired_auc(baseline[part], videos[part])
                row["auc_minus_first"][part] = {"diff": d, "low": lo, "high": hi, "videos": n}
        table[name] = row
        f, c = row["fit"], row["check"]

        def methods(d: dict[str, float]) -> str:
            return " / ".join(f"{m} {v:.3f}" for m, v in d.items())

        print(
            f"{Path(name).stem:<11} fit AUC {f['auc']:.3f} ({methods(f['by_method'])}) | "
            f"check AUC {c['auc']:.3f} ({methods(c['by_method'])}) "
            f"LL {c['log_loss_calibrated_on_fit']:.3f} ECE {c['ece_calibrated_on_fit']:.3f} | "
            f"both LOO LL {row['both_log_loss_leave_one_out']:.3f}"
        )
        for part, diff in row.get("auc_minus_first", {}).items():
            print(
                f"{'':<11} {part} AUC minus {Path(names[0]).stem}'s: {diff['diff']:+.3f} "
                f"(paired bootstrap 95%: {diff['low']:+.3f} to {diff['high']:+.3f}, "
                f"{diff['videos']} videos)"
            )
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
