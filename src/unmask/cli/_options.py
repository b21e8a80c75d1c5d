"""Options shared by the commands that run on the scale engine (scan, evaluate, forge build)."""

from __future__ import annotations

import argparse


def add_parallel_options(parser: argparse.ArgumentParser, *, doing: str) -> None:
    """``--workers N`` and ``--cluster ADDRESS``; ``doing`` starts their help ("scan")."""
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help=f"{doing} on N processes on this machine (default 1)",
    )
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help=f"{doing} on a Dask cluster: scheduler address (tcp://host:8786) or scheduler JSON file",
    )
