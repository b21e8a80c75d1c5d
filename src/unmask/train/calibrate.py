"""Refit a detector's aggregation rule and calibration on labelled videos it never saw.

    python -m unmask.train.calibrate --detector effnet_sbi --labels datasets/forge_calib \\
        --out src/unmask/detectors/weights

Calibration fitted on the validation split of the training data is too sharp on unseen
data (measured: about twice the slope that held-out sets prefer). A labelled set of other
videos, such as a forge benchmark built from consented footage with methods the detector
was not trained on, gives probabilities that transfer better. The videos are scanned once
with calibration switched off; each rule's video logits (the most suspicious track) get a
Platt fit, and the rule with the lowest log loss is kept; each rule's leave-one-out log
loss (every video scored by a fit on the others) is reported beside the in-sample one,
and so is the log loss of the calibration the detector had before (``log_loss_before_refit``:
on a set it was not fitted on, the honest test of that calibration). The weights are not
touched.

``--check`` names labelled sets the refit is scored on but not fitted on (AUC, log loss,
ECE: the out-of-sample numbers). ``--cache DIR`` keeps each video's face logits (per
detector weights and frame count), so fitting on other combinations of the same videos
rescans nothing, and an interrupted scan resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from unmask._io import atomic_write_json
from unmask._progress import progress
from unmask.aggregate import aggregate_track, logit, video_logit
from unmask.calibration import CalibrationCfg, PlattCalibrator
from unmask.detectors import create_detector
from unmask.detectors._base import AggregationCfg, Detector, DetectorCfg, weights_dir
from unmask.errors import DatasetError
from unmask.eval.datasets import read_dataset
from unmask.eval.metrics import expected_calibration_error, log_loss, roc_auc
from unmask.scanner import Scanner


def face_logits_by_video(
    detector: Detector, paths: list[str], *, frames: int = 32, cache: Path | None = None
) -> list[list[np.ndarray] | None]:
    """Per video, the face logits of each track (None when no face was found). With
    ``cache``, videos scanned before by the same weights at the same frame count are read
    back, and each new one is saved as soon as it is scanned."""
    raw = dataclasses.replace(detector.cfg, calibration=CalibrationCfg("none", 1.0, 0.0, 0.0))
    detector.cfg = raw
    store = _ScanCache(cache, detector, frames) if cache else None
    scanner: Scanner | None = None
    out: list[list[np.ndarray] | None] = []
    for path in progress(paths, total=len(paths), desc="calibration scan", unit="video"):
        if store is not None and path in store:
            out.append(store[path])
            continue
        scanner = scanner or Scanner(detector, frames=frames)
        r = scanner.scan(path)
        tracks = (
            [logit(np.array([f.p_fake for f in t.faces])) for t in r.tracks]
            if r.status == "ok"
            else None
        )
        if store is not None:
            store[path] = tracks
        out.append(tracks)
    return out


def scan_key(cfg: DetectorCfg) -> str:
    """12 hex digits naming what a scan's face logits depend on in a detector config: its
    weights and how it cuts, picks and scores faces (not its aggregation or calibration)."""
    fields = {
        "sha256": cfg.sha256,
        "input_size": cfg.input_size,
        "margin": cfg.margin,
        "align": cfg.align,
        "max_faces_per_track": cfg.max_faces_per_track,
        "test_time_flip": cfg.test_time_flip,
        "members": cfg.extra.get("members"),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


class _ScanCache:
    """Face logits by video path in one JSON file per detector config (scan_key) and frame
    count, rewritten atomically after each video."""

    def __init__(self, folder: Path, detector: Detector, frames: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{detector.name}-{scan_key(detector.cfg)}-{frames}f.json"
        self.videos: dict[str, list[list[float]] | None] = (
            json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        )

    def __contains__(self, path: str) -> bool:
        return str(Path(path).resolve()) in self.videos

    def __getitem__(self, path: str) -> list[np.ndarray] | None:
        tracks = self.videos[str(Path(path).resolve())]
        return None if tracks is None else [np.array(t, np.float64) for t in tracks]

    def __setitem__(self, path: str, tracks: list[np.ndarray] | None) -> None:
        self.videos[str(Path(path).resolve())] = (
            None if tracks is None else [t.tolist() for t in tracks]
        )
        atomic_write_json(self.path, self.videos)


def video_logits(tracks: list[list[np.ndarray]], aggregation: AggregationCfg) -> np.ndarray:
    """Each video's logit (its most suspicious track) from its tracks' face logits."""
    return np.array(
        [
            video_logit(
                np.array([aggregate_track(t, aggregation.rule, **aggregation.params) for t in ts])
            )
            for ts in tracks
        ]
    )


def leave_one_out_log_loss(x: np.ndarray, y: np.ndarray, *, clip: float) -> float:
    """Log loss of Platt scaling on videos it was not fitted on: each video's probability
    comes from a fit on all the others. The in-sample loss of a fit on few videos flatters
    it; this is the number to expect on more videos like them."""
    p = np.empty(len(x))
    for i in range(len(x)):
        rest = np.arange(len(x)) != i
        cal = CalibrationCfg.from_calibrator(PlattCalibrator().fit(x[rest], y[rest]), clip=clip)
        p[i] = cal.apply(x[i : i + 1])[0]
    return log_loss(y, p)


def recalibrate(
    name: str,
    labels: list[Path],
    *,
    out: Path,
    rules: list[str],
    clip: float,
    frames: int = 32,
    note: str = "",
    check: list[Path] | None = None,
    cache: Path | None = None,
) -> dict[str, object]:
    detector = create_detector(name)
    original = detector.cfg
    kept = _labelled_tracks(detector, labels, frames=frames, cache=cache)
    y = np.array([label for _, label in kept], float)
    # the detector as it stands, on videos its calibration may never have seen
    x_now = video_logits([ts for ts, _ in kept], original.aggregation)
    before = round(log_loss(y, original.calibration.apply(x_now)), 5)
    losses: dict[str, float] = {}
    held_out: dict[str, float] = {}
    best: tuple[float, str, CalibrationCfg] | None = None
    for rule in rules:
        x = video_logits([ts for ts, _ in kept], AggregationCfg(rule=rule))
        cal = CalibrationCfg.from_calibrator(PlattCalibrator().fit(x, y), clip=clip)
        losses[rule] = round(log_loss(y, cal.apply(x)), 5)
        held_out[rule] = round(leave_one_out_log_loss(x, y, clip=clip), 5)
        if best is None or losses[rule] < best[0]:
            best = (losses[rule], rule, cal)
    assert best is not None
    _, best_rule, best_cal = best
    fitted_on = f"{len(kept)} held-out videos" + (f": {note}" if note else "")
    cfg = dataclasses.replace(
        original,
        aggregation=AggregationCfg(rule=best_rule),
        calibration=dataclasses.replace(best_cal, fitted_on=fitted_on),
        metrics={
            **original.metrics,
            "calibration_video_log_loss_by_rule": losses,
            "calibration_video_log_loss_leave_one_out": held_out,
            "calibration_videos": len(kept),
        },
    )
    atomic_write_json(out / f"{name}.json", cfg.to_dict())
    result: dict[str, object] = {
        "rule": best_rule,
        "calibration": dataclasses.asdict(cfg.calibration),
        "log_loss_by_rule": losses,
        "log_loss_leave_one_out": held_out,
        "log_loss_before_refit": before,
    }
    if check:
        checked = _labelled_tracks(detector, check, frames=frames, cache=cache)
        yc = np.array([label for _, label in checked], float)
        tracks_c = [ts for ts, _ in checked]
        p = cfg.calibration.apply(video_logits(tracks_c, cfg.aggregation))
        p_before = original.calibration.apply(video_logits(tracks_c, original.aggregation))
        result["check"] = {
            "videos": len(checked),
            "auc": round(roc_auc(yc, p), 5),
            "log_loss": round(log_loss(yc, p), 5),
            "ece": round(expected_calibration_error(yc, p), 5),
            "log_loss_before_refit": round(log_loss(yc, p_before), 5),
        }
    return result


def _labelled_tracks(
    detector: Detector, labels: list[Path], *, frames: int, cache: Path | None
) -> list[tuple[list[np.ndarray], int]]:
    """(face logits of each track, label) of every video of ``labels`` with a face."""
    files = [f for path in labels for f in read_dataset(path) if f.path]
    if len({f.label for f in files}) < 2:
        raise DatasetError(
            f"{', '.join(map(str, labels))}: calibration needs both real and fake videos"
        )
    tracks = face_logits_by_video(
        detector, [str(f.path) for f in files], frames=frames, cache=cache
    )
    return [(t, f.label) for t, f in zip(tracks, files, strict=True) if t]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--detector", required=True)
    parser.add_argument(
        "--labels", type=Path, nargs="+", required=True, help="labelled dataset folders or files"
    )
    parser.add_argument("--out", type=Path, default=weights_dir())
    parser.add_argument("--rules", default="mean,topk_mean,confident")
    parser.add_argument("--clip", type=float, default=0.02)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument(
        "--note", default="", help="what the videos are, for the config's calibration.fitted_on"
    )
    parser.add_argument(
        "--check",
        type=Path,
        nargs="+",
        default=None,
        help="labelled sets to score the refit on, not fit it on (out-of-sample numbers)",
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep the scans' face logits here, to reuse"
    )
    args = parser.parse_args(argv)
    result = recalibrate(
        args.detector,
        args.labels,
        out=args.out,
        rules=args.rules.split(","),
        clip=args.clip,
        frames=args.frames,
        note=args.note,
        check=args.check,
        cache=args.cache,
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
