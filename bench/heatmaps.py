"""Do a detector's heatmaps point at the manipulated part of a face? Measured on
FaceForensics++ c40, whose fakes are frame-aligned with the videos they were made from.

    python bench/heatmaps.py [--detector clip_fast] [--videos 12] [--frames 3]

For each fake ``TARGET_SOURCE.mp4`` and its original ``TARGET.mp4``: the same frames are
decoded from both, faces found on the fake, and both frames cropped with the same
transform. A patch is *manipulated* where the two crops differ by more than twice the
crop's median patch difference (compression alone changes every patch a little). Printed
per method: the mean over crops of the patch AUC (map cells ranking manipulated patches
above the rest; 0.5 is chance), and the pointing game (how often a crop's hottest cell is
a manipulated patch) beside its chance rate (the manipulated share of patches).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ffpp_c40"
METHODS = ("Deepfakes", "FaceSwap", "Face2Face", "NeuralTextures")


def _frames(path: Path, picks: set[int]) -> dict[int, np.ndarray]:
    import av

    out = {}
    with av.open(str(path)) as box:
        for i, frame in enumerate(box.decode(video=0)):  # sequential: seeking is slower
            if i in picks:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= max(picks):
                break
    return out


def _auc(score: np.ndarray, label: np.ndarray) -> float | None:
    pos, neg = score[label], score[~label]
    if not len(pos) or not len(neg):
        return None
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1.0
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main(argv: list[str] | None = None) -> int:
    from unmask.detectors import create_detector
    from unmask.faces import RetinaFace
    from unmask.faces._align import crop_transform

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="clip_fast")
    parser.add_argument("--videos", type=int, default=12, help="fakes per method")
    parser.add_argument("--frames", type=int, default=3, help="frames per video")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"expected FaceForensics++ c40 videos in {DATA}; not there", file=sys.stderr)
        return 2
    detector, faces = create_detector(args.detector), RetinaFace()
    cfg, size = detector.cfg, detector.cfg.input_size
    picks = {int(k) for k in np.linspace(0, 90, args.frames)}
    print(f"detector {args.detector}, {args.videos} videos x {len(picks)} frames per method")
    print(f"{'method':16} {'crops':>5} {'patch AUC':>9} {'pointing':>8} {'chance':>6}")
    for method in METHODS:
        fakes = sorted((DATA / "manipulate" / method / "c40" / "videos").glob("*.mp4"))
        aucs, hits, chance = [], [], []
        for fake in fakes[: args.videos]:
            original = (
                DATA / "original" / "youtube" / "c40" / "videos" / f"{fake.stem.split('_')[0]}.mp4"
            )
            if not original.exists():
                continue
            a, b = _frames(fake, picks), _frames(original, picks)
            for i in sorted(set(a) & set(b)):
                det = faces.detect([a[i]])[0]
                if not len(det):
                    continue
                k = int(np.argmax(det.scores))
                m = crop_transform(
                    det.boxes_xyxy[k],
                    det.landmarks[k],
                    size=size,
                    margin=cfg.margin,
                    align=cfg.align,
                )
                fa, fb = (cv2.warpAffine(f, m, (size, size)) for f in (a[i], b[i]))
                maps = detector.heatmaps(fa[None])
                if maps is None:
                    print(f"{args.detector} has no heatmaps", file=sys.stderr)
                    return 2
                g = maps.shape[1]
                diff = np.abs(fa.astype(np.float32) - fb.astype(np.float32)).mean(axis=2)
                cells = cv2.resize(diff, (g, g), interpolation=cv2.INTER_AREA).ravel()
                label = cells > 2 * np.median(cells)
                score = maps[0].ravel()
                auc = _auc(score, label)
                if auc is None:
                    continue
                aucs.append(auc)
                hits.append(bool(label[int(np.argmax(score))]))
                chance.append(label.mean())
        print(
            f"{method:16} {len(aucs):5d} {np.mean(aucs):9.3f} {np.mean(hits):8.3f} "
            f"{np.mean(chance):6.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
