"""The ``unmask`` command: a thin layer over the Python API.

Each subcommand lives in its own module (``_scan.py``, ``_evaluate.py``, ...) exposing
``register(subparsers)``; the module sets ``run`` as the parser default. Modules import
their heavy dependencies inside ``run`` so that ``unmask --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import warnings
from collections.abc import Sequence

from unmask import __version__
from unmask.errors import UnmaskError

# Module names under unmask.cli, in the order they appear in ``unmask --help``.
COMMANDS: tuple[str, ...] = (
    "_scan",
    "_evaluate",
    "_train",
    "_forge",
    "_detectors",
    "_demo",
    "_arena",
)

EPILOG = """examples:
  unmask scan clip.mp4                      verdict for one video
  unmask scan videos/ --output preds.csv    DFDC submission for a folder
  unmask demo                               scan the bundled sample media
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unmask",
        description="Fight deepfakes on an ordinary CPU, offline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"unmask {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"unmask.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unmask`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.formatwarning = _one_line_warning
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except UnmaskError as err:
        print(f"unmask: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("unmask: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:  # e.g. `unmask scan ... | head`
        return 0


def _one_line_warning(message: Warning | str, *_args: object, **_kwargs: object) -> str:
    return f"unmask: warning: {message}\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
