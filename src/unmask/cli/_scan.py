"""``unmask scan``: verdicts for videos and images, as a table, a DFDC CSV, JSON lines, HTML."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from unmask.cli._options import add_parallel_options

HELP = """examples:
  unmask scan clip.mp4
  unmask scan photos/ videos/ --output preds.csv --json results.jsonl
  unmask scan test_videos/ --output submission.csv --report report.html --frames 16
  unmask scan corpus/ --output preds.csv --workers 4          # 4 processes on this machine
  unmask scan /shared/corpus/ --output preds.csv --cluster tcp://10.0.0.5:8786   # Dask

PATH may be files or folders (searched recursively for videos and images). --output writes
the DFDC submission format (filename,label with label = P(FAKE)); filename is the path
relative to the folder given, or the bare name of a file given directly. A file that cannot
be scanned still gets a row (0.5) and one error line on stderr. The exit code is 0 when the
batch ran, 2 for usage errors (bad options, a PATH that does not exist: the other paths are
still scanned).

Long runs resume: with --output (or --json/--report) every finished file is kept in a
results store beside the output (OUTPUT.unmask-store.jsonl); run the same command again
after a crash or Ctrl-C and only the files not done yet are scanned (a file whose size or
time changed, another detector or other weights: scanned again). --workers N scans on N
processes; --cluster scans on a Dask cluster whose workers read the same paths (shared
storage; docs/scale.md).
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
    add_parallel_options(p, doing="scan")
    p.add_argument(
        "--store",
        metavar="JSONL",
        help="results store for resuming (default: beside the first output, "
        "OUTPUT.unmask-store.jsonl)",
    )
    p.add_argument("--fresh", action="store_true", help="forget stored results and scan everything")
    p.add_argument(
        "--retry-errors", action="store_true", help="scan again the files stored as errors"
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="N",
        help="times a task whose worker failed or died is retried before it is reported (default 2)",
    )
    p.set_defaults(run=run)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.frames < 1:
        return f"--frames must be at least 1; got {args.frames}"
    from unmask.scale import run_options_problem

    return run_options_problem(
        workers=args.workers, cluster=args.cluster, retries=args.retries, flags=True
    )


def run(args: argparse.Namespace) -> int:
    from unmask.batch import collect_inputs, write_jsonl, write_submission
    from unmask.cli._output import print_errors, verdict_table
    from unmask.errors import UnmaskError
    from unmask.scale import ResultStore, store_path_for
    from unmask.scale.scan import scan_inputs

    problem = _usage_problem(args)
    if problem:
        print(f"unmask: error: {problem}", file=sys.stderr)
        return 2
    inputs, problems = collect_inputs(args.paths)
    for problem in problems:
        print(f"unmask: error: {problem}", file=sys.stderr)
    if not inputs:
        return 2
    first_output = args.output or args.json or args.report
    store_path = args.store or (store_path_for(first_output) if first_output else None)
    with ResultStore(store_path, fresh=args.fresh) as store:
        if store.repaired:
            print(
                f"unmask: warning: {store_path}: dropped an incomplete last line (a crash "
                "while writing); that file is scanned again",
                file=sys.stderr,
            )
        try:
            scan = scan_inputs(
                inputs,
                store,
                detector=args.detector,
                frames=args.frames,
                keep_evidence=bool(args.report),
                workers=args.workers,
                cluster=args.cluster,
                retries=args.retries,
                retry_errors=args.retry_errors,
            )
        except KeyboardInterrupt:
            if store_path:
                print(
                    f"unmask: the finished files are kept in {store_path}: run the same "
                    "command again to go on",
                    file=sys.stderr,
                )
            raise
        if scan.stats.reused:
            print(
                f"unmask: {scan.stats.reused} of {scan.stats.total} files were already scanned "
                f"(results store {store_path}); scanned {scan.stats.finished}",
                file=sys.stderr,
            )
        rows = scan.rows
        # one line per failed file (missing paths were reported above)
        print_errors([r for r in rows if r.result.status == "error" and not r.input.error])
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
