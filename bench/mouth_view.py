"""Does a second, closer view of the mouth help the CLIP head on expression edits?

    python bench/mouth_view.py [--out runs/mouth_view] [--frames 8] [--strength 0.003]

Face2Face and NeuralTextures change the mouth and leave the rest of the face alone; in the
160-pixel face crop the CLIP tower sees the mouth as a few patches. This study cuts a
second crop around the mouth (a square of 0.55 of the face box side on the mean of the two
mouth-corner landmarks, eyes level, 112 pixels: 49 patches, about half the face view's
cost) and compares linear heads on frozen CLIP features (``embeds`` + ``mean12``) of:
the face view alone, the mouth view alone, both side by side (one head), and a face head
plus ``w`` times a mouth head (two heads, logits added).

Heads are L2 logistic regressions (balanced classes, standardised features) fitted on
ffpp_crops/train, every fake method against youtube; they are scored on ffpp_crops/test
(frame level, per method against youtube) and on ffpp_c40 (video level: the mean logit
of ``--frames`` sampled frames, the largest face of each; per method against all reals).
Both sets are FaceForensics++, whose methods the heads are trained on: this measures
whether the view holds the signal, not how it generalises. Features are cached in
``--out``; the data folder is ``$UNMASK_SHARED_DATA`` or ../shared/data beside the checkout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from unmask._progress import progress
from unmask.detectors import create_detector
from unmask.detectors._clip import clip_features
from unmask.detectors._clip_head import ClipHeadDetector
from unmask.eval.datasets import read_dataset
from unmask.eval.metrics import roc_auc
from unmask.faces import RetinaFace
from unmask.faces._align import crop_face
from unmask.media import read_image, sample_frames

REPO = Path(__file__).resolve().parents[1]
FEATURES = ("embeds", "mean12")
METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
FACE_SIZE, MOUTH_SIZE, MOUTH_SIDE = 160, 112, 0.55


def views(detector: RetinaFace, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The face crop and the mouth crop of the largest face in ``rgb``; None without one."""
    (found,) = detector.detect([rgb])
    if not len(found):
        return None
    boxes = found.boxes_xyxy
    k = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    box, marks = boxes[k], found.landmarks[k]
    face = crop_face(rgb, box, marks, size=FACE_SIZE, margin=0.15, align=True)
    half = max(box[2] - box[0], box[3] - box[1]) * MOUTH_SIDE / 2
    cx, cy = (marks[3] + marks[4]) / 2
    mouth_box = np.array([cx - half, cy - half, cx + half, cy + half])
    mouth = crop_face(rgb, mouth_box, marks, size=MOUTH_SIZE, margin=0.0, align=True)
    return face, mouth


def features(faces: list[np.ndarray], mouths: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "face": clip_features(np.stack(faces), features=FEATURES, size=FACE_SIZE),
        "mouth": clip_features(np.stack(mouths), features=FEATURES, size=MOUTH_SIZE),
    }


def crop_set(detector: RetinaFace, folder: Path, cache: Path) -> dict[str, np.ndarray]:
    """Features of every crop in ``folder`` (ffpp_crops/<split>), with its method folder."""
    if cache.exists():
        return dict(np.load(cache))
    faces, mouths, methods = [], [], []
    for path in progress(sorted(folder.glob("*/*.jpg")), desc=folder.name):
        found = views(detector, read_image(path))
        if found is not None:
            faces.append(found[0])
            mouths.append(found[1])
            methods.append(path.parent.name)
    out = {**features(faces, mouths), "method": np.array(methods)}
    np.savez(cache, **out)
    return out


