"""50 concurrent submissions from 10 teams on PostgreSQL, drained by 3 worker processes:
every accepted submission recorded and scored exactly once, the daily cap exact."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.arena.conftest import (
    arena_env,
    arena_process,
    free_port,
    fresh_database,
    good_predictions,
    labels_csv,
    wait_until_up,
)
from unmask.arena import crud
from unmask.arena import models as m
from unmask.arena.core.db import make_engine, migrate, session_factory
from unmask.arena.scoring import load_test_set

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TEAMS, PER_TEAM, CAP, WORKERS = 10, 5, 3, 3


def wait_for_line(
    proc: subprocess.Popen[bytes], log: Path, text: str, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"the worker exited with {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in {log.name} after {timeout_s} s"
        time.sleep(0.1)


def test_concurrent_submissions_are_capped_exactly_and_scored_once(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        engine = make_engine(url)
        migrate(engine)
        with session_factory(engine, write=True)() as s:
            challenge = crud.create_challenge(s, slug="race", title="Race", daily_cap=CAP)
            crud.set_test_set(s, challenge, load_test_set(labels_csv()))
            tokens = [crud.create_team(s, challenge, name=f"team-{i}")[1] for i in range(TEAMS)]
        port = free_port()
        env = arena_env(url, tmp_path / "data", UNMASK_ARENA_POLL_INTERVAL_S="0.2")
        logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
        with arena_process(
            ["serve", "--workers", "0", "--no-demo", "--port", str(port)],
            env,
            tmp_path / "serve.log",
        ) as server:
            wait_until_up(f"http://127.0.0.1:{port}", server, tmp_path / "serve.log")
            with contextlib.ExitStack() as stack:
                workers = [
                    stack.enter_context(arena_process(["worker", "--name", f"w{i}"], env, logs[i]))
                    for i in range(WORKERS)
                ]
                for i, w in enumerate(workers):  # all three up before the race starts
                    wait_for_line(w, logs[i], "code submissions:")

                def post(token: str) -> int:
                    r = httpx.post(
                        f"http://127.0.0.1:{port}/api/challenges/race/submissions",
                        headers={"Authorization": f"Bearer {token}"},
                        files={"file": ("p.csv", good_predictions(0.8))},
                        timeout=60,
                    )
                    return r.status_code

                with ThreadPoolExecutor(max_workers=TEAMS * PER_TEAM) as pool:
                    codes = list(pool.map(post, [t for t in tokens for _ in range(PER_TEAM)]))
                assert sorted(codes) == [201] * (TEAMS * CAP) + [429] * (TEAMS * (PER_TEAM - CAP))

                deadline = time.monotonic() + 120
                with session_factory(engine)() as s:
                    while time.monotonic() < deadline:
                        left = s.scalar(
                            select(func.count(m.Job.id)).where(m.Job.state != m.JOB_DONE)
                        )
                        s.rollback()
                        if left == 0:
                            break
                        time.sleep(0.2)
                for w in workers:
                    w.terminate()
                for w in workers:
                    assert w.wait(timeout=30) == 0
        with session_factory(engine)() as s:
            per_team = dict(
                s.execute(
                    select(m.Submission.team_id, func.count()).group_by(m.Submission.team_id)
                ).all()
            )
            assert sorted(per_team.values()) == [CAP] * TEAMS
            jobs = s.execute(select(m.Job.state, m.Job.attempts)).all()
            assert len(jobs) == TEAMS * CAP and set(jobs) == {(m.JOB_DONE, 1)}
            statuses = s.scalars(select(m.Submission.status)).all()
            assert set(statuses) == {m.SCORED}
        engine.dispose()
        done = [
            int(re.search(r"worker w\d+: (\d+) jobs", log.read_text()).group(1)) for log in logs
        ]  # type: ignore[union-attr]
        assert sum(done) == TEAMS * CAP  # every job scored by exactly one worker
