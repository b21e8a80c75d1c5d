"""A dataset folder's bookkeeping: the build journal and the index files made from it.

The journal (``DIR/.forge/journal.jsonl``) gets one line per finished file, appended and
fsynced only after the file is complete in its final place. The index files a reader sees
(``manifest.jsonl``, each part's ``metadata.json``, ``labels/test_labels.csv``) are always
rewritten atomically from the journal, so they never list a file that is not complete.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import platform
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from unmask._io import atomic_write_json, atomic_write_text
from unmask.errors import DatasetError

STATE_DIR = ".forge"
PLAN_FILE = "plan.json"
JOURNAL_FILE = "journal.jsonl"
MANIFEST_FILE = "manifest.jsonl"
SUMMARY_FILE = "build.json"
LABELS_FILE = "labels/test_labels.csv"
METADATA_FILE = "metadata.json"
PART_PREFIX = "dfdc_train_part_"
TEST_PREFIX = "test/"


@dataclass(frozen=True)
class DatasetPaths:
    """Paths inside one forge dataset folder."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def plan(self) -> Path:
        return self.state / PLAN_FILE

    @property
    def journal(self) -> Path:
        return self.state / JOURNAL_FILE

    @property
    def staging(self) -> Path:
        return self.state / "staging"

    @property
    def work(self) -> Path:
        return self.state / "work"

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def labels(self) -> Path:
        return self.root / LABELS_FILE


@contextlib.contextmanager
def dataset_lock(paths: DatasetPaths) -> Iterator[None]:
    """Hold an exclusive lock on the dataset folder (one build or purge at a time)."""
    paths.state.mkdir(parents=True, exist_ok=True)
    with open(paths.state / "lock", "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatasetError(
                f"{paths.root} is in use by another forge build or purge; wait for it to end"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Journal entries; a torn last line (a build killed while appending) is ignored."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "kind" in entry:
            entries.append(entry)
    return entries


def append_journal(path: Path, entry: Mapping[str, Any]) -> None:
    """Append one entry and fsync it, so it survives a crash right after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        if f.tell() and not _ends_with_newline(path):
            f.write("\n")  # close a torn line left by a killed build
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def rewrite_journal(path: Path, entries: Iterable[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def latest_entries(entries: Iterable[Mapping[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The last entry of ``kind`` for each file (a redone file replaces its older entry)."""
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("kind") == kind:
            out[str(e["file"])] = dict(e)
    return out


def complete(
    root: Path, entries: Iterable[Mapping[str, Any]], kind: str
) -> dict[str, dict[str, Any]]:
    """Latest entries of ``kind`` whose file is still in place under ``root``."""
    return {f: e for f, e in latest_entries(entries, kind).items() if (root / f).is_file()}


def write_indexes(root: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Rewrite manifest, per-part metadata and the test labels from complete video entries."""
    paths = DatasetPaths(root)
    ordered = sorted(
        ({k: v for k, v in r.items() if k != "kind"} for r in rows), key=lambda r: r["file"]
    )
    atomic_write_text(
        paths.manifest,
        "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in ordered),
    )
    parts: dict[str, dict[str, Any]] = {
        p.name: {} for p in root.glob(f"{PART_PREFIX}*") if p.is_dir()
    }
    labels = io.StringIO()
    writer = csv.writer(labels, lineterminator="\n")
    writer.writerow(["filename", "label", "split"])
    for r in ordered:
        folder, _, name = r["file"].rpartition("/")
        if r["file"].startswith(TEST_PREFIX):
            split = "public" if r["split"] == "public_test" else "private"
            writer.writerow(
                [r["file"][len(TEST_PREFIX) :], 1 if r["label"] == "FAKE" else 0, split]
            )
            continue
        entry = {"label": r["label"], "split": r["split"]}
        if r.get("original"):
            entry["original"] = r["original"].rpartition("/")[2]
        parts.setdefault(folder, {})[name] = entry
    for folder, meta in parts.items():
        atomic_write_json(root / folder / METADATA_FILE, dict(sorted(meta.items())))
    atomic_write_text(paths.labels, labels.getvalue())


def count_videos(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """``{split: {method: videos}}``."""
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        per = counts.setdefault(str(r["split"]), {})
        per[str(r["method"])] = per.get(str(r["method"]), 0) + 1
    return {s: dict(sorted(c.items())) for s, c in sorted(counts.items())}


# The libraries whose floating-point kernels shape a build's pixels.
_PIXEL_LIBRARIES = ("numpy", "opencv-python-headless", "av", "mediapipe", "torch", "onnxruntime")
# CPU features that pick those kernels' code paths (a virtual machine's model name often
# says no more than the vendor).
_SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "asimd", "sve",
)  # fmt: skip


def build_environment() -> dict[str, Any]:
    """What a build's pixels depend on besides the seed: library versions, the Python and
    the CPU. The same environment and seed give byte-identical files; on another CPU, SIMD
    kernels (MediaPipe's, OpenCV's, torch's) may round differently and move the fakes'
    pixels."""
    versions: dict[str, str | None] = {}
    for name in _PIXEL_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cpu = _cpuinfo()
    have = set(cpu.get("flags", cpu.get("Features", "")).split())
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu.get("model name") or platform.processor() or "unknown",
        "simd": [f for f in _SIMD_FLAGS if f in have],  # Linux only; empty elsewhere
        "libraries": versions,
    }


def _cpuinfo() -> dict[str, str]:
    """The first CPU's fields in /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                break  # the first processor's block ends here
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return fields


def write_summary(
    root: Path,
    *,
    name: str,
    seed: int,
    planned: int,
    rows: Iterable[Mapping[str, Any]],
    sheets: Mapping[str, str],
    environment: Mapping[str, Any] | None = None,
) -> None:
    """``build.json``: counts per split and method, the contact sheets (no actor ids) and
    the environments that made the files (a build resumed elsewhere lists each one; a
    summary rewritten without ``environment``, by a purge, keeps the ones it had)."""
    path = root / SUMMARY_FILE
    environments: list[Any] = []
    with contextlib.suppress(OSError, ValueError, AttributeError):
        environments = list(json.loads(path.read_text(encoding="utf-8")).get("environments", []))
    if environment is not None and dict(environment) not in environments:
        environments.append(dict(environment))
    atomic_write_json(
        path,
        {
            "name": name,
            "seed": seed,
            "planned": planned,
            "counts": count_videos(rows),
            "contact_sheets": dict(sorted(sheets.items())),
            "environments": environments,
        },
    )
