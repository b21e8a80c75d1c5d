"""Scoring workers: CSV and code submissions end to end through the API and the queue."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.arena.conftest import (
    LABELS,
    SECRET,
    World,
    labels_csv,
    make_world,
    predictions_csv,
    submit,
)
from tests.arena.test_sandbox import tar_bytes, zip_bytes
from unmask.arena import models as m
from unmask.arena.core.config import Settings
from unmask.arena.main import create_app
from unmask.arena.sandbox import RunResult, probe_isolation
from unmask.arena.scoring import load_test_set
from unmask.arena.worker import Worker, _exit_reason

LIST_VIDEOS = """
import os, sys
videos, out = sys.argv[1], sys.argv[2]
names = sorted(os.path.relpath(os.path.join(d, f), videos) for d, _, fs in os.walk(videos) for f in fs)
print(f"scoring {len(names)} videos")
with open(out, "w") as f:
    f.write("filename,label\\n" + "".join(f"{n},0.5\\n" for n in names))
"""


@pytest.fixture(scope="module")
def isolation() -> None:
    ok, why = probe_isolation()
    if not ok:
        pytest.skip(f"full isolation unavailable here: {why}")


def _code_world(session: Session, videos_dir: Path, time_limit_s: int = 60) -> World:
    return make_world(session, videos_dir=str(videos_dir), code_time_limit_s=time_limit_s)


def _status(client: TestClient, token: str, sub_id: int) -> dict:  # type: ignore[type-arg]
    return client.get(
        f"/api/submissions/{sub_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()


def test_code_submission_is_run_and_scored(
    client: TestClient, session: Session, worker: Worker, videos_dir: Path, isolation: None
) -> None:
    world = _code_world(session, videos_dir)
    r = submit(
        client, world.team_a, zip_bytes({"predict.py": LIST_VIDEOS}), kind="code", name="team.zip"
    )
    assert r.status_code == 201, r.text
    assert worker.run_once()
    sub = _status(client, world.team_a, r.json()["submission"]["id"])
    assert sub["status"] == "scored", sub
    assert sub["public_score"] == pytest.approx(math.log(2)) and sub["execution_s"] > 0
    assert f"scoring {len(LABELS)} videos" in sub["log_excerpt"]


@pytest.mark.parametrize(
    ("source", "status", "error", "log"),
    [
        (
            "print('loading weights')\nraise SystemExit(3)\n",
            "crashed",
            "exited with code 3",
            "loading weights",
        ),
        (
            "import sys\nopen(sys.argv[2], 'w').write('filename,label\\nnope.mp4,0.5\\n')\n",
            "invalid",
            "line ",
            "",
        ),
        ("print('lazy')\n", "invalid", "wrote no predictions.csv", "lazy"),
    ],
)
def test_code_failures_get_a_clear_status_and_log(
    client: TestClient, session: Session, worker: Worker, videos_dir: Path, isolation: None,
    source: str, status: str, error: str, log: str,
) -> None:  # fmt: skip
    world = _code_world(session, videos_dir)
    r = submit(
        client, world.team_a, tar_bytes({"predict.py": source}), kind="code", name="c.tar.gz"
    )
    worker.run_once()
    sub = _status(client, world.team_a, r.json()["submission"]["id"])
    assert sub["status"] == status and error in sub["error"] and log in (sub["log_excerpt"] or "")
    assert sub["public_score"] is None


def test_code_time_out(
    client: TestClient, session: Session, worker: Worker, videos_dir: Path, isolation: None
) -> None:
    world = _code_world(session, videos_dir, time_limit_s=1)
    source = "import time\nprint('thinking', flush=True)\ntime.sleep(60)\n"
    r = submit(
        client, world.team_a, zip_bytes({"predict.py": source}), kind="code", name="slow.zip"
    )
    worker.run_once()
    sub = _status(client, world.team_a, r.json()["submission"]["id"])
    assert (
        sub["status"] == "timeout"
        and "time limit of 1 s" in sub["error"]
        and "thinking" in sub["log_excerpt"]
    )


def test_archive_without_entry_point_is_refused_at_upload(
    client: TestClient, session: Session, videos_dir: Path
) -> None:
    world = _code_world(session, videos_dir)
    r = submit(client, world.team_a, zip_bytes({"main.py": ""}), kind="code", name="c.zip")
    assert r.status_code == 422 and "no predict.py" in r.json()["detail"]


def test_missing_videos_folder_is_an_error(
    client: TestClient, session: Session, worker: Worker, tmp_path: Path
) -> None:
    world = _code_world(session, tmp_path / "gone")
    r = submit(
        client, world.team_a, zip_bytes({"predict.py": LIST_VIDEOS}), kind="code", name="c.zip"
    )
    worker.run_once()
    sub = _status(client, world.team_a, r.json()["submission"]["id"])
    assert sub["status"] == "error" and "is missing on worker" in sub["error"]


def test_outcomes_of_sandbox_results(settings: Settings) -> None:
    worker = Worker(lambda: None, settings=settings, name="w")  # type: ignore[arg-type,return-value]
    test_set = load_test_set(labels_csv())
    failed = RunResult(
        exit_code=125,
        timed_out=False,
        wall_s=0.1,
        isolation="failed",
        reason="cannot create namespaces",
    )
    out = worker._code_outcome(failed, test_set, time_limit_s=10)
    assert (
        out.status == m.ERROR
        and "could not be set up on worker w: cannot create namespaces" in (out.error or "")
    )
    loose = RunResult(exit_code=0, timed_out=False, wall_s=0.1, isolation="none", reason="no root",
                      output=predictions_csv())  # fmt: skip
    out = worker._code_outcome(loose, test_set, time_limit_s=10)
    assert out.status == m.SCORED and "WITHOUT isolation" in (out.log_excerpt or "")
    assert _exit_reason(128 + 24) == "the entry point was killed by SIGXCPU (CPU time limit)"


def test_run_until_empty_counts_jobs(client: TestClient, session: Session, worker: Worker) -> None:
    world = make_world(session)
    for token in (world.team_a, world.team_b, world.team_a):
        submit(client, token, predictions_csv())
    assert worker.run(until_empty=True) == 3


def test_served_app_migrates_and_scores_with_its_embedded_worker(tmp_path: Path) -> None:
    """The lifespan hook: fresh SQLite file, migrations, one worker thread."""
    settings = Settings(data_dir=tmp_path, secret_key=SECRET, poll_interval_s=0.2)
    app = create_app(settings, workers=1)
    from unmask.arena import crud
    from unmask.arena.core.db import make_engine, session_factory

    with TestClient(app) as client:  # runs the lifespan: engine, migrations, worker
        engine = make_engine(settings.sqlalchemy_url)
        with session_factory(engine, write=True)() as s:
            c = crud.create_challenge(s, slug="live", title="Live")
            crud.set_test_set(s, c, load_test_set(labels_csv()))
            _, token = crud.create_team(s, c, name="t")
        engine.dispose()
        sub_id = submit(client, token, predictions_csv(), slug="live").json()["submission"]["id"]
        deadline = time.monotonic() + 20
        while _status(client, token, sub_id)["status"] != "scored" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _status(client, token, sub_id)["status"] == "scored"


def test_more_than_one_worker_on_sqlite_is_refused(tmp_path: Path) -> None:
    from unmask.errors import ConfigError

    with pytest.raises(ConfigError, match="single writer"):
        create_app(Settings(data_dir=tmp_path, secret_key=SECRET), workers=2)
