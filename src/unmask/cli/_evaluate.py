"""``unmask evaluate``: score predictions (or a detector) against a labelled dataset."""

from __future__ import annotations

import argparse
from typing import Any

from unmask.cli._options import add_parallel_options

HELP = """examples:
  unmask evaluate --labels ffpp_c40/ --predictions preds.csv --report report.html
  unmask evaluate --labels ffpp_c40/ --detector default --frames 32 --json summary.json
  unmask evaluate --labels DIR/labels/test_labels.csv --root DIR/test --predictions sub.csv
  unmask evaluate --labels dfdc/ --predictions frames.csv --video-rule median
  unmask evaluate --labels corpus/ --detector default --workers 4 --store scans.jsonl

LABELS is a dataset folder or labels file; its layout is detected (forge manifest.jsonl,
DFDC metadata.json parts, FaceForensics++, Celeb-DF, a DFDC labels CSV 'filename,label',
a CSV 'path,label'). Predictions are a DFDC CSV 'filename,label' with label = P(FAKE), or
'filename,frame,label' for frame-level scores. Top-level numbers are video level.

With --detector and --store, the scan resumes: every scanned file is kept in the results
store and a re-run scans only the files not done yet. --workers N scans on N processes,
--cluster on a Dask cluster (docs/scale.md).
"""


# Kept here, not imported from unmask.eval.metrics, so that `unmask --help` needs no numpy;
# tests/eval check they equal metrics.DFDC_EPS and metrics.VIDEO_RULES.
DFDC_EPS = 1e-15
VIDEO_RULES = ("max", "mean", "median")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="DFDC log loss, AUC and more for predictions or a detector on a labelled dataset",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--labels",
        action="append",
        required=True,
        metavar="LABELS",
        help="dataset folder or labels file (repeat to pool several datasets)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--predictions", metavar="CSV", help="prediction CSV filename,label (P(FAKE))")
    src.add_argument(
        "--detector", metavar="NAME", help="scan the labelled files with this detector first"
    )
    p.add_argument(
        "--frames", type=int, default=32, help="frames sampled per video when scanning (default 32)"
    )
    add_parallel_options(p, doing="with --detector: scan")
    p.add_argument(
        "--store",
        metavar="JSONL",
        help="with --detector: keep results here and resume from them (JSON lines)",
    )
    p.add_argument(
        "--reader", metavar="NAME", help="force a dataset layout instead of detecting it"
    )
    p.add_argument("--root", metavar="DIR", help="folder the labels' file names are relative to")
    p.add_argument(
        "--split", action="append", metavar="SPLIT", help="only files of this split (repeatable)"
    )
    p.add_argument(
        "--match",
        choices=("path", "basename"),
        default="path",
        help="match predictions by the label set's path (default) or by bare file name",
    )
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score only the labelled files that have a prediction",
    )
    p.add_argument(
        "--video-rule",
        choices=sorted(VIDEO_RULES),
        default="mean",
        help="frame scores -> video score for frame-level predictions (default mean)",
    )
    p.add_argument(
        "--threshold", type=float, default=0.5, help="FAKE when P(FAKE) >= this (default 0.5)"
    )
    p.add_argument(
        "--eps", type=float, default=DFDC_EPS, help="log loss clipping (default 1e-15, as DFDC)"
    )
    p.add_argument("--n-bins", type=int, default=15, help="calibration bins (default 15)")
    p.add_argument(
        "--prevalence",
        type=float,
        default=0.01,
        help="FAKE prevalence for weighted precision (default 0.01)",
    )
    p.add_argument(
        "--recall-level",
        type=float,
        default=0.5,
        help="recall for weighted precision (default 0.5)",
    )
    p.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples for intervals (0: none)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--report", metavar="HTML", help="write the HTML report here")
    p.add_argument("--json", metavar="JSON", help="write the JSON summary here")
    p.add_argument(
        "--save-predictions", metavar="CSV", help="with --detector: write the scores as a DFDC CSV"
    )
    p.add_argument("--title", help="report title")
    p.set_defaults(run=run)


