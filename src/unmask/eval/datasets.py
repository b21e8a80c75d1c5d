"""Dataset readers: every labelled benchmark becomes a list of :class:`LabeledFile` rows.

Layouts understood (``list_readers()``): the forge ``manifest.jsonl``, DFDC parts with
``metadata.json``, FaceForensics++ (official and short folder names), Celeb-DF, a DFDC
labels CSV ``filename,label[,split]`` and a plain CSV ``path,label[,...]``.

>>> rows = read_dataset("ffpp_c40/")                       # doctest: +SKIP
>>> rows[0].file, rows[0].label, rows[0].method, rows[0].perturbation   # doctest: +SKIP
('original/actors/c40/videos/01__kitchen_pan.mp4', 0, 'real', 'c40')
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from unmask.errors import DatasetError, UnknownNameError
from unmask.eval import _readers_folders, _readers_tables
from unmask.eval._registry import READERS, LabeledFile, ReaderSpec, register_reader

__all__ = [
    "LabeledFile",
    "ReaderSpec",
    "detect_reader",
    "list_readers",
    "read_dataset",
    "register_reader",
]

# Autodetection tries the readers in this order: the forge manifest before the DFDC parts
# that forge also writes, folder layouts before single files.
_DETECT_ORDER = ("forge", "dfdc", "ffpp", "celebdf", "labels", "csv")
_MODULES = (_readers_folders, _readers_tables)  # importing them registers their readers


def list_readers() -> list[str]:
    """Names of the registered dataset readers, in autodetection order.

    >>> list_readers()
    ['forge', 'dfdc', 'ffpp', 'celebdf', 'labels', 'csv']
    """
    known = [n for n in _DETECT_ORDER if n in READERS]
    return known + sorted(n for n in READERS if n not in known)


def detect_reader(path: str | Path) -> str:
    """The name of the first reader whose layout ``path`` matches.

    Raises :class:`~unmask.errors.DatasetError` naming every layout tried.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(
            f"labels {str(path)!r} not found; expected a dataset folder or a labels file"
        )
    for name in list_readers():
        if READERS[name].detect(path):
            return name
    tried = "; ".join(f"{n}: {READERS[n].layout}" for n in list_readers())
    raise DatasetError(
        f"{path}: no dataset layout recognised (tried {tried}); "
        f"pass --reader NAME or write a CSV 'path,label'"
    )


def read_dataset(
    path: str | Path, *, reader: str | None = None, root: str | Path | None = None
) -> list[LabeledFile]:
    """Read every labelled file of a dataset folder or labels file.

    ``reader`` forces a layout (see :func:`list_readers`); by default it is detected.
    ``root`` is the folder the files' relative names start from when it is not the labels
    file's own folder (e.g. ``DIR/test`` for the forge ``DIR/labels/test_labels.csv``).
    Keys (``LabeledFile.file``) are unique; an empty dataset is an error.
    """
    path = Path(path)
    if reader is None:
        reader = detect_reader(path)
    elif reader not in READERS:
        raise UnknownNameError("dataset reader", reader, READERS)
    elif not path.exists():
        raise DatasetError(
            f"labels {str(path)!r} not found; expected a dataset folder or a labels file"
        )
    rows = list(READERS[reader].read(path))
    if not rows:
        raise DatasetError(f"{path}: the {reader} reader found no labelled files")
    seen: dict[str, LabeledFile] = {}
    for row in rows:
        if row.file in seen:
            raise DatasetError(f"{path}: {row.file!r} appears twice; file names must be unique")
        seen[row.file] = row
    if root is not None:
        base = Path(root)
        rows = [dataclasses.replace(r, path=str(base / r.file)) for r in rows]
    return rows
