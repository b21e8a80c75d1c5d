"""Scanning a corpus with a results store, on one process, N processes or a Dask cluster.

    >>> inputs, _ = collect_inputs(["videos/"])                              # doctest: +SKIP
    >>> with ResultStore(store_path_for("preds.csv")) as store:              # doctest: +SKIP
    ...     run = scan_inputs(inputs, store, workers=2)
    ...     write_submission(run.rows, "preds.csv")

A file is one task, keyed by its submission filename, size and modification time; the job
is named after the detector, its weights' sha256, the frame count and the unmask version,
so a changed file, another detector or other weights is scanned again and everything else
is read back from the store. Errors are stored too (they are results: a corrupt file stays
corrupt); ``retry_errors=True`` scans them again.
"""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import overload

import numpy as np

from unmask import __version__
from unmask.batch import BatchRow, ScanInput, failed_result, scan_one
from unmask.detectors import DetectorCfg, create_detector
from unmask.errors import UnmaskError
from unmask.scale._jobs import Job, Outcome, Record, Task, check_version, install, uninstall
from unmask.scale._runner import RunStats, run_tasks
from unmask.scale._store import ResultStore
from unmask.scanner import Scanner, ScanResult


def file_key(item: ScanInput) -> str | None:
    """The store key of an input: submission filename, size and mtime (None if unreadable)."""
    try:
        st = os.stat(item.path)
    except OSError:
        return None
    return f"{item.filename}|{st.st_size}|{st.st_mtime_ns}"


def scan_job_name(cfg: DetectorCfg, frames: int) -> str:
    return f"scan detector={cfg.name} sha256={cfg.sha256} frames={frames} unmask={__version__}"


def _build_scanner(
    threads: int, *, detector: str, frames: int, sha256: str, version: str
) -> Scanner:
    check_version(version)
    from unmask.faces import RetinaFace

    if threads > 0:
        import cv2

        cv2.setNumThreads(threads)
    scanner = Scanner(
        detector,
        frames=frames,
        keep_evidence=True,  # a few thumbnails: cheap; stored only when asked (see scan_job)
        face_detector=RetinaFace(threads=threads),
        threads=threads or None,
    )
    if scanner.detector.cfg.sha256 != sha256:
        raise UnmaskError(
            f"detector {detector!r} has weights {scanner.detector.cfg.sha256[:12]}... here but "
            f"{sha256[:12]}... where the job was started; install the same weights everywhere"
        )
    return scanner


def _encode_evidence(evidence: dict[int, np.ndarray] | None) -> dict[str, list[str]]:
    import cv2

    out: dict[str, list[str]] = {}
    for tid, crops in (evidence or {}).items():
        out[str(tid)] = []
        for crop in crops:
            ok, buf = cv2.imencode(
                ".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
            )
            if ok:
                out[str(tid)].append(base64.b64encode(buf.tobytes()).decode("ascii"))
    return out


def _decode_evidence(encoded: dict[str, list[str]]) -> dict[int, np.ndarray]:
    import cv2

    out = {}
    for tid, jpegs in encoded.items():
        crops = [
            cv2.cvtColor(
                cv2.imdecode(np.frombuffer(base64.b64decode(j), np.uint8), cv2.IMREAD_COLOR),
                cv2.COLOR_BGR2RGB,
            )
            for j in jpegs
        ]
        if crops:
            out[int(tid)] = np.stack(crops)
    return out


def _scan_record(scanner: Scanner, item: ScanInput, *, evidence: bool) -> Record:
    result = scan_one(scanner, item)
    record: Record = {"result": result.to_dict()}
    if evidence and result.evidence:
        record["evidence"] = _encode_evidence(result.evidence)
    return record


def _failure_record(cfg: DetectorCfg, item: ScanInput, message: str) -> Record:
    return {"result": failed_result(cfg, item, f"{item.path}: {message}").to_dict()}


def _is_error(record: Record) -> bool:
    return bool(record["result"]["status"] == "error")


def _check_readable(item: ScanInput) -> str | None:
    if os.access(item.path, os.R_OK):
        return None
    return f"{item.path} is not readable on worker {socket.gethostname()}"


