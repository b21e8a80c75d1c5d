"""``unmask train CONFIG.yaml``: train a detector from a typed YAML config."""

from __future__ import annotations

import argparse
import json
from typing import Any

from unmask.train._cli import add_set_option

HELP = """examples:
  unmask train configs/effnet_sbi.yaml
  unmask train configs/effnet_sbi.yaml --set optim.max_steps=20 --set name=smoke

Extracts face crops (cached), splits identities into train/validation, trains with
self-blended pseudo-fakes and degradations, exports ONNX, picks the aggregation rule and
fits calibration on validation videos, and writes <name>.onnx + <name>.json. Re-running
resumes from the last finished epoch. Needs the train extra.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a detector",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG.yaml")
    p.add_argument(
        "--export-only", action="store_true", help="export and calibrate the best checkpoint so far"
    )
    add_set_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unmask.train.config import load_config
    from unmask.train.run import run_training

    cfg = load_config(args.config, sets=args.set)
    summary = run_training(cfg, export_only=args.export_only)
    print(json.dumps(summary["detector"]["metrics"], indent=2))
    return 0
