"""``unmask demo``: scan the sample media bundled with unmask and print the verdicts."""

from __future__ import annotations

import argparse
from typing import Any

TRUTH = {
    "astronaut.jpg": "REAL",
    "astronaut_pan.mp4": "REAL",
    "astronaut_swapped.mp4": "FAKE",
    "coffee.jpg": "no face",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="scan the bundled sample media",
        description="examples:\n  unmask demo\n  unmask demo --report demo.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--report", metavar="HTML", help="also write the HTML report")
    p.add_argument("--detector", default="default", metavar="NAME", help="detector name")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from importlib import resources
    from pathlib import Path

    from unmask.batch import collect_inputs, run_batch
    from unmask.cli._output import verdict, verdict_table
    from unmask.scanner import Scanner

    folder = Path(str(resources.files("unmask") / "samples"))
    inputs, _ = collect_inputs([folder])
    scanner = Scanner(args.detector, keep_evidence=bool(args.report))
    rows = run_batch(inputs, scanner, show_progress=False)
    print(f"unmask demo: {len(rows)} sample files, detector {scanner.detector.name!r}\n")
    print(verdict_table(rows))
    hits = [verdict(r) == TRUTH.get(r.input.filename, "?").upper() for r in rows]
    print(
        f"\n{sum(hits)}/{len(rows)} verdicts match the truth ({', '.join(f'{k}: {v}' for k, v in TRUTH.items())})."
    )
    if args.report:
        from unmask.scan_report import write_scan_report

        write_scan_report(rows, args.report, title="unmask demo")
        print(f"report: {args.report}")
    return 0
