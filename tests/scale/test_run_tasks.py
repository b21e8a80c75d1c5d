"""run_tasks with a toy job, in this process and on a local process pool."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest

from tests.scale import _toy
from unmask.errors import UnmaskError
from unmask.scale import ResultStore, Task, run_tasks


def toy_tasks(log: Path, n: int = 6, modes: dict[int, str] | None = None) -> list[Task[object]]:
    return [Task(f"n{i}", (i, (modes or {}).get(i, "ok"), str(log))) for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2])
def test_every_record_is_stored_and_a_rerun_does_nothing(tmp_path: Path, workers: int) -> None:
    log, job = tmp_path / "log", _toy.job()
    tasks = toy_tasks(log)
    with ResultStore(tmp_path / "s.jsonl") as store:
        stats = run_tasks(job, tasks, store, workers=workers)
        assert (stats.total, stats.finished, stats.failed, stats.reused) == (6, 6, 0, 0)
        records = [store.get(job.name, t.key) for t in tasks]
    assert [r["square"] for r in records] == [i * i for i in range(6)]  # type: ignore[index]
    assert all(r["setups"] == 1 for r in records)  # type: ignore[index]  # state built once per process
    pids = {r["pid"] for r in records}  # type: ignore[index]
    assert (pids == {os.getpid()}) if workers == 1 else (len(pids) <= 2 and os.getpid() not in pids)
    if workers == 2:
        assert {r["threads"] for r in records} == {max(1, len(os.sched_getaffinity(0)) // 2)}  # type: ignore[index]
    with ResultStore(tmp_path / "s.jsonl") as store:
        again = run_tasks(job, [*tasks, *toy_tasks(log, 8)[6:]], store, workers=workers)
    assert (again.reused, again.finished) == (6, 2)
    assert _toy.attempts(str(log)) == dict.fromkeys(range(8), 1)  # nothing ran twice


def test_another_job_name_does_not_reuse_records(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with ResultStore(tmp_path / "s.jsonl") as store:
        run_tasks(_toy.job("toy v1"), toy_tasks(log, 2), store)
        stats = run_tasks(_toy.job("toy v2"), toy_tasks(log, 2), store)
    assert stats.finished == 2 and _toy.attempts(str(log)) == {0: 2, 1: 2}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_task_is_retried_then_recorded(tmp_path: Path, workers: int) -> None:
    log, job = tmp_path / "log", _toy.job()
    tasks = toy_tasks(log, 4, {2: "raise"})
    store = ResultStore(None)
    stats = run_tasks(job, tasks, store, workers=workers, retries=2)
    assert (stats.finished, stats.failed) == (4, 1)
    assert _toy.attempts(str(log)) == {0: 1, 1: 1, 2: 3, 3: 1}
    failed = store.get(job.name, "n2")
    assert failed is not None and failed["square"] is None
    assert failed["error"] == "failed 3 times; last error: ValueError: task 2 always fails"
    assert (store.get(job.name, "n3") or {})["square"] == 9
    rerun = run_tasks(job, tasks, store, workers=workers, redo=lambda r: r["square"] is None)
    assert (rerun.reused, rerun.finished) == (3, 1)  # redo: only the failed one again


def test_a_task_that_kills_its_process_is_isolated_and_reported(tmp_path: Path) -> None:
    log, job = tmp_path / "log", _toy.job()
    tasks = toy_tasks(log, 8, {3: "die"})
    store = ResultStore(None)
    stats = run_tasks(job, tasks, store, workers=2, retries=1)
    assert (stats.finished, stats.failed) == (8, 1)
    failed = store.get(job.name, "n3")
    assert failed is not None and "worker process died each of the 2 times" in failed["error"]
    assert [store.get(job.name, f"n{i}")["square"] for i in range(8) if i != 3] == [  # type: ignore[index]
        i * i for i in range(8) if i != 3
    ]
    counts = _toy.attempts(str(log))
    # alone 1 + retries times; plus once beside others when other tasks were still running
    # as it died (timing: fast neighbours may have finished, so its first death was alone)
    assert counts[3] in (2, 3)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_that_cannot_set_up_stops_the_run(tmp_path: Path, workers: int) -> None:
    job = _toy.job("toy broken", setup=_toy.fail_setup)
    with pytest.raises(
        UnmaskError, match=r"could not set up 'toy broken'.*weights.onnx is missing"
    ):
        run_tasks(job, toy_tasks(tmp_path / "log", 3), ResultStore(None), workers=workers)


def test_progress_callback_and_bad_arguments(tmp_path: Path) -> None:
    seen: list[str] = []
    tasks = toy_tasks(tmp_path / "log", 3)
    run_tasks(_toy.job(), tasks, ResultStore(None), on_outcome=lambda o: seen.append(o.task.key))
    assert seen == ["n0", "n1", "n2"]
    run = partial(run_tasks, _toy.job(), tasks, ResultStore(None))
    with pytest.raises(UnmaskError, match="workers must be at least 1"):
        run(workers=0)
    with pytest.raises(UnmaskError, match="not both"):
        run(workers=2, cluster="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="unique"):
        run_tasks(_toy.job(), [*tasks, tasks[0]], ResultStore(None))
