"""The real-face baseline of a CLIP head's heatmaps (see ClipHeadDetector.heatmaps).

    python -m unmask.train.heatmap_base --config configs/clip_fast.yaml \\
        src/unmask/detectors/weights/clip_fast.json

A head's per-patch terms carry a spatial prior: the background and the face's outline
lean one way on every face, real or fake. The baseline is the mean term at each patch
over real validation faces of the head's training config; the heatmap shows what a face
adds to it. ``unmask train`` stores it in every CLIP head it exports; this command adds
it to a head exported before (rewriting the ``.npz`` and the sha256 of its ``.json``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from unmask._io import atomic_write_bytes, atomic_write_json
from unmask.detectors._base import sha256_file
from unmask.errors import UnmaskError
from unmask.train._cli import add_set_option

# real validation faces averaged; the baseline's standard error is then ~1/20 of a cell's spread
MAX_FACES = 512
BATCH = 64


def real_crops(dataset: Any, *, limit: int = MAX_FACES, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` crops of a FaceDataset's real samples (label 0, not self-blended),
    an even spread of them in a seeded order."""
    reals = np.flatnonzero(dataset.labels() == 0)
    if len(reals) > limit:
        reals = np.sort(np.random.default_rng(seed).choice(reals, limit, replace=False))
    if not len(reals):
        raise UnmaskError(
            "expected real faces in the validation split to average the heatmap baseline "
            "over; got none. Add real sources to the config's data"
        )
    return np.stack([dataset.sample(int(k))[0] for k in reals])


def heatmap_base(
    head: Mapping[str, np.ndarray], crops: np.ndarray, *, threads: int = 0
) -> np.ndarray | None:
    """(g, g) float32: the mean per-patch term of ``head`` (the arrays of a CLIP head file)
    over ``crops``; None for a head without ``mean<k>`` features (it has no heatmaps)."""
    from unmask._progress import progress
    from unmask.detectors._clip import CLIP_PATCH
    from unmask.detectors._clip_head import patch_terms, tower_settings

    features, size, delta = tower_settings(head, Path("the head"))
    arrays = {k: np.asarray(head[k], np.float64) for k in ("mu", "sigma", "coef")}
    total, seen = None, 0
    batches = range(0, len(crops), BATCH)
    for start in progress(batches, total=len(batches), desc="heatmap baseline", unit="batch"):
        terms = patch_terms(
            crops[start : start + BATCH],
            features=features,
            size=size,
            delta=delta,
            threads=threads,
            **arrays,
        )
        if terms is None:
            return None
        total = terms.sum(axis=0) if total is None else total + terms.sum(axis=0)
        seen += len(terms)
    if total is None:
        raise UnmaskError("expected crops to average the heatmap baseline over; got none")
    grid = size // CLIP_PATCH
    return (total / seen).reshape(grid, grid).astype(np.float32)


def add_to_export(export: Path, crops: np.ndarray, *, threads: int = 0) -> np.ndarray | None:
    """Store the baseline in an exported head (``<name>.json`` beside its ``.npz``): the
    ``.npz`` is rewritten and the ``.json``'s sha256 updated, each atomically."""
    if not export.exists():
        raise UnmaskError(
            f"expected an exported CLIP head (<name>.json beside <name>.npz); {export} "
            "does not exist"
        )
    spec = json.loads(export.read_text())
    weights = export.parent / str(spec["weights"])
    if weights.suffix != ".npz":
        raise UnmaskError(
            f"expected a CLIP head whose weights are an .npz; {export} names {weights.name}"
        )
    with np.load(weights) as w:
        head = {k: w[k] for k in w.files}
    base = heatmap_base(head, crops, threads=threads)
    if base is None:
        return None
    head["heatmap_base"] = base
    buf = io.BytesIO()
    np.savez(buf, **head)
    atomic_write_bytes(weights, buf.getvalue())
    spec["sha256"] = sha256_file(weights)
    atomic_write_json(export, spec)
    return base


def main(argv: list[str] | None = None) -> int:
    from unmask.train.config import load_config
    from unmask.train.run import prepare

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("export", type=Path, help="the head's exported <name>.json")
    parser.add_argument(
        "--config", type=Path, required=True, help="the training config the head was made by"
    )
    parser.add_argument("--limit", type=int, default=MAX_FACES, help="real faces averaged")
    add_set_option(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, sets=args.set)
        _train_ds, val_ds, _val_faces = prepare(cfg)
        crops = real_crops(val_ds, limit=args.limit, seed=cfg.seed)
        base = add_to_export(args.export, crops, threads=cfg.optim.threads)
    except UnmaskError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if base is None:
        print(f"{args.export}: the head has no mean<k> features, so no heatmaps; left as it was")
        return 0
    print(
        f"{args.export}: baseline of {len(crops)} real faces stored "
        f"({base.shape[0]}x{base.shape[1]}, range {base.min():+.3f} to {base.max():+.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
