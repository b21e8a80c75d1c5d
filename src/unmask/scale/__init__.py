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
- ``unmask.scale.scan.scan_inputs``: the ``unmask scan`` job built on these.

docs/scale.md explains how forge builds and evaluations plug in. Dask is imported only when
a cluster is used (``pip install unmask[scale]``).
"""

from __future__ import annotations

# Light modules only (no numpy): a worker process imports this package and caps its
# threads before numpy and onnxruntime load. The scan job is in unmask.scale.scan.
from unmask.scale._jobs import Job, Outcome, Task, WorkerSetupError
from unmask.scale._runner import RunStats, run_options_problem, run_tasks
from unmask.scale._store import STORE_SUFFIX, ResultStore, store_path_for

__all__ = [
    "STORE_SUFFIX",
    "Job",
    "Outcome",
    "ResultStore",
    "RunStats",
    "Task",
    "WorkerSetupError",
    "run_options_problem",
    "run_tasks",
    "store_path_for",
]
