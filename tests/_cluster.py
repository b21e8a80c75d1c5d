"""A real Dask cluster on 127.0.0.1 for tests (`dask scheduler` and `dask worker` processes).

The ``dask_cluster`` fixture (tests/conftest.py) starts one with two workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import REPO, cli_env


def scale_env() -> dict[str, str]:
    """cli_env() plus the repository root, so workers can import tests.scale._toy."""
    env = cli_env()
    env["PYTHONPATH"] += os.pathsep + str(REPO)
    return env


def wait_until(condition: object, *, timeout: float, what: str) -> None:
    """Poll ``condition()`` every 20 ms until it is true (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class DaskCluster:
    """A real `dask scheduler` and `dask worker` processes on 127.0.0.1, on random free ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scheduler_file = root / "scheduler.json"
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = root / "logs"
        self.logs.mkdir()
        self.scheduler = self._spawn(
            "scheduler",
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
        )
        try:
            wait_until(self.scheduler_file.exists, timeout=60, what="the dask scheduler to start")
        except BaseException:
            stop(self.scheduler)
            raise
        self.address = json.loads(self.scheduler_file.read_text())["address"]

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        dask = [sys.executable, "-m", "dask"]
        with open(self.logs / f"{name}.log", "wb") as log:
            return subprocess.Popen(
                [*dask, *args, "--scheduler-file", str(self.scheduler_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=scale_env(),
                cwd=self.root,
            )

    def add_worker(self, name: str) -> None:
        self.workers[name] = self._spawn(
            name,
            [
                "worker",
                "--nworkers", "1",
                "--nthreads", "1",
                "--no-nanny",
                "--no-dashboard",
                "--host", "127.0.0.1",
                "--name", name,
                "--death-timeout", "60",
            ],
        )  # fmt: skip

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, set_as_default=False, timeout=60) as client:
            client.wait_for_workers(n, timeout=120)

    def kill(self, name: str) -> None:
        """SIGKILL one worker: what a crashed machine looks like to the scheduler."""
        proc = self.workers[name]
        proc.kill()
        proc.wait(10)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for proc in self.workers.values():
            stop(proc)
        stop(self.scheduler)
