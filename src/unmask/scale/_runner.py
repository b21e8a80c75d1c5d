"""``run_tasks``: map a job over tasks with a results store, here or on a Dask cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from unmask._progress import progress
from unmask.errors import UnmaskError
from unmask.scale._jobs import Job, Outcome, P, Record, S, Task
from unmask.scale._store import ResultStore


@dataclass(frozen=True)
class RunStats:
    """What a run did: tasks in all, found in the store, finished now, failed for good."""

    total: int
    reused: int
    finished: int
    failed: int
    seconds: float


def run_options_problem(
    *, workers: int, cluster: str | None, retries: int, flags: bool = False
) -> str | None:
    """What ``run_tasks`` would refuse in these options, or None (to check them early).

    ``flags=True`` names them as command-line flags (``--workers``).

    >>> run_options_problem(workers=0, cluster=None, retries=2, flags=True)
    '--workers must be at least 1; got 0'
    """
    dash = "--" if flags else ""
    if workers < 1:
        return f"{dash}workers must be at least 1; got {workers}"
    if retries < 0:
        return f"{dash}retries must be 0 or more; got {retries}"
    if cluster is not None and workers != 1:
        return (
            f"{dash}workers and {dash}cluster do not go together: use local worker processes "
            "or a cluster, not both"
        )
    return None


def run_tasks(
    job: Job[S, P],
    tasks: Sequence[Task[P]],
    store: ResultStore,
    *,
    workers: int = 1,
    cluster: str | None = None,
    retries: int = 2,
    max_in_flight: int | None = None,
    redo: Callable[[Record], bool] | None = None,
    desc: str = "tasks",
    unit: str = "task",
    show_progress: bool | None = None,
    on_outcome: Callable[[Outcome[P]], None] | None = None,
) -> RunStats:
    """Run every task whose record is not in ``store`` yet and store each record as it ends.

    ``workers=1`` runs in this process, ``workers=N`` in N local processes, ``cluster``
    (``tcp://host:8786`` or a scheduler JSON file) on a Dask cluster. Records are written by
    this process only, one fsynced line each, so a run that is killed loses no finished
    task and the next run with the same store does only what is left (and the tasks whose
    stored record makes ``redo(record)`` true). Read the records back with
    ``store.get(job.name, task.key)``.

    >>> job = Job("squares v1", setup=setup, run=square, failure=failed)  # doctest: +SKIP
    >>> tasks = [Task(str(n), n) for n in range(1000)]                     # doctest: +SKIP
    >>> with ResultStore("squares.jsonl") as store:                        # doctest: +SKIP
    ...     run_tasks(job, tasks, store, workers=2)
    ...     [store.get(job.name, t.key) for t in tasks]
    """
    problem = run_options_problem(workers=workers, cluster=cluster, retries=retries)
    if problem:
        raise UnmaskError(problem)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("task keys must be unique")
    todo = [
        t
        for t in tasks
        if (job.name, t.key) not in store
        or (redo is not None and redo(store.get(job.name, t.key) or {}))
    ]
    start = time.perf_counter()
    finished = failed = 0
    if todo:
        outcomes: Iterator[Outcome[P]]
        if cluster is not None:
            from unmask.scale._dask import run_on_dask

            outcomes = run_on_dask(
                job, todo, address=cluster, retries=retries, max_in_flight=max_in_flight
            )
        elif workers > 1:
            from unmask.scale._local import run_pool

            outcomes = run_pool(
                job, todo, workers=workers, retries=retries, max_in_flight=max_in_flight
            )
        else:
            from unmask.scale._local import run_inline

            outcomes = run_inline(job, todo, retries=retries)
        label = f"{desc} ({len(tasks) - len(todo)} done before)" if len(todo) < len(tasks) else desc
        enabled = show_progress if show_progress is not None else (None if len(todo) > 1 else False)
        try:
            for outcome in progress(
                outcomes, total=len(todo), desc=label, unit=unit, enabled=enabled
            ):
                store.put(job.name, outcome.task.key, outcome.record)
                finished += 1
                failed += outcome.error is not None
                if on_outcome is not None:
                    on_outcome(outcome)
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()  # stop the workers now, even when interrupted
    return RunStats(
        total=len(tasks),
        reused=len(tasks) - len(todo),
        finished=finished,
        failed=failed,
        seconds=time.perf_counter() - start,
    )
