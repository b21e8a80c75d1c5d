"""Quality/time curve of the ``dfae`` forge method: train one pair, measure as it goes.

Trains one (source, target) actor pair for ``--minutes`` and, at each mark of ``--marks``,
measures on held-out clips of both actors (clips never used for training):

- ``recon_l1``: mean absolute error (0-255 levels, inside the face mask) when each actor's
  decoder redraws that actor's held-out faces: how well the model has learnt the faces;
- ``p_source``: identity proxy. A two-class classifier (HOG of the grey aligned face +
  logistic regression) is fitted on the real training faces of the two actors, sharp and
  blurred (sigma 1, 2, 3 px, so that blur is less of a cue); ``p_source`` is its mean
  P(source actor) on the swapped held-out target faces (target faces drawn by the source
  decoder): 0 = still looks like the target, 1 = looks like the source.
  ``p_recon_target`` is the same on the held-out target faces redrawn by the target's own
  decoder: equally blurry, but the target's identity, so the gap ``p_source -
  p_recon_target`` is what the swap changed. ``p_real_*`` are the real held-out faces.

At each mark it writes ``faces_<minutes>min.png`` to ``--out`` (rows: held-out target
faces, their redraw by the target decoder, the swap, held-out source faces), and at the end
the method's contact sheet of the swap on the held-out target clip.

Usage (clips are one actor each; several clips of an actor are joined into one clip):

    python bench/forge_dfae_curve.py --source W009_a.mp4 W009_b.mp4 --source-heldout W009_c.mp4 \\
        --target M030_a.mp4 M030_b.mp4 --target-heldout M030_c.mp4 --minutes 20 --out /tmp/dfae
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def load_clip(paths: list[str], actor: str, max_frames: int) -> object:
    from unmask.forge.methods import Clip
    from unmask.media import iter_frames, probe

    frames: list[np.ndarray] = []
    fps = probe(paths[0]).fps
    for path in paths:
        frames.extend(rgb for _, rgb in iter_frames(path, max_frames=max_frames))
    return Clip.from_frames(
        frames, fps=fps, actor_id=actor, video_id="+".join(Path(p).stem for p in paths)
    )


def hog_features(faces: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    grey = faces.astype(np.float32).mean(axis=3)
    return np.stack(
        [hog(g, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)) for g in grey]
    )


def has_face(landmarks: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isfinite(landmarks).all(axis=(1, 2)))


def masked_l1(out: np.ndarray, faces: np.ndarray, masks: np.ndarray) -> float:
    """Mean absolute error in 0-255 levels, weighted by the face masks."""
    w = masks.astype(np.float32)[..., None] / 255.0
    err = np.abs(out.astype(np.float32) - faces.astype(np.float32))
    return round(float((err * w).sum() / (w.sum() * 3)), 2)


def fit_identity_classifier(source_faces: np.ndarray, target_faces: np.ndarray) -> object:
    """HOG + logistic regression, source = 1, on sharp and blurred real faces."""
    from sklearn.linear_model import LogisticRegression

    sets = [source_faces, target_faces]
    sets += [blurred(f, sigma) for sigma in (1.0, 2.0, 3.0) for f in (source_faces, target_faces)]
    x = hog_features(np.concatenate(sets))
    y = np.concatenate([np.full(len(f), float(k % 2 == 0)) for k, f in enumerate(sets)])
    return LogisticRegression(max_iter=2000, C=0.1).fit(x, y)


def faces_grid(
    target: np.ndarray, model: object, source: np.ndarray, path: Path, n: int = 8
) -> None:
    """Rows: held-out target faces, their redraw by the target decoder, the swap (source
    decoder), held-out source faces for comparison."""
    import cv2

    from unmask.forge.methods._dfae_net import swap_faces

    pick = np.linspace(0, len(target) - 1, n).astype(int)
    rows = [
        target[pick],
        swap_faces(model, target[pick], identity=1),
        swap_faces(model, target[pick], identity=0),
    ]
    rows.append(source[np.linspace(0, len(source) - 1, n).astype(int)])
    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    grid = cv2.resize(grid, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def blurred(faces: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in faces])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", nargs="+", required=True)
    parser.add_argument("--source-heldout", nargs="+", required=True)
    parser.add_argument("--target", nargs="+", required=True)
    parser.add_argument("--target-heldout", nargs="+", required=True)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--marks", type=float, nargs="+", default=[1, 2, 5, 10, 15, 20])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--max-frames", type=int, default=400, help="per input clip")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--out", type=Path, required=True, help="work folder (model, contact sheets)"
    )
    args = parser.parse_args()

    import torch

    from unmask.forge.methods import create_method
    from unmask.forge.methods._dfae_net import swap_faces
    from unmask.forge.methods._mesh import smooth_landmarks
    from unmask.forge.methods.dfae import align_faces

    t0 = time.perf_counter()
    src = load_clip(args.source, "source", args.max_frames)
    tgt = load_clip(args.target, "target", args.max_frames)
    src_ho = load_clip(args.source_heldout, "source", args.max_frames)
    tgt_ho = load_clip(args.target_heldout, "target", args.max_frames)
    print(
        f"clips loaded in {time.perf_counter() - t0:.0f} s: source {len(src.frames)} frames "
        f"(held out {len(src_ho.frames)}), target {len(tgt.frames)} (held out {len(tgt_ho.frames)})"
    )

    marks = sorted(m for m in args.marks if m <= args.minutes) or [args.minutes]
    window = create_method("dfae").smooth_window
    lm = {id(c): smooth_landmarks(c.landmarks, window=window) for c in (src, tgt, src_ho, tgt_ho)}
    rng = np.random.default_rng(0)
    rows = []
    classifier = None
    for minutes in marks:
        method = create_method(
            "dfae",
            resolution=args.resolution,
            train_minutes=minutes,
            threads=args.threads,
            contact_sheet=False,
        )
        torch.set_num_threads(args.threads)
        pair = method.fit(tgt, src, lm[id(src)], lm[id(tgt)], rng=rng, workdir=args.out)
        aligned = {
            name: align_faces(
                clip.frames, lm[id(clip)], has_face(lm[id(clip)]), pair.canon, args.resolution
            )[:2]
            for name, clip in (("src", src), ("tgt", tgt), ("src_ho", src_ho), ("tgt_ho", tgt_ho))
        }
        if classifier is None:
            classifier = fit_identity_classifier(aligned["src"][0], aligned["tgt"][0])
        (fs, ms), (ft, mt) = aligned["src_ho"], aligned["tgt_ho"]

        def p_src(faces: np.ndarray, clf: object = classifier) -> float:
            return round(float(clf.predict_proba(hog_features(faces))[:, 1].mean()), 3)

        row = {
            "minutes": minutes,
            "steps": pair.state.step,
            "train_seconds": round(pair.state.seconds, 1),
            "recon_l1_source": masked_l1(swap_faces(pair.model, fs, identity=0), fs, ms),
            "recon_l1_target": masked_l1(swap_faces(pair.model, ft, identity=1), ft, mt),
            "p_source": p_src(swap_faces(pair.model, ft, identity=0)),
            "p_recon_target": p_src(swap_faces(pair.model, ft, identity=1)),
            "p_recon_source": p_src(swap_faces(pair.model, fs, identity=0)),
            "p_real_target": p_src(ft),
            "p_real_source": p_src(fs),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        faces_grid(ft, pair.model, fs, args.out / f"faces_{minutes:g}min.png")

    method = create_method(
        "dfae", resolution=args.resolution, train_minutes=marks[-1], threads=args.threads
    )
    t = time.perf_counter()
    result = method.generate(tgt_ho, src, rng=rng, workdir=args.out)
    dt = time.perf_counter() - t
    print(
        f"swap of the held-out target clip: {len(tgt_ho.frames) / dt:.1f} frames/s; contact sheet {result.contact_sheet}"
    )
    (args.out / "curve.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
