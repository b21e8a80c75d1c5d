"""Scanning many files: collecting inputs from paths, running a Scanner, writing outputs.

>>> inputs, problems = collect_inputs(["videos/", "extra.mp4"])  # doctest: +SKIP
>>> rows = run_batch(inputs, Scanner())                           # doctest: +SKIP
>>> write_submission(rows, "preds.csv")                           # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from unmask._io import atomic_open, atomic_write_text
from unmask._progress import progress
from unmask.media import is_media_path, media_kind
from unmask.scanner import NO_VERDICT_P, Scanner, ScanResult

if TYPE_CHECKING:
    from unmask.detectors import DetectorCfg


@dataclass(frozen=True)
class ScanInput:
    """A file to scan and the name it gets in the submission file.

    ``filename`` is the path relative to the folder that was given (forward slashes), or the
    bare file name for a file given directly. ``error`` is set when the file cannot even be
    attempted (a path that does not exist).
    """

    path: Path
    filename: str
    error: str | None = None


@dataclass(frozen=True)
class BatchRow:
    input: ScanInput
    result: ScanResult


def collect_inputs(paths: Sequence[str | Path]) -> tuple[list[ScanInput], list[str]]:
    """Expand files and folders (recursively, media extensions only, sorted).

    Returns the inputs and the usage problems found (missing paths, unreadable folders,
    two inputs with the same submission filename). A missing path still becomes an input
    with ``error`` set, so that it gets a row in the outputs.
    """
    inputs: list[ScanInput] = []
    problems: list[str] = []
    seen_files: set[Path] = set()
    seen_names: dict[str, Path] = {}

    def add(path: Path, filename: str, error: str | None = None) -> None:
        key = path.resolve() if error is None else path
        if key in seen_files:
            return
        if filename in seen_names:
            problems.append(
                f"{path}: its submission filename {filename!r} is already used by {seen_names[filename]}; "
                "scan the two folders separately"
            )
            return
        seen_files.add(key)
        seen_names[filename] = path
        inputs.append(ScanInput(path, filename, error))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = []

            def on_error(err: OSError) -> None:
                problems.append(
                    f"{err.filename}: cannot list folder ({err.strerror}); check its permissions"
                )

            for folder, dirs, files in os.walk(path, onerror=on_error):
                dirs.sort()
                found += [Path(folder) / f for f in files if is_media_path(f)]
            if not found and not problems:
                problems.append(f"{path}: no videos or images found in this folder")
            for f in sorted(found, key=lambda p: p.relative_to(path).as_posix()):
                add(f, f.relative_to(path).as_posix())
        elif path.exists() or path.is_symlink():
            add(path, path.name)
        else:
            message = f"{path}: no such file or folder"
            problems.append(message)
            add(path, path.name, message)
    return inputs, problems


def failed_result(cfg: DetectorCfg, item: ScanInput, message: str) -> ScanResult:
    """The error row of an input that could not be scanned with the detector of ``cfg``."""
    return ScanResult(
        path=str(item.path),
        kind=media_kind(item.path) if item.path.exists() else "unknown",
        status="error",
        p_fake=NO_VERDICT_P,
        label=None,
        threshold=cfg.threshold,
        detector=cfg.name,
        weights_sha256=cfg.sha256,
        error=message,
    )


def scan_one(scanner: Scanner, item: ScanInput) -> ScanResult:
    """Scan one input; any failure becomes an error result so the batch goes on."""
    cfg = scanner.detector.cfg
    if item.error:
        return failed_result(cfg, item, item.error)
    try:
        return scanner.scan(item.path)
    except MemoryError:
        return failed_result(cfg, item, f"{item.path}: ran out of memory while scanning")
    except Exception as err:  # a bug must not lose the rest of the batch
        return failed_result(
            cfg,
            item,
            f"{item.path}: internal error {type(err).__name__}: {err} (please report)",
        )


def run_batch(
    inputs: Sequence[ScanInput],
    scanner: Scanner,
    *,
    show_progress: bool | None = None,
    on_result: Callable[[BatchRow], None] | None = None,
) -> list[BatchRow]:
    """Scan every input in order; ``on_result`` is called after each file."""
    rows = []
    enabled = show_progress if show_progress is not None else (None if len(inputs) > 1 else False)
    for item in progress(inputs, total=len(inputs), desc="scan", unit="file", enabled=enabled):
        row = BatchRow(item, scan_one(scanner, item))
        rows.append(row)
        if on_result:
            on_result(row)
    return rows


def submission_text(rows: Iterable[BatchRow]) -> str:
    """DFDC submission CSV: header ``filename,label``, label = P(FAKE)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["filename", "label"])
    for row in rows:
        writer.writerow([row.input.filename, f"{row.result.p_fake:.6f}"])
    return buf.getvalue()


def write_submission(rows: Iterable[BatchRow], path: str | Path) -> None:
    atomic_write_text(path, submission_text(rows))


def write_jsonl(rows: Iterable[BatchRow], path: str | Path) -> None:
    """One ScanResult per line, with the submission ``filename`` added (written as it goes)."""
    with atomic_open(path) as f:
        for r in rows:
            f.write(
                json.dumps({"filename": r.input.filename, **r.result.to_dict()}, ensure_ascii=False)
                + "\n"
            )
