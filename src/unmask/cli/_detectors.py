"""``unmask detectors``: list the registered detectors with their config and measured metrics."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "detectors",
        help="list the available detectors",
        description="examples:\n  unmask detectors\n  unmask detectors --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print each detector's full config as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unmask.detectors import default_detector, list_detectors, load_cfg

    default = default_detector()
    for name in list_detectors():
        cfg = load_cfg(name)
        if args.json:
            print(json.dumps(cfg.to_dict()))
            continue
        mark = " (default)" if name == default else ""
        print(f"{name}{mark}: {cfg.architecture}; input {cfg.input_size}px, margin {cfg.margin}")
        print(f"    trained on: {cfg.trained_on}")
        for key, value in cfg.metrics.items():
            if not isinstance(value, dict):
                print(f"    {key}: {value}")
    return 0
