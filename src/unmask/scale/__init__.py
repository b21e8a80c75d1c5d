"""Corpus-sized runs: resumable, on N local processes or on a Dask distributed cluster.

    >>> from unmask.scale import Job, ResultStore, Task, run_tasks      # doctest: +SKIP
    >>> with ResultStore("out.unmask-store.jsonl") as store:           # doctest: +SKIP
    ...     run_tasks(job, tasks, store, cluster="tcp://10.0.0.5:8786")

- ``ResultStore``: append-only JSON lines, one fsynced line per finished task, torn last
  line repaired; a re-run skips what is stored.
- ``Job`` / ``Task``: what workers run (state built once per worker process, e.g. a
  detector) and the picklable units of work.
- ``run_tasks``: map a job over tasks into a store, here, on ``workers`` processes or on a
  Dask ``cluster``; bounded retries, failures recorded, lost workers' tasks re-run.
- ``scan_inputs``: the ``unmask scan`` job built on these.

docs/scale.md explains how forge builds and evaluations plug in. Dask is imported only when
a cluster is used (``pip install unmask[scale]``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported on first use: a worker process must be able to import unmask.scale._jobs and
# cap its threads before numpy and onnxruntime load.
_LAZY = {
    "Job": "unmask.scale._jobs",
    "Outcome": "unmask.scale._jobs",
    "Task": "unmask.scale._jobs",
    "WorkerSetupError": "unmask.scale._jobs",
    "RunStats": "unmask.scale._runner",
    "run_tasks": "unmask.scale._runner",
    "ScanRun": "unmask.scale._scan",
    "StoredRows": "unmask.scale._scan",
    "file_key": "unmask.scale._scan",
    "scan_inputs": "unmask.scale._scan",
    "scan_job": "unmask.scale._scan",
    "STORE_SUFFIX": "unmask.scale._store",
    "ResultStore": "unmask.scale._store",
    "store_path_for": "unmask.scale._store",
}

__all__ = [
    "STORE_SUFFIX",
    "Job",
    "Outcome",
    "ResultStore",
    "RunStats",
    "ScanRun",
    "StoredRows",
    "Task",
    "WorkerSetupError",
    "file_key",
    "run_tasks",
    "scan_inputs",
    "scan_job",
    "store_path_for",
]

if TYPE_CHECKING:
    from unmask.scale._jobs import Job, Outcome, Task, WorkerSetupError
    from unmask.scale._runner import RunStats, run_tasks
    from unmask.scale._scan import ScanRun, StoredRows, file_key, scan_inputs, scan_job
    from unmask.scale._store import STORE_SUFFIX, ResultStore, store_path_for


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'unmask.scale' has no attribute {name!r}")