def _read_items(args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    from unmask.errors import DatasetError
    from unmask.eval.datasets import read_dataset

    items: list[Any] = []
    seen: dict[str, str] = {}
    for labels in args.labels:
        for it in read_dataset(labels, reader=args.reader, root=args.root):
            if it.file in seen:
                raise DatasetError(
                    f"{it.file!r} is in both {seen[it.file]} and {labels}; pool datasets whose "
                    f"file names differ (e.g. a CSV 'path,label' per dataset with distinct paths)"
                )
            seen[it.file] = labels
            items.append(it)
    if not args.split:
        return items, []
    keep = [it for it in items if it.split in args.split]
    if not keep:
        present = sorted({str(it.split) for it in items})
        raise DatasetError(
            f"no labelled file is in split {', '.join(args.split)}; the splits present are {', '.join(present)}"
        )
    return keep, [it for it in items if it.split not in args.split]


def _print_summary(summary: dict[str, Any]) -> None:
    ci = summary.get("ci") or {}

    def show(key: str) -> str:
        value = summary.get(key)
        if value is None:
            return "–"
        interval = ci.get(key)
        return f"{value:.4f}" + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")

    print(f"video level: n={summary['n']} ({summary['n_fake']} FAKE, {summary['n_real']} REAL)")
    for key in ("log_loss", "auc", "ap", "eer", "accuracy", "ece"):
        print(f"  {key:<10} {show(key)}")
    groups = summary.get("by_method") or {}
    if len(groups) > 1:
        print("per method (its fakes vs every REAL):")
        for name, g in groups.items():
            auc = "–" if g["auc"] is None else f"{g['auc']:.4f}"
            print(f"  {name:<16} n={g['n']:<6} log_loss={g['log_loss']:.4f} auc={auc}")
    frame = summary.get("frame_level")
    if frame:
        auc = "–" if frame["auc"] is None else f"{frame['auc']:.4f}"
        print(f"frame level: n={frame['n']} log_loss={frame['log_loss']:.4f} auc={auc}")


def _scan(items: list[Any], args: argparse.Namespace) -> list[Any]:
    from unmask.eval.evaluate import scan_items

    kwargs = {"detector": args.detector, "frames": args.frames}
    if not (args.store or args.workers != 1 or args.cluster):
        return scan_items(items, **kwargs)
    from unmask.scale import ResultStore

    with ResultStore(args.store) as store:
        return scan_items(items, **kwargs, workers=args.workers, cluster=args.cluster, store=store)


def run(args: argparse.Namespace) -> int:
    from unmask._io import atomic_write_json, atomic_write_text
    from unmask.errors import ConfigError
    from unmask.eval.evaluate import (
        EvalSettings,
        evaluate,
        match_predictions,
        matched_from_scans,
        read_predictions,
        submission_csv,
    )

    if args.save_predictions and not args.detector:
        raise ConfigError(
            "--save-predictions needs --detector (predictions from a CSV are already saved)"
        )
    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1; got {args.frames}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1; got {args.workers}")
    scale_options = args.workers != 1 or args.cluster or args.store
    if scale_options and not args.detector:
        raise ConfigError("--workers, --cluster and --store need --detector")
    settings = EvalSettings(
        threshold=args.threshold,
        eps=args.eps,
        n_bins=args.n_bins,
        recall_level=args.recall_level,
        prevalence=args.prevalence,
        n_boot=args.n_boot,
        random_state=args.seed,
    )
    items, excluded = _read_items(args)
    inputs: dict[str, Any] = {"labels": list(args.labels), "split": args.split, "match": args.match}
    statuses = None
    if args.detector:
        statuses = _scan(items, args)
        matched = matched_from_scans(items, statuses)
        inputs["detector"] = {"name": args.detector, "frames": args.frames}
        if args.save_predictions:
            atomic_write_text(args.save_predictions, submission_csv(items, statuses))
    else:
        parsed = read_predictions(args.predictions)
        matched = match_predictions(
            items,
            parsed,
            match=args.match,
            allow_missing=args.allow_missing,
            video_rule=args.video_rule,
            excluded=excluded,
            source=args.predictions,
        )
        inputs["predictions"] = args.predictions
    result = evaluate(matched, settings=settings, statuses=statuses, inputs=inputs)
    _print_summary(result.summary)
    if args.json:
        atomic_write_json(args.json, result.summary)
        print(f"summary written to {args.json}")
    if args.report:
        from unmask.eval.report import write_report

        write_report(result, args.report, title=args.title or "unmask evaluation")
        print(f"report written to {args.report}")
    return 0
