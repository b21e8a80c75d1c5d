"""Shared fixtures. Tests that need ../shared/data skip with a reason when it is absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests._cluster import DaskCluster

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$UNMASK_SHARED_DATA`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get("UNMASK_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"research data not found at {root} (set UNMASK_SHARED_DATA to run this test)")
    return root


def cli_env() -> dict[str, str]:
    """Environment for running ``python -m unmask`` from this checkout in a subprocess."""
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


@pytest.fixture
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A scheduler and two workers ("w1", "w2") on 127.0.0.1, stopped even when the test fails."""
    from tests._cluster import DaskCluster

    cluster = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        for name in ("w1", "w2"):
            cluster.add_worker(name)
        cluster.wait_for_workers(2)
        yield cluster
    finally:
        cluster.close()
