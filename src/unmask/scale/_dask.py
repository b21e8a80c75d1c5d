"""Running tasks on a Dask distributed cluster.

A worker plugin builds the job's state once on every worker (and on workers that join
later). Tasks are submitted a bounded number at a time, so that memory stays flat for a
corpus of any size, and their records stream back in completion order. A task that raises
is retried ``retries`` times by Dask; a task whose worker dies is moved to another worker
by the scheduler; one that kills ``distributed.scheduler.allowed-failures`` workers is
given up (KilledWorker). Both end as ``Job.failure`` records.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from distributed import Client, Future, WorkerPlugin, as_completed
from distributed.scheduler import KilledWorker

from unmask.errors import UnmaskError
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
    uninstall,
)

HINT_SCHEDULER = (
    "start one with `dask scheduler` and workers with `dask worker ADDRESS`, "
    "or check the address and firewall"
)


def connect(address: str, *, timeout: float | None = None) -> Client:
    """A client for the scheduler at ``address`` (``tcp://host:8786`` or a scheduler JSON file).

    ``timeout`` defaults to Dask's ``distributed.comm.timeouts.connect`` (30 s).
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    target = scheduler_address(address)
    try:
        parse_host_port(parse_address(target)[1])
    except ValueError as err:
        raise UnmaskError(
            f"not a Dask scheduler address: {target!r} ({err}); expected tcp://HOST:PORT "
            "(the port is 8786 unless `dask scheduler --port` says otherwise)"
        ) from None
    kwargs: dict[str, Any] = {"set_as_default": False}
    if timeout is not None:
        kwargs["timeout"] = timeout
    try:
        return Client(target, **kwargs)
    except (OSError, TimeoutError) as err:
        raise UnmaskError(
            f"cannot reach the Dask scheduler at {address} ({describe(err)}); {HINT_SCHEDULER}"
        ) from None


def scheduler_address(address: str) -> str:
    """``address`` itself, or the address inside a scheduler file (``dask scheduler --scheduler-file``)."""
    if not address.endswith(".json"):
        return address
    try:
        info = json.loads(Path(address).read_text(encoding="utf-8"))
        return str(info["address"])
    except OSError as err:
        raise UnmaskError(f"cannot read the scheduler file {address}: {err.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise UnmaskError(
            f"{address}: not a Dask scheduler file (JSON with an 'address' key, as written by "
            "`dask scheduler --scheduler-file`)"
        ) from None


def _host(address: str) -> str:
    return urlsplit(address).hostname or address


class JobPlugin(WorkerPlugin):
    """Builds the job's state once per worker, with a fair share of the host's cores.

    ``slots`` maps each host to the number of tasks that run on it at once (the sum of its
    workers' threads); a worker that joins later counts only its own threads.
    """

    def __init__(self, job: Job[Any, Any], slots: dict[str, int]) -> None:
        self.job = job
        self.slots = slots

    def setup(self, worker: Any) -> None:
        from dask.system import CPU_COUNT

        slots = self.slots.get(_host(worker.address), worker.state.nthreads)
        threads = threads_per_task(CPU_COUNT, slots)
        limit_threads(threads)
        state_for(self.job, threads)

    def teardown(self, worker: Any) -> None:
        uninstall(self.job.name)


def run_on_dask(
    job: Job[S, P],
    tasks: Sequence[Task[P]],
    *,
    address: str,
    retries: int,
    max_in_flight: int | None = None,
    connect_timeout: float | None = None,
    worker_timeout: float = 60.0,
) -> Iterator[Outcome[P]]:
    """Run the tasks on the cluster at ``address``; outcomes come in completion order."""
    client = connect(address, timeout=connect_timeout)
    plugin = f"unmask-{uuid.uuid4().hex[:12]}"
    registered = False
    try:
        try:
            client.wait_for_workers(1, timeout=worker_timeout)
        except TimeoutError:
            raise UnmaskError(
                f"the Dask scheduler at {address} has no workers (waited {worker_timeout:.0f} s); "
                "start some with `dask worker ADDRESS`"
            ) from None
        workers = client.scheduler_info(n_workers=-1)["workers"]
        slots: dict[str, int] = {}
        for addr, info in workers.items():
            slots[_host(addr)] = slots.get(_host(addr), 0) + int(info.get("nthreads", 1))
        try:
            client.register_plugin(JobPlugin(job, slots), name=plugin)
        except Exception as err:
            raise UnmaskError(
                f"the Dask workers could not start the job: {describe(err)}"
            ) from None
        registered = True
        if job.check is not None and tasks:
            try:
                problem = client.submit(job.check, tasks[0].payload, pure=False).result()
            except Exception as err:
                problem = f"checking {tasks[0].key!r} on a worker failed: {describe(err)}"
            if problem:
                raise UnmaskError(
                    f"the Dask workers cannot use the input: {problem}. Workers read the files "
                    "themselves: put the corpus on storage that every worker mounts at the same "
                    "path (NFS, a cluster file system, a bucket mounted with s3fs or gcsfuse)"
                )
        limit = max_in_flight or max(4, 2 * sum(slots.values()))
        yield from _stream(client, job, tasks, retries=retries, limit=limit)
    finally:
        if registered:
            with contextlib.suppress(Exception):  # the workers may be gone: nothing to undo
                client.unregister_worker_plugin(plugin)
        client.close()


def _stream(
    client: Client, job: Job[S, P], tasks: Sequence[Task[P]], *, retries: int, limit: int
) -> Iterator[Outcome[P]]:
    run_id = uuid.uuid4().hex[:8]
    todo = iter(enumerate(tasks))
    in_flight: dict[str, Task[P]] = {}

    def submit(batch: list[tuple[int, Task[P]]]) -> list[Future[Any]]:
        futures = []
        for i, task in batch:
            key = f"unmask-{run_id}-{i}"
            in_flight[key] = task
            futures.append(
                client.submit(execute, job, task.payload, key=key, retries=retries, pure=False)
            )
        return futures

    queue = as_completed(
        submit(list(islice(todo, limit))), loop=client.loop, with_results=True, raise_errors=False
    )
    for future, result in queue:
        task = in_flight.pop(future.key)
        if future.status == "finished":
            yield Outcome(task, result)
        elif future.status == "error":
            err = future.exception()
            if isinstance(err, WorkerSetupError):
                raise UnmaskError(str(err))
            if isinstance(err, KilledWorker):
                message = (
                    "the Dask workers running it died repeatedly (a crash in a native library "
                    "or out of memory)"
                )
            else:
                message = f"failed {retries + 1} times; last error: {describe(err)}"
            yield Outcome(task, job.failure(task.payload, message), message)
        else:  # cancelled: the scheduler restarted or the connection was lost
            raise UnmaskError(
                f"the Dask scheduler dropped the running tasks ({future.status}); "
                "re-run the same command to resume: finished results are stored"
            )
        future.release()
        for new in submit(list(islice(todo, 1))):
            queue.add(new)
