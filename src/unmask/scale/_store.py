"""The results store: an append-only JSON-lines file, one fsynced line per finished task.

    >>> with ResultStore("preds.csv.unmask-store.jsonl") as store:  # doctest: +SKIP
    ...     if store.get("scan v1", "a.mp4|1024|1700000000") is None:
    ...         store.put("scan v1", "a.mp4|1024|1700000000", {"p_fake": 0.9})

Line 1 is a header; every other line is ``{"job": ..., "key": ..., "record": {...}}``. A
record is looked up by (job, key): ``job`` names what produced it (e.g. the detector and
its weights), ``key`` the input (e.g. a file's name, size and mtime), so a changed input or
another job is done again. Later lines win. Only the last line can be torn by a crash (each
line is written whole and fsynced before the next); it is dropped and the file cut back to
the last complete line when the store is opened. The store keeps only offsets in memory
and reads records back from the file, so a corpus of 100k files costs a few MB of RAM.
One process writes a store at a time (an exclusive lock on the file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from unmask import __version__
from unmask.errors import UnmaskError

FORMAT = 1
STORE_SUFFIX = ".unmask-store.jsonl"


def store_path_for(output: str | Path) -> Path:
    """Where the store of an output file lives: beside it, ``<output>.unmask-store.jsonl``.

    >>> store_path_for("out/preds.csv").as_posix()
    'out/preds.csv.unmask-store.jsonl'
    """
    output = Path(output)
    return output.with_name(output.name + STORE_SUFFIX)


def _lock(f: IO[bytes], path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, one writer by convention
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UnmaskError(
            f"{path}: another unmask run is writing this results store; wait for it to finish "
            "or write to another output"
        ) from None


class ResultStore:
    """Finished tasks' records, durable on disk (``path``) or in memory (``path=None``).

    Opening a path creates the store or loads it; ``fresh=True`` forgets every stored record.
    """

    def __init__(self, path: str | Path | None = None, *, fresh: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.repaired = False  # a torn last line was dropped when opening
        self.skipped_lines = 0  # complete lines that were not valid records (ignored)
        self._index: dict[tuple[str, str], tuple[int, int]] = {}
        self._memory: dict[tuple[str, str], dict[str, Any]] = {}
        self._file: IO[bytes] | None = None
        self._closed = False
        if self.path is not None:
            self._open(self.path, fresh=fresh)

    def _open(self, path: Path, *, fresh: bool) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = open(path, "a+b")  # noqa: SIM115 - kept open for appends until close()
        except OSError as err:
            raise UnmaskError(
                f"cannot write output {err.filename or path}: {err.strerror}"
            ) from None
        try:
            _lock(f, path)
            f.seek(0)
            if fresh:
                f.truncate(0)
            self._file = f
            self._load(f, path)
        except BaseException:
            f.close()
            self._file = None
            raise

    def _load(self, f: IO[bytes], path: Path) -> None:
        f.seek(0)
        offset = 0
        good_end = 0
        first = True
        for line in f:
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n"):  # torn by a crash mid-write: only ever the last line
                break
            good_end = offset
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if first:
                first = False
                if not (isinstance(obj, dict) and obj.get("unmask_store") == FORMAT):
                    raise UnmaskError(
                        f"{path}: not an unmask results store (format {FORMAT}); delete it, "
                        "or write the output elsewhere"
                    )
                continue
            if not (
                isinstance(obj, dict)
                and isinstance(obj.get("job"), str)
                and isinstance(obj.get("key"), str)
                and isinstance(obj.get("record"), dict)
            ):
                self.skipped_lines += 1
                continue
            self._index[(obj["job"], obj["key"])] = (start, len(line))
        if good_end < offset:
            f.truncate(good_end)
            self.repaired = True
        if first:  # empty (new, fresh, or only a torn header)
            f.truncate(0)
            self._append({"unmask_store": FORMAT, "unmask": __version__})

    def _append(self, obj: dict[str, Any]) -> tuple[int, int]:
        assert self._file is not None
        data = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        self._file.seek(0, os.SEEK_END)
        start = self._file.tell()
        try:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as err:
            raise UnmaskError(f"cannot write results store {self.path}: {err.strerror}") from None
        return start, len(data)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"results store {self.path} is closed")

    def put(self, job: str, key: str, record: dict[str, Any]) -> None:
        """Store one finished task's record durably (fsynced before returning)."""
        self._check_open()
        if self._file is None:
            self._memory[(job, key)] = record
            return
        self._index[(job, key)] = self._append({"job": job, "key": key, "record": record})

    def get(self, job: str, key: str) -> dict[str, Any] | None:
        """The stored record for (job, key), or None."""
        self._check_open()
        if self._file is None:
            return self._memory.get((job, key))
        where = self._index.get((job, key))
        if where is None:
            return None
        self._file.seek(where[0])
        record: dict[str, Any] = json.loads(self._file.read(where[1]))["record"]
        return record

    def __contains__(self, job_key: tuple[str, str]) -> bool:
        return job_key in self._index or job_key in self._memory

    def keys(self, job: str) -> Iterator[str]:
        """Keys stored for ``job``."""
        for j, k in [*self._index, *self._memory]:
            if j == job:
                yield k

    def __len__(self) -> int:
        return len(self._index) + len(self._memory)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # also releases the lock
            self._file = None
            self._closed = True

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
