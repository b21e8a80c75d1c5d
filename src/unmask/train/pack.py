"""Pack the faces a training config uses into one file, to train where the sources are not.

    python -m unmask.train.pack configs/effnet_sbi.yaml runs/faces.npz --jpeg-quality 95
    python -m unmask.train.pack configs/effnet_sbi.yaml runs/faces --jpeg-quality 95 --shards 3

Then train elsewhere with ``--set data.faceset=faces.npz`` (or the folder of shards): the
identity split, the self-blends and the batches are the same as from the sources, except
for the JPEG step.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from unmask.errors import UnmaskError
from unmask.train._cli import add_set_option
from unmask.train.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unmask.train.pack", description=__doc__)
    parser.add_argument("config", type=Path, help="training config (YAML)")
    parser.add_argument("out", type=Path, help="the packed face set (.npz)")
    parser.add_argument(
        "--jpeg-quality",
        type=int,
        default=None,
        help="store crops as JPEG at this quality (1-100) instead of raw pixels",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help="split into this many files (OUT becomes a folder), e.g. to move them in parts",
    )
    add_set_option(parser)
    args = parser.parse_args(argv)
    try:  # the arguments are checked before the (long) face extraction
        if args.jpeg_quality is not None and not 1 <= args.jpeg_quality <= 100:
            raise UnmaskError(f"--jpeg-quality must be 1-100; got {args.jpeg_quality}")
        if args.shards < 1:
            raise UnmaskError(f"--shards must be at least 1; got {args.shards}")
        from unmask.train.run import load_faces

        faces = load_faces(load_config(args.config, sets=args.set))
        if args.shards == 1:
            paths = [faces.save(args.out, jpeg_quality=args.jpeg_quality)]
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            bounds = np.linspace(0, len(faces), args.shards + 1).round().astype(int)
            paths = [
                faces.subset(np.arange(a, b)).save(
                    args.out / f"faces-{k:03d}.npz", jpeg_quality=args.jpeg_quality
                )
                for k, (a, b) in enumerate(itertools.pairwise(bounds))
            ]
    except UnmaskError as err:
        print(f"unmask: error: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB")
    print(f"{len(faces)} faces in {len(paths)} file(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
