"""A small generated corpus, its single-process scan, and a real Dask cluster on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests._media import SAMPLES, astronaut, write_video
from tests.conftest import REPO, cli_env
from unmask.cli import main

FRAMES = "6"  # frames sampled per video in these tests: small and fast


def varied_clip(path: Path, seed: int, n: int = 8) -> Path:
    """A 320x240 clip of the astronaut's face at a seed-dependent size, place and noise."""
    rng = np.random.default_rng(seed)
    fw = int(rng.integers(90, 130))
    face = cv2.resize(astronaut()[30:230, 150:310], (fw, int(fw * 1.25)))
    grey = int(rng.integers(60, 200))
    frames = []
    for i in range(n):
        frame = np.full((240, 320, 3), grey, np.uint8)
        x, y = 20 + int(rng.integers(0, 320 - fw - 40)), 10 + i
        frame[y : y + face.shape[0], x : x + fw] = face
        noise = rng.normal(0, 2 + seed % 5, frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return write_video(path, frames, fps=10.0)


def make_corpus(root: Path, n_videos: int = 10) -> Path:
    """``n_videos`` varied face clips in two folders, a photo and an empty (broken) file."""
    (root / "b").mkdir(parents=True)
    for i in range(n_videos):
        varied_clip(root / ("a" if i % 2 else "b") / f"clip_{i:02d}.mp4", seed=i)
    shutil.copy(SAMPLES / "astronaut.jpg", root / "photo.jpg")
    (root / "broken.mp4").write_bytes(b"")
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Do not modify: copy it (``copy_corpus``) to change files."""
    return make_corpus(tmp_path_factory.mktemp("scale") / "corpus")


@pytest.fixture
def copy_corpus(corpus: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(corpus, tmp_path / "corpus", copy_function=shutil.copy2))


@pytest.fixture(scope="session")
def baseline(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The CSV of a plain single-process scan of the corpus."""
    out = tmp_path_factory.mktemp("baseline") / "preds.csv"
    assert main(["scan", str(corpus), "-o", str(out), "-q", "--frames", FRAMES]) == 0
    return out.read_text(encoding="utf-8")


def scale_env() -> dict[str, str]:
    """cli_env() plus the repository root, so workers can import tests.scale._toy."""
    env = cli_env()
    env["PYTHONPATH"] += os.pathsep + str(REPO)
    return env


def spawn_cli(*args: str | Path, **popen: Any) -> subprocess.Popen[str]:
    """``python -m unmask ARGS`` in the background, stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "unmask", *map(str, args)],
        env=scale_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def store_lines(path: Path) -> list[dict[str, object]]:
    """The records of a store file (without its header), in file order."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[1:]]


def stored_files(path: Path) -> list[str]:
    """The submission filename of each record line in a scan store."""
    return [str(d["key"]).split("|")[0] for d in store_lines(path)]


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


@pytest.fixture
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A scheduler and two workers ("w1", "w2"), stopped even when the test fails."""
    cluster = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        for name in ("w1", "w2"):
            cluster.add_worker(name)
        cluster.wait_for_workers(2)
        yield cluster
    finally:
        cluster.close()
