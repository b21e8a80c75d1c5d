"""The labelled-file value object and the registry of dataset readers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from unmask.errors import DatasetError

__all__ = ["READERS", "LabeledFile", "ReaderSpec", "register_reader"]


@dataclass(frozen=True)
class LabeledFile:
    """One labelled media file of a dataset, as every reader yields it.

    ``file`` is the key a prediction file uses for it (a path relative to the dataset root
    with forward slashes; the bare file name for DFDC, whose names are unique). ``path`` is
    where the media is on disk, for scanning. ``method`` is ``"real"`` for REAL files.
    ``identity`` is the person shown (for fakes, the target whose video was altered) and
    ``source_identity`` the person whose face was put in, when known. ``perturbation`` is
    ``"none"`` for untouched files; for FaceForensics++ it is the compression level.
    """

    file: str
    label: int
    video_id: str
    method: str
    dataset: str
    identity: str | None = None
    source_identity: str | None = None
    perturbation: str = "none"
    split: str | None = None
    original: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.label not in (0, 1) or isinstance(self.label, bool):
            raise DatasetError(
                f"{self.file!r}: label must be 1 (FAKE) or 0 (REAL); got {self.label!r}"
            )
        for name in ("file", "video_id", "method", "dataset", "perturbation"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise DatasetError(
                    f"{self.file!r}: {name} must be a non-empty string; got {value!r}"
                )
        if self.label == 0 and self.method != "real":
            raise DatasetError(
                f"{self.file!r}: a REAL file must have method 'real'; got {self.method!r}"
            )
        if self.label == 1 and self.method == "real":
            raise DatasetError(f"{self.file!r}: a FAKE file cannot have method 'real'")


Reader = Callable[[Path], Iterator[LabeledFile]]


@dataclass(frozen=True)
class ReaderSpec:
    """A dataset reader: ``detect(path)`` says whether ``path`` looks like its layout."""

    name: str
    layout: str
    detect: Callable[[Path], bool]
    read: Reader


#: Readers by name, in the order autodetection tries them (most specific first).
READERS: dict[str, ReaderSpec] = {}


def register_reader(
    name: str, *, layout: str, detect: Callable[[Path], bool]
) -> Callable[[Reader], Reader]:
    """Register ``read(path) -> Iterator[LabeledFile]`` under ``name``; names are unique.

    >>> @register_reader("toy", layout="a folder toy/", detect=lambda p: p.name == "toy")  # doctest: +SKIP
    ... def read_toy(path): ...
    """

    def add(read: Reader) -> Reader:
        if name in READERS:
            raise ValueError(f"dataset reader {name!r} is already registered")
        READERS[name] = ReaderSpec(name, layout, detect, read)
        return read

    return add
