"""Fixtures of the arena tests.

Database tests run against SQLite and PostgreSQL (127.0.0.1:5432, trust auth; skipped with
the reason when unreachable). Each backend gets a fresh database, migrated once per run and
dropped at the end; each test runs in its own transaction, rolled back afterwards (crud's
commits release SAVEPOINTs inside it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from unmask.arena import crud
from unmask.arena.api.deps import get_session
from unmask.arena.core.config import Settings
from unmask.arena.core.db import make_engine, migrate
from unmask.arena.main import create_app
from unmask.arena.scoring import load_test_set
from unmask.arena.worker import Worker

PG_SERVER = os.environ.get("UNMASK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
SECRET = "test-secret-" + "k9Qz" * 10


def unavailable(kind: str, reason: str) -> None:
    """Skip, or fail where ``UNMASK_TEST_REQUIRE`` names ``kind`` (as .ci/run does for CI)."""
    required = {k.strip() for k in os.environ.get("UNMASK_TEST_REQUIRE", "").split(",")}
    if kind in required:
        pytest.fail(f"{reason} (UNMASK_TEST_REQUIRE={os.environ['UNMASK_TEST_REQUIRE']})")
    pytest.skip(reason)


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used (None when it can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    engine = create_engine(f"{PG_SERVER}/postgres", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:
        return f"PostgreSQL at {PG_SERVER} is unreachable ({type(err).__name__}); .ci/run starts it"
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty database of ``kind``, dropped afterwards."""
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / f'arena-{secrets.token_hex(4)}.db'}"
        return
    reason = postgres_unreachable()
    if reason:
        unavailable("postgres", reason)
    name = f"unmask_arena_test_{secrets.token_hex(6)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "arena", secret_key=SECRET, database_url="sqlite:///unused.db"
    )


@pytest.fixture
def app(settings: Settings, session: Session):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    app.dependency_overrides[get_session] = lambda: session
    return app


@pytest.fixture
def client(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app)


def session_source(session: Session):  # type: ignore[no-untyped-def]
    """A session factory for Worker that hands out the test's session (never closed)."""
    return lambda: contextlib.nullcontext(session)


@pytest.fixture
def worker(session: Session, settings: Settings) -> Worker:
    return Worker(session_source(session), settings=settings, name="test-worker")


# --- a small challenge -------------------------------------------------------------------

LABELS = [  # forge format: filename relative to DIR/test, 1 = FAKE, split column
    ("public/a.mp4", 1), ("public/b.mp4", 0), ("public/c.mp4", 1), ("public/d.mp4", 0),
    ("public/e.mp4", 1), ("private/f.mp4", 0), ("private/g.mp4", 1), ("private/h.mp4", 0),
    ("private/i.mp4", 1), ("private/j.mp4", 0),
]  # fmt: skip


def labels_csv() -> bytes:
    rows = "".join(f"{f},{y},{f.split('/')[0]}\n" for f, y in LABELS)
    return ("filename,label,split\n" + rows).encode()


def predictions_csv(values: dict[str, float] | None = None, default: float = 0.5) -> bytes:
    values = values or {}
    return (
        "filename,label\n" + "".join(f"{f},{values.get(f, default)}\n" for f, _ in LABELS)
    ).encode()


def good_predictions(confidence: float = 0.8) -> bytes:
    return predictions_csv({f: confidence if y else 1 - confidence for f, y in LABELS})


@dataclass
class World:
    """A host, a challenge with labels, and two teams, with their tokens."""

    host_token: str
    slug: str
    team_a: str
    team_b: str
    team_a_id: int
    team_b_id: int

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def make_world(
    session: Session, *, videos_dir: str | None = None, code_time_limit_s: int = 60
) -> World:
    _, host_token = crud.create_host(session, "organisers")
    challenge = crud.create_challenge(
        session,
        slug="dfdc",
        title="Deepfake test",
        videos_dir=videos_dir,
        code_time_limit_s=code_time_limit_s,
    )
    crud.set_test_set(session, challenge, load_test_set(labels_csv()))
    a, tok_a = crud.create_team(
        session, challenge, name="alpha", members=[("Ada", "ada@example.org")]
    )
    b, tok_b = crud.create_team(session, challenge, name="beta")
    return World(host_token, challenge.slug, tok_a, tok_b, a.id, b.id)


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def submit(
    client: TestClient,
    token: str,
    data: bytes,
    *,
    slug: str = "dfdc",
    kind: str = "csv",
    name: str = "preds.csv",
):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/challenges/{slug}/submissions",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (name, data)},
        data={"kind": kind},
    )


@pytest.fixture
def videos_dir(tmp_path: Path) -> Path:
    """Stand-in test videos (the sandboxed code only lists them), readable by anyone."""
    root = tmp_path / "videos"
    for name, _ in LABELS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"not really a video")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# --- real processes (concurrency and browser tests) ---------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def arena_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    from tests.conftest import cli_env

    env = cli_env()
    env.update(
        UNMASK_DATABASE_URL=database_url,
        UNMASK_ARENA_SECRET_KEY=SECRET,
        UNMASK_ARENA_DATA_DIR=str(data_dir),
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def arena_process(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m unmask arena ARGS`` in the background, stopped (SIGTERM, then SIGKILL) afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "unmask", "arena", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until_up(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60
) -> None:
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(f"{url}/api/challenges", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not come up in {timeout_s} s:\n{log.read_text()[-3000:]}")
