"""Arena under load: leaderboard latency with 1,000 teams and 10,000 scored submissions, and
CSV submissions scored per second by one worker. Prints numbers; asserts nothing.

    python bench/arena_load.py                         # fresh SQLite file
    python bench/arena_load.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Latencies are over HTTP to a real ``unmask arena serve`` process, with a trivial route
(GET /api/challenges/{slug}) measured in the same run as the baseline. Scoring speed is
compared with ``score_csv`` alone on the same files (no queue, no database).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import insert, select

from unmask.arena import crud
from unmask.arena import models as m
from unmask.arena.core.db import make_engine, migrate, session_factory, utcnow
from unmask.arena.scoring import load_test_set, score_csv
from unmask.arena.worker import Worker

SECRET = "bench-secret-" + "Zx81kQ" * 6


def labels_file(n: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    rows = [f"{'public' if i % 2 else 'private'}/v{i:05d}.mp4,{rng.randint(0, 1)},{'public' if i % 2 else 'private'}"
            for i in range(n)]  # fmt: skip
    return ("filename,label,split\n" + "\n".join(rows) + "\n").encode()


def predictions(names: list[str], rng: random.Random) -> bytes:
    return ("filename,label\n" + "".join(f"{n},{rng.random():.4f}\n" for n in names)).encode()


def seed(
    database_url: str, *, teams: int, submissions: int, test_files: int
) -> tuple[list[str], float]:
    """Challenge ``bench`` with its teams (through crud) and already-scored submissions
    (bulk-inserted: seeding only). Returns the test file names and the seconds it took."""
    start = time.perf_counter()
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(1)
    with session_factory(engine, write=True)() as s:
        challenge = crud.create_challenge(s, slug="bench", title="Bench", daily_cap=1000)
        test_set = load_test_set(labels_file(test_files))
        crud.set_test_set(s, challenge, test_set)
        team_ids = [
            crud.create_team(s, challenge, name=f"team-{i:04d}")[0].id for i in range(teams)
        ]
        phase_id = challenge.phases[0].id
        now = utcnow()
        rows = [
            {
                "team_id": team_ids[i % teams], "phase_id": phase_id, "kind": "csv", "status": m.SCORED,
                "filename": "p.csv", "size_bytes": 1, "sha256": "0" * 64, "note": "", "created_at": now,
                "scored_at": now, "public_score": rng.uniform(0.2, 0.7), "public_auc": rng.uniform(0.5, 1),
                "private_score": rng.uniform(0.2, 0.7), "private_auc": rng.uniform(0.5, 1),
                "execution_s": rng.uniform(0.01, 0.1), "selected": False,
            }
            for i in range(submissions)
        ]  # fmt: skip
        s.execute(insert(m.Submission), rows)
        s.commit()
    engine.dispose()
    return sorted(test_set.labels), time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(database_url: str, data_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "UNMASK_DATABASE_URL": database_url, "UNMASK_ARENA_SECRET_KEY": SECRET,
           "UNMASK_ARENA_DATA_DIR": str(data_dir)}  # fmt: skip
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "unmask", "arena", "serve", "--workers", "0", "--no-demo",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/challenges", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: see {data_dir / 'serve.log'}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def latencies(client: httpx.Client, path: str, n: int) -> list[float]:
    client.get(path).raise_for_status()  # warm up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        client.get(path).raise_for_status()
        out.append(time.perf_counter() - t)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def uncached_leaderboard_ms(database_url: str, n: int = 20) -> float:
    """p50 of computing the public leaderboard in-process, without the cache (a cache miss)."""
    from unmask.arena import queries

    engine = make_engine(database_url)
    with session_factory(engine)() as s:
        challenge = queries.get_challenge(s, "bench")
        times = []
        for _ in range(n):
            t = time.perf_counter()
            queries.leaderboard(s, challenge)
            times.append(time.perf_counter() - t)
    engine.dispose()
    return statistics.median(times) * 1000


def scoring_speed(database_url: str, names: list[str], n: int) -> tuple[float, float]:
    """Submissions scored per second by one Worker, and by score_csv alone."""
    engine = make_engine(database_url)
    rng = random.Random(2)
    files = [predictions(names, rng) for _ in range(n)]
    with session_factory(engine, write=True)() as s:
        challenge = s.scalar(select(m.Challenge).where(m.Challenge.slug == "bench"))
        assert challenge is not None
        team, _ = crud.create_team(s, challenge, name="load-baseline", is_baseline=True)  # no caps
        for data in files:
            crud.create_submission(s, team=team, kind="csv", filename="p.csv", data=data)
        from unmask.arena import queries

        test_set = queries.test_set(s, challenge)
    worker = Worker(session_factory(engine, write=True), session_factory(engine), name="bench")
    t = time.perf_counter()
    done = worker.run(until_empty=True)
    worker_rate = done / (time.perf_counter() - t)
    t = time.perf_counter()
    for data in files:
        score_csv(data, test_set)
    alone_rate = n / (time.perf_counter() - t)
    engine.dispose()
    return worker_rate, alone_rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument(
        "--test-files", type=int, default=4000, help="DFDC's public test set had 4,000 videos"
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--scored", type=int, default=200, help="CSV submissions for the worker to score"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/arena.db"
        names, seed_s = seed(
            url, teams=args.teams, submissions=args.submissions, test_files=args.test_files
        )
        kind = make_engine(url).dialect.name
        print(f"arena load bench: {kind}, {args.teams} teams, {args.submissions} scored submissions, "
              f"{args.test_files} test files (seeded in {seed_s:.1f} s)")  # fmt: skip
        with server(url, Path(tmp)) as base, httpx.Client(base_url=base, timeout=30) as client:
            rows = len(client.get("/api/challenges/bench/leaderboard").json()["rows"])
            results = {
                "GET /api/challenges/bench (baseline)": latencies(
                    client, "/api/challenges/bench", args.requests
                ),
                f"GET /api/challenges/bench/leaderboard ({rows} rows)": latencies(
                    client, "/api/challenges/bench/leaderboard", args.requests
                ),
                "GET /c/bench/leaderboard (HTML page)": latencies(
                    client, "/c/bench/leaderboard", args.requests
                ),
            }
        base_p50 = pct(next(iter(results.values())), 50)
        for name, values in results.items():
            p50, p99 = pct(values, 50), pct(values, 99)
            print(
                f"  {name:<52} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  ({p50 / base_p50:5.1f}x baseline p50)"
            )
        print(
            f"  leaderboard query on a cache miss (in-process, no HTTP): p50 {uncached_leaderboard_ms(url):.1f} ms"
        )
        worker_rate, alone_rate = scoring_speed(url, names, args.scored)
        print(f"  one worker: {worker_rate:6.1f} CSV submissions scored/s ({args.test_files} rows each); "
              f"score_csv alone: {alone_rate:6.1f}/s; worker/alone = {worker_rate / alone_rate:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
