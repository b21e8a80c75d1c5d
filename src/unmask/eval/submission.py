"""DFDC-format label sets and prediction files: reading labels, validating submissions.

A label set is a CSV ``filename,label`` (label 1 = FAKE, 0 = REAL), optionally with a third
column ``split`` (the forge ``labels/test_labels.csv``). A submission / prediction file is
a CSV ``filename,label`` with label = P(FAKE) in [0, 1], one row per labelled file.

>>> labels = read_labels(b"filename,label\\na.mp4,1\\nb.mp4,0\\n")
>>> validate_submission(b"filename,label\\na.mp4,0.9\\nb.mp4,0.2\\n", labels)
{'a.mp4': 0.9, 'b.mp4': 0.2}

Both are shared by ``unmask evaluate`` and the challenge server, so the checks are strict
and every problem is reported with its line number.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from unmask.errors import DatasetError, InvalidSubmissionError
from unmask.eval._csv import LABEL_WORDS, SHOWN, decode, header, join_problems, quote, records

__all__ = [
    "DEFAULT_MAX_BYTES",
    "LabelTable",
    "ParsedPredictions",
    "parse_predictions",
    "read_label_splits",
    "read_label_table",
    "read_labels",
    "unknown_filename_problems",
    "validate_submission",
]

#: Largest submission accepted by default: ample for 100,000 rows of ``filename,label``.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


# --------------------------------------------------------------------------- label sets


@dataclass(frozen=True)
class LabelTable:
    """A label set: ``labels[filename]`` is 1 (FAKE) or 0 (REAL); ``splits`` when given."""

    labels: dict[str, int]
    splits: dict[str, str] | None = None


def _read_source(source: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), "labels"
    path = Path(source)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not found"
        raise DatasetError(f"labels file {str(path)!r}: {what}; expected a CSV filename,label")
    return path.read_bytes(), str(path)


def read_label_table(source: str | Path | bytes) -> LabelTable:
    """Read a DFDC label set ``filename,label`` or the forge ``filename,label,split`` file.

    ``source`` is a path or the file's bytes. Labels may be written 0/1 or REAL/FAKE.
    Raises :class:`~unmask.errors.DatasetError` listing the first problems by line.

    >>> read_label_table(b"filename,label,split\\npublic/a.mp4,1,public\\n")
    LabelTable(labels={'public/a.mp4': 1}, splits={'public/a.mp4': 'public'})
    """
    data, name = _read_source(source)
    text, problem = decode(data, "the labels file")
    if text is None:
        raise DatasetError(f"{name}: {problem}")
    rows_in = records(text)
    first = next(rows_in, None)
    if first is None:
        raise DatasetError(f"{name}: empty file; expected a header 'filename,label' and rows")
    columns = header(first[1])
    if columns not in (["filename", "label"], ["filename", "label", "split"]):
        raise DatasetError(
            f"{name}: line {first[0]}: expected the header 'filename,label' or "
            f"'filename,label,split'; got {quote(','.join(first[1]))}"
        )
    width = len(columns)
    labels: dict[str, int] = {}
    splits: dict[str, str] = {}
    seen: dict[str, int] = {}
    problems: list[str] = []
    for line, fields in rows_in:
        if fields[0].startswith("\0"):
            problems.append(f"line {line}: not valid CSV ({fields[0][1:]})")
            break
        if len(fields) != width:
            problems.append(f"line {line}: expected {width} fields; got {len(fields)}")
            continue
        filename, value = fields[0].strip(), fields[1].strip()
        if not filename:
            problems.append(f"line {line}: empty filename")
            continue
        if filename in seen:
            problems.append(
                f"line {line}: duplicate filename {quote(filename)} (first on line {seen[filename]})"
            )
            continue
        label = LABEL_WORDS.get(value.lower())
        if label is None:
            problems.append(f"line {line}: label must be 1 (FAKE) or 0 (REAL); got {quote(value)}")
            continue
        seen[filename] = line
        labels[filename] = label
        if width == 3:
            split = fields[2].strip()
            if not split:
                problems.append(f"line {line}: empty split for {quote(filename)}")
                continue
            splits[filename] = split
    if problems:
        raise DatasetError(f"{name}: {join_problems(problems)}")
    if not labels:
        raise DatasetError(f"{name}: no rows after the header; expected one row per file")
    return LabelTable(labels, splits if width == 3 else None)


def read_labels(source: str | Path | bytes) -> dict[str, int]:
    """``{filename: 1 for FAKE, 0 for REAL}`` from a DFDC or forge labels CSV.

    >>> read_labels(b"filename,label\\na.mp4,FAKE\\nb.mp4,0\\n")
    {'a.mp4': 1, 'b.mp4': 0}
    """
    return read_label_table(source).labels


def read_label_splits(source: str | Path | bytes) -> dict[str, str] | None:
    """``{filename: split}`` from a forge ``filename,label,split`` file; None without the column.

    >>> read_label_splits(b"filename,label,split\\npublic/a.mp4,1,public\\n")
    {'public/a.mp4': 'public'}
    >>> read_label_splits(b"filename,label\\na.mp4,1\\n") is None
    True
    """
    return read_label_table(source).splits


# --------------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class ParsedPredictions:
    """Rows of a prediction CSV and the problems found reading it (none checked against labels).

    ``rows`` holds ``(line, filename, p_fake)``; ``frame`` is set for the frame-level form
    ``filename,frame,label`` and parallel to ``rows``.
    """

    rows: list[tuple[int, str, float]]
    problems: list[str]
    frames: list[int] | None = None


def _parse_value(text: str) -> float:
    """P(FAKE) from a CSV field; ValueError with the reason when it is not one."""
    value = text.strip()
    if _NOT_FINITE.fullmatch(value):
        raise ValueError(f"label must be a finite probability in [0, 1]; got {quote(value)}")
    if not _NUMBER.fullmatch(value):
        raise ValueError(f"label must be a number in [0, 1] (P(FAKE)); got {quote(value)}")
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"label must be in [0, 1] (P(FAKE)); got {value}")
    return number


def parse_predictions(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, allow_frames: bool = False
) -> ParsedPredictions:
    """Parse a prediction CSV ``filename,label`` (or ``filename,frame,label`` when
    ``allow_frames``) and collect every problem by line: encoding, header, field count,
    empty or duplicate filenames, values that are not finite numbers in [0, 1].

    >>> parse_predictions(b"filename,label\\na.mp4,0.5\\na.mp4,2\\n").problems
    ["line 3: duplicate filename 'a.mp4' (first on line 2)"]
    """
    if len(data) > max_bytes:
        return ParsedPredictions(
            [], [f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes"]
        )
    text, problem = decode(data, "the file")
    if text is None:
        return ParsedPredictions([], [problem or "not UTF-8"])
    rows_in = records(text)
    first = next(rows_in, None)
    if first is None:
        return ParsedPredictions(
            [], ["empty file; expected the header 'filename,label' and one row per file"]
        )
    columns = header(first[1])
    frame_level = allow_frames and columns == ["filename", "frame", "label"]
    if columns != ["filename", "label"] and not frame_level:
        wanted = "'filename,label'" + (" or 'filename,frame,label'" if allow_frames else "")
        return ParsedPredictions(
            [],
            [f"line {first[0]}: expected the header {wanted}; got {quote(','.join(first[1]))}"],
        )
    width = len(columns)
    rows: list[tuple[int, str, float]] = []
    frames: list[int] = []
    problems: list[str] = []
    seen: dict[str | tuple[str, int], int] = {}
    for line, fields in rows_in:
        if fields[0].startswith("\0"):
            problems.append(f"line {line}: not valid CSV ({fields[0][1:]})")
            break
        if len(fields) != width:
            problems.append(
                f"line {line}: expected {width} fields ({','.join(columns)}); got {len(fields)}"
            )
            continue
        filename = fields[0].strip()
        if not filename:
            problems.append(f"line {line}: empty filename")
            continue
        key: str | tuple[str, int] = filename
        if frame_level:
            frame_text = fields[1].strip()
            if not frame_text.isdigit():
                problems.append(
                    f"line {line}: frame must be a non-negative integer; got {quote(frame_text)}"
                )
                continue
            key = (filename, int(frame_text))
        if key in seen:
            what = f"filename {quote(filename)}"
            if isinstance(key, tuple):
                what += f" frame {key[1]}"
            problems.append(f"line {line}: duplicate {what} (first on line {seen[key]})")
            continue
        seen[key] = line
        try:
            value = _parse_value(fields[-1])
        except ValueError as err:
            problems.append(f"line {line}: {err}")
            continue
        rows.append((line, filename, value))
        if isinstance(key, tuple):
            frames.append(key[1])
    if not rows and not problems:
        problems.append("no rows after the header; expected one row per labelled file")
    return ParsedPredictions(rows, problems, frames if frame_level else None)


def unknown_filename_problems(rows: Iterable[tuple[int, str]], known: Collection[str]) -> list[str]:
    """One problem per ``(line, filename)`` not in ``known``, saying how the label set
    writes the same file name when it has it under another path.

    >>> unknown_filename_problems([(2, "a.mp4"), (3, "public/b.mp4")], {"public/a.mp4", "public/b.mp4"})
    ["line 2: unknown filename 'a.mp4' (the label set has 'public/a.mp4')"]
    """
    by_name: dict[str, str] | None = None
    problems: list[str] = []
    for line, filename in rows:
        if filename in known:
            continue
        if by_name is None:
            by_name = {}
            for k in known:
                by_name.setdefault(PurePosixPath(k).name, k)
        other = by_name.get(PurePosixPath(filename.replace("\\", "/")).name)
        hint = f" (the label set has {quote(other)})" if other else ""
        problems.append(f"line {line}: unknown filename {quote(filename)}{hint}")
    return problems


def validate_submission(
    data: bytes, labels: Mapping[str, int], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, float]:
    """Check a DFDC submission ``filename,label`` against a label set; ``{filename: p_fake}``.

    Problems found: size over ``max_bytes``, not UTF-8 (a BOM is fine), a header other than
    ``filename,label`` (case and spaces ignored), rows with the wrong field count, empty or
    duplicate filenames, values that are not numbers, NaN/inf, outside [0, 1], filenames the
    label set does not have, and labelled filenames with no row. All are raised together as
    :class:`~unmask.errors.InvalidSubmissionError` whose ``problems`` read like
    ``"line 7: duplicate filename 'a.mp4' (first on line 3)"``.

    >>> validate_submission(b"filename,label\\nc.mp4,0.5\\n", {"a.mp4": 1})
    Traceback (most recent call last):
    ...
    unmask.errors.InvalidSubmissionError: invalid submission: line 2: unknown filename 'c.mp4'; missing 1 of 1 labelled filenames, e.g. 'a.mp4'
    """
    parsed = parse_predictions(data, max_bytes=max_bytes)
    problems = list(parsed.problems)
    out: dict[str, float] = {}
    if parsed.rows or not problems:
        problems += unknown_filename_problems(((r[0], r[1]) for r in parsed.rows), labels.keys())
        out = {f: v for _, f, v in parsed.rows if f in labels}
        problems.sort(key=_line_of)
        seen = {filename for _, filename, _ in parsed.rows}
        missing = [f for f in labels if f not in seen]
        if missing:
            shown = ", ".join(quote(f) for f in missing[:SHOWN])
            problems.append(
                f"missing {len(missing)} of {len(labels)} labelled filenames, e.g. {shown}"
            )
    if problems:
        raise InvalidSubmissionError(problems)
    return out


def _line_of(problem: str) -> int:
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 0
