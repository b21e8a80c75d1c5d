"""Private scores and labels never leave the server before the reveal: every route, every caller."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.arena.conftest import LABELS, World, good_predictions, predictions_csv, submit
from unmask.arena import models as m
from unmask.arena.worker import Worker

PRIVATE_SCORE = 7.777771  # no real log loss here comes near it
PRIVATE_AUC = 0.031415926
SENTINELS = ("7.77777", "7.7778", "0.031415", "0.0314", "0.03142")
FORBIDDEN_KEYS = {"label", "labels", "part", "split", "token_hash"}
# The reveal itself, and logging out (it would make the caller anonymous), are left out.
SKIPPED_PATHS = {"/api/host/challenges/{slug}/reveal", "/host/c/{slug}/reveal", "/logout"}


def _label_strings() -> list[str]:
    out = []
    for f, y in LABELS:
        out += [f"{f},{y}\n", f"{f},{y},", f'"{f}":{y}', f'"{f}": {y}']
    return out


def _json_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _json_keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_keys(v)


def assert_no_secret(body: str, where: str) -> None:
    for s in SENTINELS:
        assert s not in body, f"{where} leaks a private score ({s})"
    for s in _label_strings():
        assert s not in body, f"{where} leaks a label ({s!r})"
    try:
        doc = json.loads(body)
    except ValueError:
        return
    leaked = FORBIDDEN_KEYS & set(_json_keys(doc))
    assert not leaked, f"{where} returns {leaked}"


def _scored_world(
    client: TestClient, world: World, worker: Worker, session: Session
) -> dict[str, int]:
    ids = {
        "a": submit(client, world.team_a, good_predictions(0.8)).json()["submission"]["id"],
        "b": submit(client, world.team_b, predictions_csv()).json()["submission"]["id"],
    }
    while worker.run_once():
        pass
    client.put(
        "/api/challenges/dfdc/final",
        json={"submission_ids": [ids["a"]]},
        headers=world.auth(world.team_a),
    )
    session.execute(
        update(m.Submission).values(private_score=PRIVATE_SCORE, private_auc=PRIVATE_AUC)
    )
    session.commit()
    return ids


def page_csrf(client: TestClient) -> str:
    """The CSRF token of the login form (sets the browser's CSRF cookie on first visit)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert found is not None
    return found.group(1)


def page_login(client: TestClient, token: str) -> str:
    csrf = page_csrf(client)
    r = client.post("/login", data={"token": token, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    return csrf


def _callers(app: FastAPI, world: World) -> dict[str, tuple[TestClient, dict[str, str], str]]:
    """Each caller: a browser-like client (logged in to the pages), its API headers, its CSRF token."""
    callers = {}
    for name, token in [("anonymous", None), ("team_a", world.team_a), ("team_b", world.team_b),
                        ("host", world.host_token)]:  # fmt: skip
        client = TestClient(app)
        csrf = page_login(client, token) if token else page_csrf(client)
        callers[name] = (client, world.auth(token) if token else {}, csrf)
    return callers


def _requests(
    app: FastAPI, world: World, ids: dict[str, int]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    params = {"slug": "dfdc", "submission_id": str(ids["a"]), "team_id": str(world.team_a_id)}
    csv = {"file": ("p.csv", predictions_csv())}
    bodies: dict[str, dict[str, Any]] = {
        "/api/challenges/{slug}/final": {"json": {"submission_ids": [ids["a"]]}},
        "/api/challenges/{slug}/submissions": {"files": csv},
        "/api/host/challenges/{slug}/baselines": {"files": csv, "data": {"name": "base"}},
        "/api/host/challenges/{slug}/teams": {"json": {"name": "gamma"}},
        "/api/host/challenges/{slug}/labels": {"files": csv},
        "/api/host/challenges/{slug}/phases": {
            "json": {"name": "p2", "starts_at": "2031-01-01T00:00:00"}
        },
        "/api/host/challenges": {"json": {"slug": "x2", "title": "X"}},
        "/c/{slug}/final": {"data": {"submission_ids": [str(ids["a"])]}},
        "/c/{slug}/submit": {"files": csv, "data": {"kind": "csv"}},
        "/login": {"data": {"token": "umk_" + "n" * 43}},
        "/host/challenges": {"data": {"slug": "x3", "title": "X"}},
        "/host/c/{slug}/labels": {"files": csv},
        "/host/c/{slug}/phases": {"data": {"name": "p3", "starts_at": "2031-01-01T00:00"}},
        "/host/c/{slug}/teams": {"data": {"name": "delta"}},
        "/host/c/{slug}/baselines": {"files": csv, "data": {"name": "base2"}},
    }
    for route in iter_route_contexts(app.routes):
        if route.methods is None or route.path in SKIPPED_PATHS:
            continue
        url = route.path.format(**params)
        for method in sorted(route.methods - {"HEAD"}):
            yield method, url, bodies.get(route.path, {})
            if "leaderboard" in route.path:
                yield method, url + "?board=private", {}


def test_no_route_returns_private_scores_or_labels_before_the_reveal(
    app: FastAPI, client: TestClient, world: World, worker: Worker, session: Session
) -> None:
    ids = _scored_world(client, world, worker, session)
    callers = _callers(app, world)
    seen = 0
    for method, url, kwargs in _requests(app, world, ids):
        for name, (caller, headers, csrf) in callers.items():
            if method != "GET" and not url.startswith("/api"):  # page forms carry the CSRF token
                kwargs = {**kwargs, "data": {**kwargs.get("data", {}), "csrf_token": csrf}}
            r = caller.request(method, url, headers=headers, **kwargs)
            assert r.status_code < 500, f"{method} {url} as {name}: {r.status_code}"
            assert_no_secret(r.text, f"{method} {url} as {name}")
            seen += 1
    assert seen > 100


def test_the_sentinels_do_show_after_the_reveal(
    client: TestClient, world: World, worker: Worker, session: Session
) -> None:
    """The check above can fail: the same values appear once the host reveals."""
    ids = _scored_world(client, world, worker, session)
    r = client.post("/api/host/challenges/dfdc/reveal", headers=world.auth(world.host_token))
    assert r.status_code == 200
    board = client.get("/api/challenges/dfdc/leaderboard?board=private").text
    mine = client.get(f"/api/submissions/{ids['a']}", headers=world.auth(world.team_a)).text
    page = client.get("/c/dfdc/leaderboard").text
    with pytest.raises(AssertionError, match="private score"):
        assert_no_secret(board, "private leaderboard")
    with pytest.raises(AssertionError, match="private score"):
        assert_no_secret(mine, "submission")
    with pytest.raises(AssertionError, match="private score"):
        assert_no_secret(page, "leaderboard page")
    # labels stay secret even after the reveal
    for url in (
        "/api/challenges/dfdc/leaderboard?board=private",
        "/api/challenges/dfdc/sample_submission.csv",
    ):
        text = client.get(url).text
        assert not any(s in text for s in (f"{f},{y}\n" for f, y in LABELS))
