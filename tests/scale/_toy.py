"""A toy job for the run_tasks tests: importable by worker processes (local and Dask).

A payload is ``(n, mode, log)``: the task appends ``n`` to the ``log`` file each time it runs
(to count attempts across processes), then returns ``n * n`` (mode "ok"), raises (mode
"raise") or kills its own process (mode "die").
"""

from __future__ import annotations

import os
from typing import Any

from unmask.scale import Job

SETUPS = 0  # setups done in this process


def setup(threads: int) -> dict[str, Any]:
    global SETUPS
    SETUPS += 1
    return {"pid": os.getpid(), "threads": threads}


def fail_setup(threads: int) -> dict[str, Any]:
    raise FileNotFoundError("weights.onnx is missing")


def run(state: dict[str, Any], payload: tuple[int, str, str]) -> dict[str, Any]:
    n, mode, log = payload
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{n}\n")
    if mode == "raise":
        raise ValueError(f"task {n} always fails")
    if mode == "die":
        os._exit(3)
    return {"square": n * n, "pid": state["pid"], "setups": SETUPS, "threads": state["threads"]}


def failure(payload: tuple[int, str, str], message: str) -> dict[str, Any]:
    return {"square": None, "error": message}


def check(payload: tuple[int, str, str]) -> str | None:
    return None if os.path.exists(payload[2]) else f"{payload[2]} does not exist here"


def job(name: str = "toy v1", **kw: Any) -> Job[dict[str, Any], tuple[int, str, str]]:
    return Job(name, **{"setup": setup, "run": run, "failure": failure, "check": check, **kw})


def attempts(log: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    if os.path.exists(log):
        with open(log, encoding="utf-8") as f:
            lines = f.read().split()
        for line in lines:
            counts[int(line)] = counts.get(int(line), 0) + 1
    return counts
