"""Runs on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import collections
import socket
from pathlib import Path

import pytest

from tests._cluster import DaskCluster, wait_until
from tests.cli.test_scan_cli import run_cli
from tests.scale import _toy
from tests.scale.conftest import FRAMES, spawn_cli, stored_files
from tests.scale.test_run_tasks import toy_tasks
from tests.scale.test_scan_resume import N_FILES
from unmask.errors import UnmaskError
from unmask.scale import ResultStore, Task, run_tasks, store_path_for


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_no_results(
    dask_cluster: DaskCluster, corpus: Path, baseline: str, tmp_path: Path
) -> None:
    from distributed import Client

    out = tmp_path / "preds.csv"
    store = store_path_for(out)
    cmd = ["scan", corpus, "-o", out, "-q", "--frames", FRAMES]
    with Client(dask_cluster.address, set_as_default=False) as client:
        w1 = next(
            addr
            for addr, info in client.scheduler_info(n_workers=-1)["workers"].items()
            if info["name"] == "w1"
        )
        proc = spawn_cli(*cmd, "--cluster", dask_cluster.address)
        try:
            # kill w1 while it is scanning a file, once results have started to arrive
            wait_until(
                lambda: (
                    store.exists()
                    and len(store.read_bytes().splitlines()) >= 2
                    and bool(client.processing().get(w1))
                ),
                timeout=180,
                what="a stored result while w1 is busy",
            )
            dask_cluster.kill("w1")
            done_at_kill = len(stored_files(store))
            _, stderr = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert proc.returncode == 0, stderr
    assert done_at_kill < N_FILES, "the run ended before the worker was killed"
    assert out.read_text(encoding="utf-8") == baseline
    files = stored_files(store)
    assert len(files) == N_FILES and collections.Counter(files) == collections.Counter(set(files))
    assert stderr.count("unmask: error:") == 1 and "broken.mp4" in stderr


@pytest.mark.slow
def test_run_tasks_on_a_cluster(dask_cluster: DaskCluster, tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.touch()
    job = _toy.job()
    tasks = toy_tasks(log, 8, {5: "raise"})
    with ResultStore(tmp_path / "s.jsonl") as store:
        stats = run_tasks(job, tasks, store, cluster=dask_cluster.address, retries=1)
        records = {t.key: store.get(job.name, t.key) for t in tasks}
    assert (stats.finished, stats.failed) == (8, 1)
    assert _toy.attempts(str(log)) == {**dict.fromkeys(range(8), 1), 5: 2}  # retried once
    assert records["n5"] == {
        "square": None,
        "error": "failed 2 times; last error: ValueError: task 5 always fails",
    }
    ok = [r for k, r in records.items() if k != "n5"]
    assert [r["square"] for r in ok] == [i * i for i in range(8) if i != 5]  # type: ignore[index]
    assert all(r["setups"] == 1 and r["threads"] == 1 for r in ok)  # type: ignore[index]  # 2 cores, 2 workers
    with ResultStore(tmp_path / "s.jsonl") as store:  # a second run: all stored
        assert run_tasks(job, tasks, store, cluster=dask_cluster.address).finished == 0

    missing = Task("x", (0, "ok", str(tmp_path / "not-on-the-workers")))
    with pytest.raises(UnmaskError, match=r"cannot use the input: .* does not exist here.*NFS"):
        run_tasks(job, [missing], ResultStore(None), cluster=dask_cluster.address)
    broken = _toy.job("toy broken", setup=_toy.fail_setup)
    with pytest.raises(UnmaskError, match=r"could not start the job.*weights\.onnx is missing"):
        run_tasks(broken, tasks, ResultStore(None), cluster=dask_cluster.address)


@pytest.mark.slow
def test_a_scheduler_without_workers(tmp_path: Path) -> None:
    from unmask.scale._dask import run_on_dask

    cluster = DaskCluster(tmp_path)
    try:
        runs = run_on_dask(_toy.job(), [], address=cluster.address, retries=0, worker_timeout=1)
        with pytest.raises(UnmaskError, match="has no workers"):
            next(runs)
    finally:
        cluster.close()


def test_an_unreachable_scheduler_is_one_line(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a free port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "2s")
    proc = run_cli("scan", corpus, "-q", "--cluster", f"tcp://127.0.0.1:{port}")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(
        f"unmask: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    )
    proc = run_cli("scan", corpus, "-q", "--cluster", str(corpus / "missing-scheduler.json"))
    assert proc.returncode == 1 and "cannot read the scheduler file" in proc.stderr
