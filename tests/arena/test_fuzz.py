"""Fuzz the JSON API from its OpenAPI spec (schemathesis): no input makes the server fail (5xx)."""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

from fastapi import FastAPI  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from tests.arena.conftest import SECRET, labels_csv  # noqa: E402
from unmask.arena import crud  # noqa: E402
from unmask.arena.core.config import Settings  # noqa: E402
from unmask.arena.core.db import make_engine, migrate, session_factory  # noqa: E402
from unmask.arena.main import create_app  # noqa: E402
from unmask.arena.scoring import load_test_set  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, dict[str, str]]:
    """An app on a throwaway SQLite file with a challenge, a team and a host."""
    data: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{data / 'arena.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine, write=True)() as s:
        _, host = crud.create_host(s, "fuzz-host")
        challenge = crud.create_challenge(s, slug="dfdc", title="Fuzz")
        crud.set_test_set(s, challenge, load_test_set(labels_csv()))
        _, team = crud.create_team(s, challenge, name="fuzzers")
    app = create_app(
        Settings(data_dir=data, secret_key=SECRET, database_url=url, auth_failure_limit=10**6)
    )
    app.state.read_sessions = session_factory(engine)
    app.state.write_sessions = session_factory(engine, write=True)
    return app, {"host": host, "team": team}


def fuzz(operation, headers: dict[str, str], *, examples: int) -> None:  # type: ignore[no-untyped-def]
    """Call one operation with generated inputs; fail on any 5xx answer."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def no_5xx(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    no_5xx()


def test_no_server_errors(fuzz_app: tuple[FastAPI, dict[str, str]]) -> None:
    app, tokens = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        token = tokens["host"] if operation.path.startswith("/api/host") else tokens["team"]
        fuzz(operation, {"Authorization": f"Bearer {token}"}, examples=50)
        fuzz(operation, {}, examples=10)  # anonymous
        fuzz(operation, {"Authorization": "Bearer umk_" + "w" * 43}, examples=5)  # wrong token
