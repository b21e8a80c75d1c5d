"""How much a detector's score of the same real face moves with the resolution it is filmed at.

    python bench/resolution_shift.py [--detector clip_fast] [--photos FOLDER]

Every face of the real photos that is at least ``--min-side`` pixels wide (so that, halved,
it still covers the crop) is cut from the photo as it is, from the photo halved (area
filter), and from the photo halved and doubled back (bilinear). All three are the same face;
a detector that looks only at the face gives them the same logit. Printed: the mean logit of
each version, its mean change from the original with the spread, and the AUC of telling the
halved version from the original by the logit (0.5: blind to the resolution). Crops go through
``unmask.faces.crop_face``, as the scanner cuts them. The photos default to real_photos in
``$UNMASK_SHARED_DATA`` or ../shared/data beside the checkout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from accuracy import shared  # bench/ is the script's folder, so on sys.path
from unmask.detectors import create_detector
from unmask.eval.metrics import roc_auc
from unmask.faces import RetinaFace, crop_face
from unmask.media._image import read_image


def versions(rgb: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """The photo as it is, halved, and halved then doubled back, with the factor that maps
    the original's coordinates into each."""
    h, w = rgb.shape[:2]
    half = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    back = cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
    return {"original": (rgb, 1.0), "halved": (half, 0.5), "halved and doubled": (back, 1.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="clip_fast")
    parser.add_argument(
        "--photos", type=Path, default=None, help="default: real_photos in the data folder"
    )
    parser.add_argument("--min-side", type=float, default=0.0, help="default: 2 x the crop size")
    args = parser.parse_args()
    args.photos = args.photos or shared() / "real_photos"
    if not args.photos.is_dir():
        raise SystemExit(
            f"resolution_shift: expected a folder of photos at {args.photos}; not found"
        )
    detector = create_detector(args.detector)
    cfg = detector.cfg
    min_side = args.min_side or 2.0 * cfg.input_size / (1.0 + cfg.margin)
    finder = RetinaFace()
    logits: dict[str, list[float]] = {}
    for path in sorted(args.photos.iterdir()):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
            continue
        rgb = read_image(path)
        found = finder.detect([rgb])[0]
        for box, marks in zip(found.boxes_xyxy, found.landmarks, strict=True):
            if max(box[2] - box[0], box[3] - box[1]) < min_side:
                continue
            for name, (img, scale) in versions(rgb).items():
                crop = crop_face(
                    img,
                    box * scale,
                    marks * scale,
                    size=cfg.input_size,
                    margin=cfg.margin,
                    align=cfg.align,
                )
                logits.setdefault(name, []).append(float(detector.logits(crop[None])[0]))
    if not logits:
        raise SystemExit(f"resolution_shift: no face of at least {min_side:.0f} pixels found")
    base = np.array(logits["original"])
    print(f"{args.detector}: {len(base)} real faces of at least {min_side:.0f} pixels")
    for name, values in logits.items():
        x = np.array(values)
        shift = x - base
        line = f"  {name:<20} mean logit {x.mean():+.3f}"
        if name != "original":
            y = np.r_[np.zeros(len(base)), np.ones(len(x))]
            auc = roc_auc(y, np.r_[base, x])
            line += (
                f" | change {shift.mean():+.3f} (sd {shift.std():.3f}) | AUC vs original {auc:.3f}"
            )
        print(line)


if __name__ == "__main__":
    main()
