"""Running tasks on this machine: in this process, or in a pool of worker processes.

The pool's processes start with the forkserver method (spawn where it is missing), cap
their native threads to a fair share of the cores and build the job's state (e.g. load the
detector) once. A task that raises is retried up to ``retries`` times. A process that dies
(a crash in a native library, the out-of-memory killer) breaks the whole pool: the tasks
that were running are then re-run one at a time in a new pool, so that the one that kills
its process is found and reported after ``retries`` further deaths while the others finish.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from unmask._cpus import usable_cpus
from unmask.scale._jobs import (
    Job,
    Outcome,
    P,
    S,
    Task,
    WorkerSetupError,
    describe,
    execute,
    limit_threads,
    state_for,
    threads_per_task,
)


def run_inline(job: Job[S, P], tasks: Sequence[Task[P]], *, retries: int) -> Iterator[Outcome[P]]:
    """Run every task in this process, in order."""
    state_for(job)  # a setup failure stops the run here, not once per task
    for task in tasks:
        message = ""
        for _ in range(retries + 1):
            try:
                record = execute(job, task.payload)
            except WorkerSetupError:
                raise
            except Exception as err:  # a failing task must not stop the rest
                message = describe(err)
                continue
            yield Outcome(task, record)
            break
        else:
            yield _failed(job, task, f"failed {retries + 1} times; last error: {message}")


def _failed(job: Job[S, P], task: Task[P], message: str) -> Outcome[P]:
    return Outcome(task, job.failure(task.payload, message), message)


def _init_process(job: Job[Any, Any], threads: int) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool, workers must not
    # turn it into a failed task.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)
    with contextlib.suppress(WorkerSetupError):  # raised again by the first task, for the parent
        state_for(job, threads)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _new_pool(job: Job[S, P], workers: int, threads: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_context(),
        initializer=_init_process,
        initargs=(job, threads),
    )


def _stop(pool: ProcessPoolExecutor, *, kill: bool) -> None:
    if kill:  # interrupted: do not wait for the running tasks
        processes = getattr(pool, "_processes", None) or {}
        for process in list(processes.values()):
            process.terminate()
    pool.shutdown(wait=not kill, cancel_futures=True)


def run_pool(
    job: Job[S, P],
    tasks: Sequence[Task[P]],
    *,
    workers: int,
    retries: int,
    max_in_flight: int | None = None,
) -> Iterator[Outcome[P]]:
    """Run the tasks on ``workers`` processes; outcomes come in completion order."""
    threads = threads_per_task(usable_cpus(), workers)
    limit = max_in_flight or 2 * workers
    pending: deque[Task[P]] = deque(tasks)
    suspects: deque[Task[P]] = deque()  # were running when a process died: re-run alone
    attempts: Counter[str] = Counter()
    deaths: Counter[str] = Counter()
    last_error: dict[str, str] = {}
    in_flight: dict[Future[Any], Task[P]] = {}
    pool = _new_pool(job, workers, threads)
    idle_breaks = 0
    finished = False
    try:
        while pending or suspects or in_flight:
            try:
                if suspects:
                    if not in_flight:
                        in_flight[pool.submit(execute, job, suspects[0].payload)] = suspects[0]
                        suspects.popleft()
                else:
                    while pending and len(in_flight) < limit:
                        in_flight[pool.submit(execute, job, pending[0].payload)] = pending[0]
                        pending.popleft()
            except BrokenProcessPool:
                # a running task killed its process while more were being submitted: the
                # unsubmitted task stays queued; the running ones report the crash below
                if not in_flight:  # nothing running can explain it: start afresh, a few times
                    idle_breaks += 1
                    if idle_breaks > 3:
                        raise WorkerSetupError(
                            f"the worker processes of {job.name!r} keep dying before running a "
                            "task (a crash while starting up or out of memory)"
                        ) from None
                    _stop(pool, kill=True)
                    pool = _new_pool(job, workers, threads)
                    continue
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                done, _ = wait(list(in_flight))  # a broken pool fails every running task
            crashed: list[Task[P]] = []
            for future in done:
                task = in_flight.pop(future)
                err = future.exception()
                if err is None:
                    yield Outcome(task, future.result())
                elif isinstance(err, BrokenProcessPool):
                    crashed.append(task)
                elif isinstance(err, WorkerSetupError):
                    raise err
                else:
                    attempts[task.key] += 1
                    last_error[task.key] = describe(err)
                    if attempts[task.key] > retries:
                        yield _failed(
                            job,
                            task,
                            f"failed {attempts[task.key]} times; last error: {last_error[task.key]}",
                        )
                    else:
                        pending.appendleft(task)
            if crashed:
                _stop(pool, kill=True)
                pool = _new_pool(job, workers, threads)
                if len(crashed) == 1:  # it ran alone: it is the one that kills its process
                    (task,) = crashed
                    deaths[task.key] += 1
                    if deaths[task.key] > retries:
                        yield _failed(
                            job,
                            task,
                            f"its worker process died each of the {deaths[task.key]} times it ran "
                            "(a crash in a native library or out of memory)",
                        )
                    else:
                        suspects.appendleft(task)
                else:
                    suspects.extend(crashed)
        finished = True
    finally:
        _stop(pool, kill=not finished)
