"""How small a face the detector still finds, at each detection size.

    python bench/face_recall.py [--photos ../shared/data/real_photos]

Pastes a real face (the bundled astronaut photo, and with --photos a set of real portraits)
at a range of sizes into 1920x1080 frames with a textured background, runs RetinaFace with
the frame downscaled to each detection size, and prints recall per face size (the face's
box height in the 1080p frame). DFDC has faces of ~50 px in 1080p frames.
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from unmask.faces import RetinaFace
from unmask.media import read_image

SIZES = (24, 32, 40, 50, 64, 80, 100, 140)
DET_SIZES = (640, 960, 1280, 1920)


def face_crops(photos: Path | None, limit: int = 20) -> list[np.ndarray]:
    paths = [Path(str(resources.files("unmask") / "samples" / "astronaut.jpg"))]
    if photos and photos.is_dir():
        paths += sorted(
            p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )[:limit]
    ref = RetinaFace(det_size=1024, fallback_sizes=())
    crops = []
    for p in paths:
        rgb = read_image(p)
        det = ref.detect([rgb])[0]
        if len(det) != 1:
            continue
        x1, y1, x2, y2 = det.boxes_xyxy[0]
        w, h = x2 - x1, y2 - y1
        if h < 100:
            continue
        # keep context around the face: detectors need the head, not just the box
        cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, 1.6 * max(w, h)
        a, b = int(max(cy - side / 2, 0)), int(max(cx - side / 2, 0))
        crop = rgb[a : int(cy + side / 2), b : int(cx + side / 2)]
        crops.append((crop, h / side))
    return crops


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=None)
    args = parser.parse_args()
    crops = face_crops(args.photos)
    rng = np.random.default_rng(0)
    background = cv2.resize(rng.integers(60, 190, (108, 192, 3), dtype=np.uint8), (1920, 1080))
    print(
        f"{len(crops)} faces; recall by face height in a 1080p frame (rows) and detection size (columns)"
    )
    print("face px  " + "  ".join(f"{d:>6}" for d in DET_SIZES))
    times = {d: [] for d in DET_SIZES}
    for size in SIZES:
        row = []
        for d in DET_SIZES:
            det = RetinaFace(det_size=d, fallback_sizes=())
            hits = 0
            for crop, frac in crops:
                side = round(size / frac)
                frame = background.copy()
                patch = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
                y, x = 540 - side // 2, 960 - side // 2
                frame[y : y + side, x : x + side] = patch
                t = time.perf_counter()
                found = det.detect([frame])[0]
                times[d].append(time.perf_counter() - t)
                hits += any(b[0] < 960 < b[2] and b[1] < 540 < b[3] for b in found.boxes_xyxy)
            row.append(hits / len(crops))
        print(f"{size:>7}  " + "  ".join(f"{r:>6.2f}" for r in row))
    print("ms/frame " + "  ".join(f"{1000 * np.median(times[d]):>6.1f}" for d in DET_SIZES))


if __name__ == "__main__":
    main()