def video_set(
    detector: RetinaFace, folder: Path, frames: int, cache: Path
) -> dict[str, np.ndarray]:
    """Features of the largest face of ``frames`` frames of each ffpp_c40 video, with the
    video's row (``video``) and each video's label and method."""
    if cache.exists():
        return dict(np.load(cache))
    files = read_dataset(folder)
    faces, mouths, rows = [], [], []
    for row, file in enumerate(progress(files, desc="ffpp_c40")):
        for rgb in sample_frames(file.path, frames).images:
            found = views(detector, rgb)
            if found is not None:
                faces.append(found[0])
                mouths.append(found[1])
                rows.append(row)
    out = {
        **features(faces, mouths),
        "video": np.array(rows),
        "label": np.array([f.label for f in files]),
        "method": np.array([f.method for f in files]),
    }
    np.savez(cache, **out)
    return out


def fit(x: np.ndarray, y: np.ndarray, strength: float) -> Callable[[np.ndarray], np.ndarray]:
    """An L2 logistic regression on standardised ``x``, balanced classes, as a function
    from features to logits."""
    from sklearn.linear_model import LogisticRegression

    mu, sigma = x.mean(0), x.std(0) + 1e-6
    model = LogisticRegression(C=strength, max_iter=3000, class_weight="balanced")
    model.fit((x - mu) / sigma, y)
    return lambda z: model.decision_function((z - mu) / sigma)


def shipped_face_head() -> Callable[[np.ndarray], np.ndarray]:
    """The shipped clip_fast head, which reads these face-view features (it was trained
    with self-blended pseudo-fakes too)."""
    det = create_detector("clip_fast")
    assert isinstance(det, ClipHeadDetector)
    crop = (det.features, det.size, det.cfg.margin, det.cfg.align)
    if crop != (FEATURES, FACE_SIZE, 0.15, True) or det.patch or det.delta:
        raise SystemExit("clip_fast no longer reads this study's face view; update the study")
    return lambda z: ((z - det.mu) / det.sigma) @ det.coef + det.intercept


