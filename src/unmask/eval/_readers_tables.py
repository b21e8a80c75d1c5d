"""Readers for label tables: the forge manifest, DFDC label CSVs and plain ``path,label`` CSVs.

Registered first so that a forge folder (which also holds DFDC ``metadata.json`` parts) is
read through its richer manifest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from unmask.errors import DatasetError
from unmask.eval._csv import LABEL_WORDS, decode, header, join_problems, quote, records
from unmask.eval._registry import LabeledFile, register_reader
from unmask.eval.submission import read_label_table

MANIFEST = "manifest.jsonl"


def _csv_header(path: Path) -> list[str]:
    if not path.is_file() or path.suffix.lower() not in (".csv", ".txt"):
        return []
    with path.open("rb") as f:
        text, _ = decode(f.readline(4096), "")
    first = next(records(text or ""), None)
    return header(first[1]) if first else []


def _stem(file: str) -> str:
    return PurePosixPath(file).with_suffix("").as_posix()


# --------------------------------------------------------------------------- forge manifest


def _manifest_path(path: Path) -> Path:
    return path / MANIFEST if path.is_dir() else path


_MANIFEST_KEYS = ("file", "label", "video_id", "split", "method")


def _manifest_row(obj: Any, root: Path) -> LabeledFile:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object; got {type(obj).__name__}")
    missing = [k for k in _MANIFEST_KEYS if k not in obj]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    label = {"REAL": 0, "FAKE": 1}.get(str(obj["label"]).upper())
    if label is None:
        raise ValueError(f"label must be 'REAL' or 'FAKE'; got {obj['label']!r}")
    perturbations = obj.get("perturbations") or []
    names = [str(p["name"]) if isinstance(p, dict) else str(p) for p in perturbations]
    file = str(obj["file"])
    source = obj.get("source_actor")
    return LabeledFile(
        file=file,
        label=label,
        video_id=str(obj["video_id"]),
        method=str(obj["method"]),
        dataset="forge",
        identity=None if obj.get("target_actor") is None else str(obj["target_actor"]),
        source_identity=None if source is None else str(source),
        perturbation="+".join(names) if names else "none",
        split=str(obj["split"]),
        original=obj.get("original"),
        path=str(root / file),
    )


@register_reader(
    "forge",
    layout=f"a forge dataset folder with {MANIFEST} (or the {MANIFEST} file itself)",
    detect=lambda p: _manifest_path(p).is_file() and _manifest_path(p).name.endswith(".jsonl"),
)
def read_forge_manifest(path: Path) -> Iterator[LabeledFile]:
    """Rows of a forge ``manifest.jsonl``; ``file`` is relative to the dataset folder."""
    manifest = _manifest_path(path)
    root = manifest.parent
    with manifest.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield _manifest_row(json.loads(line), root)
            except (ValueError, KeyError, TypeError, DatasetError) as err:
                raise DatasetError(f"{manifest}: line {line_no}: {err}") from None


# --------------------------------------------------------------------------- DFDC label CSV


def _is_label_csv(path: Path) -> bool:
    return _csv_header(path) in (["filename", "label"], ["filename", "label", "split"])


@register_reader(
    "labels",
    layout="a DFDC labels CSV 'filename,label' or the forge 'filename,label,split'",
    detect=_is_label_csv,
)
def read_label_csv(path: Path) -> Iterator[LabeledFile]:
    """Rows of a DFDC label set: no method is known (``unknown`` for fakes)."""
    table = read_label_table(path)
    splits = table.splits or {}
    for file, label in table.labels.items():
        yield LabeledFile(
            file=file,
            label=label,
            video_id=_stem(file),
            method="unknown" if label else "real",
            dataset="labels",
            split=splits.get(file),
            path=str(path.parent / file),
        )


# --------------------------------------------------------------------------- plain CSV

#: Optional columns of a plain CSV besides ``path`` and ``label``.
PLAIN_OPTIONAL = (
    "video_id",
    "method",
    "dataset",
    "identity",
    "source_identity",
    "perturbation",
    "split",
    "original",
)


def _is_plain_csv(path: Path) -> bool:
    columns = _csv_header(path)
    return columns[:2] == ["path", "label"]


def _plain_row(values: dict[str, str], root: Path) -> LabeledFile:
    file = values["path"]
    if not file:
        raise ValueError("empty path")
    label = LABEL_WORDS.get(values["label"].lower())
    if label is None:
        raise ValueError(f"label must be 1 (FAKE) or 0 (REAL); got {quote(values['label'])}")
    method = values.get("method") or ("real" if label == 0 else "unknown")
    return LabeledFile(
        file=file,
        label=label,
        video_id=values.get("video_id") or _stem(file),
        method=method,
        dataset=values.get("dataset") or "csv",
        identity=values.get("identity") or None,
        source_identity=values.get("source_identity") or None,
        perturbation=values.get("perturbation") or "none",
        split=values.get("split") or None,
        original=values.get("original") or None,
        path=str(root / file),
    )


@register_reader(
    "csv",
    layout=f"a CSV 'path,label' (optional columns: {', '.join(PLAIN_OPTIONAL)})",
    detect=_is_plain_csv,
)
def read_plain_csv(path: Path) -> Iterator[LabeledFile]:
    """Rows of a ``path,label[,...]`` CSV; relative paths are relative to the CSV's folder."""
    text, problem = decode(path.read_bytes(), "the CSV")
    if text is None:
        raise DatasetError(f"{path}: {problem}")
    rows = records(text)
    first = next(rows, None)
    columns = header(first[1]) if first else []
    unknown = [c for c in columns[2:] if c not in PLAIN_OPTIONAL]
    if columns[:2] != ["path", "label"] or unknown:
        raise DatasetError(
            f"{path}: expected the header 'path,label' and optional columns "
            f"{', '.join(PLAIN_OPTIONAL)}; got {quote(','.join(columns))}"
        )
    problems: list[str] = []
    seen: dict[str, int] = {}
    out: list[LabeledFile] = []
    for line, fields in rows:
        if len(fields) != len(columns) or fields[0].startswith("\0"):
            problems.append(f"line {line}: expected {len(columns)} fields; got {len(fields)}")
            continue
        values = {c: v.strip() for c, v in zip(columns, fields, strict=True)}
        if values["path"] in seen:
            problems.append(
                f"line {line}: duplicate path {quote(values['path'])} (first on line {seen[values['path']]})"
            )
            continue
        try:
            out.append(_plain_row(values, path.parent))
        except (ValueError, DatasetError) as err:
            problems.append(f"line {line}: {err}")
            continue
        seen[values["path"]] = line
    if problems:
        raise DatasetError(f"{path}: {join_problems(problems)}")
    yield from out
