"""Evaluate a detector on the FaceForensics++ c40 development set and write the report.

Runs exactly ``unmask evaluate --labels <ffpp_c40> --detector NAME --frames 32`` (video level:
one P(FAKE) per video from 32 sampled frames), so anyone can regenerate the numbers:

    python bench/eval_ffpp.py                         # default detector, 32 frames
    python bench/eval_ffpp.py --detector spectrum --out out/eval_ffpp_spectrum

Writes OUT/report.html, OUT/summary.json and OUT/predictions.csv (re-score the saved
predictions later with ``unmask evaluate --predictions``), and prints the headline numbers
(DFDC log loss, AUC, AP, EER, accuracy, ECE with bootstrap 95% intervals) and per-method
log loss and AUC. The data folder defaults to ``$UNMASK_SHARED_DATA/ffpp_c40`` or
``../shared/data/ffpp_c40`` beside the checkout; it is never copied anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def default_data() -> Path:
    env = os.environ.get("UNMASK_SHARED_DATA")
    return (Path(env) if env else REPO.parent / "shared" / "data") / "ffpp_c40"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=default_data(), help="the ffpp_c40 folder")
    parser.add_argument("--detector", default="default")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "eval_ffpp_c40")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(
            f"eval_ffpp: data folder {args.data} not found (set UNMASK_SHARED_DATA)",
            file=sys.stderr,
        )
        return 1

    from unmask.cli import main as unmask

    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "summary.json"
    code = unmask(
        [
            "evaluate",
            "--labels", str(args.data),
            "--detector", args.detector,
            "--frames", str(args.frames),
            "--n-boot", str(args.n_boot),
            "--json", str(summary_path),
            "--report", str(args.out / "report.html"),
            "--save-predictions", str(args.out / "predictions.csv"),
            "--title", f"{args.detector} on FaceForensics++ c40 (video level, {args.frames} frames)",
        ]
    )  # fmt: skip
    if code:
        return code
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    print(
        f"\n{args.detector} on ffpp_c40, video level, {args.frames} frames: "
        f"{summary['n']} videos ({summary['n_fake']} FAKE, {summary['n_real']} REAL), report in {args.out}"
    )
    print(f"scan statuses: {summary['scan']['statuses']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