def aucs(
    fake: np.ndarray, logit: np.ndarray, methods: np.ndarray, names: tuple[str, ...] = METHODS
) -> list[float]:
    """AUC overall, then of the fakes of each of ``names`` against all reals."""
    out = [roc_auc(fake.astype(int), logit)]
    for m in names:
        keep = ~fake | (methods == m)
        out.append(roc_auc(fake[keep].astype(int), logit[keep]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "mouth_view")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--strength", type=float, default=0.003, help="L2 strength C")
    parser.add_argument(
        "--forge",
        type=Path,
        action="append",
        default=[],
        help="a forge dataset folder to score too (repeatable; every video of its manifest)",
    )
    args = parser.parse_args(argv)
    env = os.environ.get("UNMASK_SHARED_DATA")
    data = Path(env) if env else REPO.parent / "shared" / "data"
    if not (data / "ffpp_crops").is_dir() or not (data / "ffpp_c40").is_dir():
        print(
            f"{data}: expected ffpp_crops and ffpp_c40 there; set UNMASK_SHARED_DATA",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    detector = RetinaFace()
    train = crop_set(detector, data / "ffpp_crops" / "train", args.out / "crops_train.npz")
    test = crop_set(detector, data / "ffpp_crops" / "test", args.out / "crops_test.npz")
    c40 = video_set(detector, data / "ffpp_c40", args.frames, args.out / f"c40_{args.frames}.npz")
    y = train["method"] != "youtube"

    def video_logits(per_face: np.ndarray, videos: dict[str, np.ndarray] = c40) -> np.ndarray:
        """Each video's mean face logit (0 for a video without a face found)."""
        return np.array(
            [
                per_face[videos["video"] == k].mean() if np.any(videos["video"] == k) else 0.0
                for k in range(len(videos["label"]))
            ]
        )

    heads = {v: fit(train[v], y, args.strength) for v in ("face", "mouth")}
    shipped = shipped_face_head()
    both = fit(np.concatenate([train["face"], train["mouth"]], 1), y, args.strength)
    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for v in ("face", "mouth"):
        rows[f"{v} view"] = (heads[v](test[v]), video_logits(heads[v](c40[v])))
    rows["both, one head"] = (
        both(np.concatenate([test["face"], test["mouth"]], 1)),
        video_logits(both(np.concatenate([c40["face"], c40["mouth"]], 1))),
    )
    for w in (0.25, 0.5, 1.0):
        rows[f"face + {w} x mouth"] = (
            heads["face"](test["face"]) + w * heads["mouth"](test["mouth"]),
            video_logits(heads["face"](c40["face"]) + w * heads["mouth"](c40["mouth"])),
        )
    for w in (0.0, 0.5, 1.0):
        rows["clip_fast" + (f" + {w} x mouth" if w else " (shipped)")] = (
            shipped(test["face"]) + w * heads["mouth"](test["mouth"]),
            video_logits(shipped(c40["face"]) + w * heads["mouth"](c40["mouth"])),
        )
    print(
        f"{len(train['method'])} training crops, {len(test['method'])} test crops, "
        f"{len(c40['label'])} c40 videos x {args.frames} frames; C = {args.strength}"
    )
    print(f"AUC: all / {' / '.join(METHODS)}")
    fake_crop, fake_video = test["method"] != "youtube", c40["label"] == 1
    for name, (crop_logit, video_logit) in rows.items():
        a = aucs(fake_crop, crop_logit, test["method"])
        b = aucs(fake_video, video_logit, c40["method"])
        print(
            f"{name:<24} crops {' / '.join(f'{v:.3f}' for v in a)} | "
            f"ffpp_c40 {' / '.join(f'{v:.3f}' for v in b)}"
        )
    for folder in args.forge:
        forge = video_set(
            detector,
            folder,
            args.frames,
            args.out / f"forge_{folder.parent.name}_{args.frames}.npz",
        )
        names = tuple(sorted(set(forge["method"][forge["label"] == 1].tolist())))
        print(f"\n{folder} ({len(forge['label'])} videos), AUC: all / {' / '.join(names)}")
        logits = {v: video_logits(heads[v](forge[v]), forge) for v in ("face", "mouth")}
        logits["clip_fast"] = video_logits(shipped(forge["face"]), forge)
        for name, logit in [
            ("face view", logits["face"]),
            ("mouth view", logits["mouth"]),
            *[
                (f"face + {w} x mouth", logits["face"] + w * logits["mouth"])
                for w in (0.25, 0.5, 1.0)
            ],
            ("clip_fast (shipped)", logits["clip_fast"]),
            *[
                (f"clip_fast + {w} x mouth", logits["clip_fast"] + w * logits["mouth"])
                for w in (0.5, 1.0)
            ],
        ]:
            a = aucs(forge["label"] == 1, logit, forge["method"], names)
            print(f"{name:<24} {' / '.join(f'{v:.3f}' for v in a)}")
    print(
        "\nEach method held out of training (its fakes dropped from ffpp_crops/train), "
        "AUC of that method: crops | ffpp_c40"
    )
    print(f"{'':<24} " + "   ".join(f"{m:<15}" for m in METHODS))
    held: dict[str, list[str]] = {}
    for m in METHODS:
        keep = train["method"] != m
        face = fit(train["face"][keep], y[keep], args.strength)
        mouth = fit(train["mouth"][keep], y[keep], args.strength)
        crops_m = (test["method"] == m) | ~fake_crop
        videos_m = (c40["method"] == m) | ~fake_video
        for w in (0.0, 0.5, 1.0):
            crop_logit = face(test["face"]) + w * mouth(test["mouth"])
            video_logit = video_logits(face(c40["face"]) + w * mouth(c40["mouth"]))
            a = roc_auc(fake_crop[crops_m].astype(int), crop_logit[crops_m])
            b = roc_auc(fake_video[videos_m].astype(int), video_logit[videos_m])
            held.setdefault("face view" if not w else f"face + {w} x mouth", []).append(
                f"{a:.3f} | {b:.3f}"
            )
    for name, cells in held.items():
        print(f"{name:<24} " + "   ".join(f"{c:<15}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
