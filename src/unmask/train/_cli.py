"""Options shared by the commands that read a training config; imports nothing heavy, so
the ``unmask`` CLI can declare them at start-up (the config is read only when one runs)."""

from __future__ import annotations

import argparse


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """The ``--set KEY=VALUE`` option of every command that reads a training config."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (YAML syntax; dotted keys, e.g. sbi.p_warp=0.3)",
    )