def scan_job(
    cfg: DetectorCfg, *, detector: str = "default", frames: int = 32, keep_evidence: bool = False
) -> Job[Scanner, ScanInput]:
    """The picklable job that scans one file per task with the detector of ``cfg``."""
    return Job(
        scan_job_name(cfg, frames),
        setup=partial(
            _build_scanner,
            detector=detector,
            frames=frames,
            sha256=cfg.sha256,
            version=__version__,
        ),
        run=partial(_scan_record, evidence=keep_evidence),
        failure=partial(_failure_record, cfg),
        check=_check_readable,
    )


class StoredRows(Sequence[BatchRow]):
    """The batch rows of a run, read from the store on access (memory stays flat)."""

    def __init__(
        self,
        inputs: Sequence[ScanInput],
        keys: Sequence[str | None],
        store: ResultStore,
        job: Job[Scanner, ScanInput],
        cfg: DetectorCfg,
        *,
        evidence: bool,
    ) -> None:
        self.inputs, self.keys, self.store = inputs, keys, store
        self.job, self.cfg, self.evidence = job, cfg, evidence

    def __len__(self) -> int:
        return len(self.inputs)

    def _row(self, i: int) -> BatchRow:
        item, key = self.inputs[i], self.keys[i]
        if key is None:
            message = (
                item.error or f"{item.path}: cannot read file (it vanished or is not accessible)"
            )
            return BatchRow(item, failed_result(self.cfg, item, message))
        record = self.store.get(self.job.name, key)
        if record is None:
            raise RuntimeError(f"no stored result for {item.filename}; the run did not finish")
        result = ScanResult.from_dict(record["result"])
        result.path = str(item.path)
        if self.evidence and record.get("evidence"):
            result.evidence = _decode_evidence(record["evidence"])
        return BatchRow(item, result)

    @overload
    def __getitem__(self, i: int) -> BatchRow: ...
    @overload
    def __getitem__(self, i: slice) -> list[BatchRow]: ...
    def __getitem__(self, i: int | slice) -> BatchRow | list[BatchRow]:
        if isinstance(i, slice):
            return [self._row(j) for j in range(*i.indices(len(self)))]
        return self._row(range(len(self))[i])


@dataclass(frozen=True)
class ScanRun:
    """A finished scan: rows in input order (read from the store) and what the run did."""

    rows: StoredRows
    stats: RunStats


def scan_inputs(
    inputs: Sequence[ScanInput],
    store: ResultStore,
    *,
    detector: str = "default",
    frames: int = 32,
    keep_evidence: bool = False,
    workers: int = 1,
    cluster: str | None = None,
    retries: int = 2,
    retry_errors: bool = False,
    show_progress: bool | None = None,
    on_outcome: Callable[[Outcome[ScanInput]], None] | None = None,
) -> ScanRun:
    """Scan every input not in ``store`` yet (here, on ``workers`` processes or on ``cluster``).

    The rows come back in input order, read from the store, so that a resumed run, a run
    on N processes and a run on a cluster give the same outputs. Keep ``store`` open while
    the rows are used.

    >>> with ResultStore("preds.csv.unmask-store.jsonl") as store:             # doctest: +SKIP
    ...     rows = scan_inputs(inputs, store, cluster="tcp://10.0.0.5:8786").rows
    """
    if frames < 1:
        raise UnmaskError(f"frames must be at least 1; got {frames}")
    scanner: Scanner | None = None
    if workers == 1 and cluster is None:  # scan here with models loaded once in this process
        scanner = Scanner(detector, frames=frames, keep_evidence=keep_evidence)
        cfg = scanner.detector.cfg
    else:  # the workers load the models; this process only needs the weights' identity
        cfg = create_detector(detector).cfg
    job = scan_job(cfg, detector=detector, frames=frames, keep_evidence=keep_evidence)
    keys = [None if item.error else file_key(item) for item in inputs]
    # Cluster workers have their own working directory: they get absolute paths.
    where = (lambda p: Path(os.path.abspath(p))) if cluster else (lambda p: p)
    tasks = [
        Task(key, ScanInput(where(item.path), item.filename))
        for item, key in zip(inputs, keys, strict=True)
        if key is not None
    ]
    if scanner is not None:
        install(job, scanner)
    try:
        stats = run_tasks(
            job,
            tasks,
            store,
            workers=workers,
            cluster=cluster,
            retries=retries,
            desc="scan",
            unit="file",
            redo=_is_error if retry_errors else None,
            show_progress=show_progress,
            on_outcome=on_outcome,
        )
    finally:
        if scanner is not None:
            uninstall(job.name)
    return ScanRun(StoredRows(inputs, keys, store, job, cfg, evidence=keep_evidence), stats)
