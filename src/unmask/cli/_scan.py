"""``unmask scan``: verdicts for videos and images, as a table, a DFDC CSV, JSON lines, HTML."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = """examples:
  unmask scan clip.mp4
  unmask scan photos/ videos/ --output preds.csv --json results.jsonl
  unmask scan test_videos/ --output submission.csv --report report.html --frames 16

PATH may be files or folders (searched recursively for videos and images). --output writes
the DFDC submission format (filename,label with label = P(FAKE)); filename is the path
relative to the folder given, or the bare name of a file given directly. A file that cannot
be scanned still gets a row (0.5) and one error line on stderr. The exit code is 0 when the
batch ran, 2 for usage errors (bad options, a PATH that does not exist: the other paths are
still scanned).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "scan",
        help="scan videos and images for deepfaked faces",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="video/image files or folders")
    p.add_argument(
        "--output", "-o", metavar="CSV", help="write a DFDC submission CSV (filename,label)"
    )
    p.add_argument("--json", metavar="JSONL", help="write one JSON result per line")
    p.add_argument("--report", metavar="HTML", help="write a self-contained HTML report")
    p.add_argument(
        "--frames", type=int, default=32, metavar="N", help="frames sampled per video (default 32)"
    )
    p.add_argument(
        "--detector",
        default="default",
        metavar="NAME",
        help="detector name (see `unmask detectors`)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the verdict table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unmask.batch import collect_inputs, run_batch, write_jsonl, write_submission
    from unmask.cli._output import print_errors, verdict_table
    from unmask.errors import UnmaskError
    from unmask.scanner import Scanner

    if args.frames < 1:
        print(f"unmask: error: --frames must be at least 1; got {args.frames}", file=sys.stderr)
        return 2
    inputs, problems = collect_inputs(args.paths)
    for problem in problems:
        print(f"unmask: error: {problem}", file=sys.stderr)
    if not inputs:
        return 2
    scanner = Scanner(args.detector, frames=args.frames, keep_evidence=bool(args.report))
    rows = run_batch(inputs, scanner)
    print_errors([r for r in rows if not r.input.error])
    if not args.quiet:
        print(verdict_table(rows))
    try:
        if args.output:
            write_submission(rows, args.output)
        if args.json:
            write_jsonl(rows, args.json)
        if args.report:
            from unmask.scan_report import write_scan_report

            write_scan_report(rows, args.report)
    except OSError as err:
        raise UnmaskError(f"cannot write output {err.filename}: {err.strerror}") from None
    return 2 if problems else 0
