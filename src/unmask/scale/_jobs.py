"""What a worker runs: a Job (build state once per process, then run tasks with it) and Tasks.

Everything here is pickled to worker processes (local or Dask), so ``setup``, ``run`` and
``failure`` must be module-level functions (or ``functools.partial`` of them) and payloads
plain picklable values. This module imports nothing heavy: a spawned worker sets its thread
limits before numpy or onnxruntime are imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from unmask import __version__
from unmask.errors import UnmaskError

S = TypeVar("S")  # per-worker state, e.g. a Scanner
P = TypeVar("P")  # a task's payload, e.g. a path

Record = dict[str, Any]


@dataclass(frozen=True)
class Task(Generic[P]):
    """One unit of work: ``key`` identifies it in the results store, ``payload`` goes to ``run``."""

    key: str
    payload: P


@dataclass(frozen=True)
class Job(Generic[S, P]):
    """A picklable description of the work every worker does.

    ``name`` identifies the job in the results store: records stored under another name
    (another detector, other weights, another frame count) are not reused. A worker keeps
    one state per name, so everything ``setup`` depends on belongs in the name.
    ``setup(threads)`` builds the per-worker state once per process (``threads``: how many
    threads one task may use there, 0 for the library default). ``run(state, payload)``
    does one task and returns a JSON-serialisable record; an exception is retried, then
    ``failure(payload, message)`` gives the record stored instead (it runs in the parent).
    ``check(payload)``, if set, is run on a cluster worker before the job starts and
    returns a problem (e.g. the file is not readable there) or None.

    >>> job = Job("squares v1", setup=make_state, run=square, failure=no_square)  # doctest: +SKIP
    """

    name: str
    setup: Callable[[int], S]
    run: Callable[[S, P], Record]
    failure: Callable[[P, str], Record]
    check: Callable[[P], str | None] | None = None


_states: dict[str, Any] = {}
_states_lock = threading.Lock()


def install(job: Job[S, P], state: S) -> None:
    """Use ``state`` for ``job`` in this process (the parent's own Scanner, for example)."""
    with _states_lock:
        _states[job.name] = state


def uninstall(job_name: str) -> None:
    with _states_lock:
        _states.pop(job_name, None)


def state_for(job: Job[S, P], threads: int = 0) -> S:
    """This process's state for ``job``, built on first use."""
    state = _states.get(job.name)
    if state is None:
        with _states_lock:
            state = _states.get(job.name)
            if state is None:
                try:
                    state = job.setup(threads)
                except Exception as err:
                    raise WorkerSetupError(
                        f"a worker could not set up {job.name!r}: {describe(err)}"
                    ) from None
                _states[job.name] = state
    return state


def execute(job: Job[S, P], payload: P) -> Record:
    """Run one task in this process (the function that local and Dask workers call)."""
    return job.run(state_for(job, _default_threads), payload)


_default_threads = 0


def limit_threads(threads: int) -> None:
    """Cap the native thread pools of this process before its heavy libraries load.

    Environment variables work only for libraries not yet imported; later tasks' ONNX
    sessions and OpenCV get ``threads`` through ``Job.setup``.
    """
    global _default_threads
    _default_threads = threads
    if threads > 0:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)


def threads_per_task(cpus: int, concurrent_tasks: int) -> int:
    """Threads each of ``concurrent_tasks`` tasks gets on ``cpus`` cores (at least 1).

    >>> threads_per_task(16, 4), threads_per_task(2, 4)
    (4, 1)
    """
    return max(1, cpus // max(1, concurrent_tasks))


def check_version(version: str) -> None:
    """In ``Job.setup``: refuse a worker whose unmask is not the ``version`` the job started with."""
    if version != __version__:
        raise UnmaskError(
            f"unmask {__version__} is installed here but the job was started by unmask "
            f"{version}; install the same version on every worker"
        )


class WorkerSetupError(UnmaskError):
    """A worker could not build the job's state (missing weights, wrong version): the run stops."""


@dataclass(frozen=True)
class Outcome(Generic[P]):
    """A finished task: its record, and ``error`` when the record is ``Job.failure``'s."""

    task: Task[P]
    record: Record
    error: str | None = None


def describe(err: BaseException) -> str:
    """One line for an exception raised by a task."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
