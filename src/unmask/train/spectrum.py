"""Train the frequency-spectrum baseline detector.

    python -m unmask.train.spectrum --data ../shared/data/ffpp_crops --out src/unmask/detectors/weights

Reads ``<data>/train`` and ``<data>/test`` (method folders; youtube = real), recrops each
image with the scan face pipeline when a face is found (so training crops look like scan
crops), fits standardisation + L2 logistic regression on the train split, fits Platt
calibration on 5-fold out-of-fold train scores, reports frame-level AUC on the test split,
and writes ``spectrum.npz`` + ``spectrum.json`` (a DetectorCfg) atomically.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from unmask._io import atomic_write_bytes, atomic_write_json
from unmask._progress import progress
from unmask.calibration import CalibrationCfg, PlattCalibrator
from unmask.detectors._base import DetectorCfg, sha256_file
from unmask.detectors.spectrum import spectrum_features
from unmask.faces import RetinaFace, crop_face
from unmask.media import read_image
from unmask.train._crops import CropSet, read_crop_folder

SIZE = 128
N_BINS = 32
MARGIN = 0.1


def recrop(
    files: list[Path], *, size: int = SIZE, margin: float = MARGIN
) -> tuple[np.ndarray, int]:
    """Crops as the scanner would make them; the whole image when no face is detected."""
    detector = RetinaFace(fallback_sizes=())
    crops = np.empty((len(files), size, size, 3), np.uint8)
    missed = 0
    for i, f in enumerate(progress(files, desc="crops", unit="img")):
        rgb = read_image(f)
        det = detector.detect([rgb])[0]
        if len(det):
            j = int(np.argmax(det.scores))
            crops[i] = crop_face(
                rgb, det.boxes_xyxy[j], det.landmarks[j], size=size, margin=margin, align=False
            )
        else:
            missed += 1
            h, w = rgb.shape[:2]
            crops[i] = crop_face(
                rgb, np.array([0, 0, w, h], np.float32), size=size, margin=0.0, align=False
            )
    return crops, missed


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def train(data: Path, out: Path, *, c: float = 0.01, seed: int = 0) -> dict[str, object]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    train_set: CropSet = read_crop_folder(data, "train")
    test_set: CropSet = read_crop_folder(data, "test")
    feats = {}
    missed = {}
    for name, cs in (("train", train_set), ("test", test_set)):
        crops, missed[name] = recrop(cs.files)
        feats[name] = spectrum_features(crops, size=SIZE, n_bins=N_BINS).astype(np.float64)
    x, y = feats["train"], train_set.labels
    mu, sigma = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sigma
    oof = np.zeros(len(y))
    for tr, va in StratifiedKFold(5, shuffle=True, random_state=seed).split(z, y):
        m = LogisticRegression(C=c, max_iter=2000).fit(z[tr], y[tr])
        oof[va] = m.decision_function(z[va])
    model = LogisticRegression(C=c, max_iter=2000).fit(z, y)
    cal = PlattCalibrator().fit(oof, y)
    zt = (feats["test"] - mu) / sigma
    test_scores = model.decision_function(zt)
    per_method = {}
    for method in sorted(set(test_set.methods) - {"real"}):
        keep = np.array([m in (method, "real") for m in test_set.methods])
        per_method[method] = round(_auc(test_set.labels[keep], test_scores[keep]), 4)
    metrics = {
        "ffpp_crops_test_frame_auc": round(_auc(test_set.labels, test_scores), 4),
        "ffpp_crops_test_frame_auc_per_method": per_method,
        "ffpp_crops_train_oof_auc": round(_auc(y, oof), 4),
        "faces_not_detected": missed,
        "n_train": len(y),
        "n_test": len(test_set),
    }
    buf = io.BytesIO()
    np.savez(
        buf, mu=mu, sigma=sigma, coef=model.coef_[0], intercept=np.float64(model.intercept_[0])
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "spectrum.npz", buf.getvalue())
    cfg = DetectorCfg(
        name="spectrum",
        architecture=f"azimuthal log power spectrum ({N_BINS} bins) + L2 logistic regression",
        weights="spectrum.npz",
        sha256=sha256_file(out / "spectrum.npz"),
        input_size=SIZE,
        margin=MARGIN,
        align=False,
        calibration=CalibrationCfg.from_calibrator(
            cal, clip=0.02, fitted_on="5-fold out-of-fold frame scores, ffpp_crops/train"
        ),
        license="Apache-2.0 (weights); trained on FaceForensics++ crops (research-only terms)",
        trained_on="ffpp_crops/train (FaceForensics++ face crops: youtube real; Deepfakes, Face2Face, FaceSwap, NeuralTextures fake)",
        metrics=metrics,
        extra={
            "n_bins": N_BINS,
            "C": c,
            "seed": seed,
            "recipe": "python -m unmask.train.spectrum --data ffpp_crops --out <weights dir>",
        },
    )
    atomic_write_json(out / "spectrum.json", cfg.to_dict())
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with train/ and test/ method folders"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="where spectrum.npz and spectrum.json go"
    )
    parser.add_argument(
        "--C", type=float, default=0.01, dest="c", help="inverse L2 strength (default 0.01)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    metrics = train(args.data, args.out, c=args.c, seed=args.seed)
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
