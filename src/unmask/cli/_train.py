"""``unmask train CONFIG.yaml``: train a detector from a typed YAML config."""

from __future__ import annotations

import argparse
import json
from typing import Any

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
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (YAML syntax)",
    )
    p.set_defaults(run=run)


def _overrides(pairs: list[str]) -> dict[str, Any]:
    import yaml

    from unmask.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set expects KEY=VALUE; got {pair!r}")
        key, value = pair.split("=", 1)
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = (
            _merge(out.get(k, {}), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import yaml

    from unmask.errors import ConfigError
    from unmask.train.config import load_config
    from unmask.train.run import run_training

    path = Path(args.config)
    overrides = _overrides(args.set)
    if overrides:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        merged = _merge(raw, overrides)
        cfg = load_config(path, **{k: merged[k] for k in merged})
    else:
        cfg = load_config(path)
    summary = run_training(cfg, export_only=args.export_only)
    print(json.dumps(summary["detector"]["metrics"], indent=2))
    return 0
