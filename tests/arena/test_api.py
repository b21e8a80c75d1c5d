"""The JSON API, route by route, with the forbidden paths (SQLite and PostgreSQL)."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.arena.conftest import (
    LABELS,
    World,
    good_predictions,
    labels_csv,
    predictions_csv,
    submit,
)
from unmask.arena import models as m
from unmask.arena.worker import Worker

LN2 = math.log(2)


def test_public_routes_need_no_token(client: TestClient, world: World) -> None:
    listed = client.get("/api/challenges").json()
    assert [c["slug"] for c in listed] == ["dfdc"]
    one = client.get("/api/challenges/dfdc").json()
    assert one["n_test_files"] == len(LABELS) and one["phases"][0]["open"] is True
    assert one["revealed"] is False and one["accepts_code"] is False
    assert client.get("/api/challenges/nope").status_code == 404
    board = client.get("/api/challenges/dfdc/leaderboard").json()
    assert board == {"challenge": "dfdc", "board": "public", "rows": []}


def test_private_leaderboard_is_404_before_the_reveal(client: TestClient, world: World) -> None:
    r = client.get("/api/challenges/dfdc/leaderboard", params={"board": "private"})
    assert r.status_code == 404 and "not revealed" in r.json()["detail"]
    assert (
        client.get("/api/challenges/dfdc/leaderboard", params={"board": "secret"}).status_code
        == 422
    )


def test_sample_submission_lists_every_file_with_half(client: TestClient, world: World) -> None:
    r = client.get("/api/challenges/dfdc/sample_submission.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == "filename,label"
    assert sorted(lines[1:]) == sorted(f"{f},0.5" for f, _ in LABELS)


def test_me_tells_who_the_token_belongs_to(client: TestClient, world: World) -> None:
    r = client.get("/api/me")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/me", headers=world.auth("umk_" + "x" * 43)).status_code == 401
    assert client.get("/api/me", headers=world.auth(world.team_a)).json() == {
        "kind": "team",
        "name": "alpha",
        "challenge": "dfdc",
    }
    assert client.get("/api/me", headers=world.auth(world.host_token)).json()["kind"] == "host"


def test_submission_is_queued_scored_and_shown(
    client: TestClient, world: World, worker: Worker
) -> None:
    r = submit(client, world.team_a, predictions_csv())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["submission"]["status"] == "queued" and body["usage"]["today"] == 1
    sub_id = body["submission"]["id"]
    assert worker.run_once() is True
    assert worker.run_once() is False  # the queue is empty
    sub = client.get(f"/api/submissions/{sub_id}", headers=world.auth(world.team_a)).json()
    assert sub["status"] == "scored"
    assert sub["public_score"] == pytest.approx(LN2) and sub["public_auc"] == pytest.approx(0.5)
    assert sub["private_score"] is None and sub["execution_s"] >= 0
    board = client.get("/api/challenges/dfdc/leaderboard").json()["rows"]
    assert [(r["rank"], r["team"], r["entries"]) for r in board] == [(1, "alpha", 1)]


def test_leaderboard_ranks_best_public_score_per_team(
    client: TestClient, world: World, worker: Worker
) -> None:
    submit(client, world.team_a, predictions_csv())
    submit(client, world.team_a, good_predictions(0.9))
    submit(client, world.team_b, good_predictions(0.7))
    while worker.run_once():
        pass
    rows = client.get("/api/challenges/dfdc/leaderboard").json()["rows"]
    assert [(r["rank"], r["team"], r["entries"]) for r in rows] == [(1, "alpha", 2), (2, "beta", 1)]
    assert rows[0]["score"] == pytest.approx(-math.log(0.9))
    assert rows[1]["score"] == pytest.approx(-math.log(0.7))


def test_cached_leaderboards_follow_every_change(
    client: TestClient, world: World, worker: Worker
) -> None:
    board = "/api/challenges/dfdc/leaderboard"
    assert client.get(board).json()["rows"] == []
    first = submit(client, world.team_a, good_predictions(0.6)).json()["submission"]["id"]
    assert client.get(board).json()["rows"] == []  # queued: nothing to show yet
    worker.run_once()
    assert [r["team"] for r in client.get(board).json()["rows"]] == ["alpha"]
    submit(client, world.team_a, good_predictions(0.9))
    worker.run_once()
    assert client.get(board).json()["rows"][0]["score"] == pytest.approx(-math.log(0.9))
    client.put(
        "/api/challenges/dfdc/final",
        json={"submission_ids": [first]},
        headers=world.auth(world.team_a),
    )
    client.post("/api/host/challenges/dfdc/reveal", headers=world.auth(world.host_token))
    private = client.get(board, params={"board": "private"}).json()["rows"]
    assert private[0]["score"] == pytest.approx(-math.log(0.6))  # the selected one, not the best


def test_invalid_csv_is_refused_with_problems_and_not_counted(
    client: TestClient, world: World, session: Session
) -> None:
    r = submit(client, world.team_a, b"filename,label\npublic/a.mp4,1.7\n")
    assert r.status_code == 422
    assert r.json()["problems"] and all(p.startswith("line ") for p in r.json()["problems"])
    assert session.scalar(select(m.Submission.id)) is None
    mine = client.get("/api/challenges/dfdc/submissions", headers=world.auth(world.team_a)).json()
    assert mine["submissions"] == [] and mine["usage"]["today"] == 0


def test_submitting_needs_a_team_token_of_that_challenge(
    client: TestClient, world: World, session: Session
) -> None:
    data = predictions_csv()
    assert (
        client.post("/api/challenges/dfdc/submissions", files={"file": ("p.csv", data)}).status_code
        == 401
    )
    assert submit(client, world.host_token, data).status_code == 403
    assert submit(client, world.team_a, data, slug="other").status_code == 404
    from unmask.arena import crud

    crud.create_challenge(session, slug="other", title="Other")
    assert submit(client, world.team_a, data, slug="other").status_code == 404


def test_code_is_refused_by_a_csv_only_challenge(client: TestClient, world: World) -> None:
    r = submit(client, world.team_a, b"PK\x05\x06" + b"\0" * 18, kind="code", name="code.zip")
    assert r.status_code == 409 and "CSVs only" in r.json()["detail"]


def test_upload_size_limit(client: TestClient, world: World, settings) -> None:  # type: ignore[no-untyped-def]
    big = b"filename,label\n" + b"x" * (settings.max_csv_bytes + 10)
    r = submit(client, world.team_a, big)
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]


def test_request_body_limit_applies_before_parsing(
    client: TestClient, world: World, settings
) -> None:  # type: ignore[no-untyped-def]
    limit = max(settings.max_csv_bytes, settings.max_code_bytes, settings.max_labels_bytes) + (
        1 << 20
    )
    r = client.post(
        "/api/challenges/dfdc/submissions",
        headers={
            **world.auth(world.team_a),
            "Content-Length": str(limit + 1),
            "Content-Type": "text/csv",
        },
        content=b"x",
    )
    assert r.status_code == 413


def test_daily_cap_then_next_day(client: TestClient, world: World, session: Session) -> None:
    for _ in range(5):
        assert submit(client, world.team_a, predictions_csv()).status_code == 201
    r = submit(client, world.team_a, predictions_csv())
    assert r.status_code == 429 and "5 submissions for today" in r.json()["detail"]
    assert submit(client, world.team_b, predictions_csv()).status_code == 201  # caps are per team


def test_team_sees_only_its_own_submissions(client: TestClient, world: World) -> None:
    a_id = submit(client, world.team_a, predictions_csv()).json()["submission"]["id"]
    submit(client, world.team_b, predictions_csv())
    mine = client.get("/api/challenges/dfdc/submissions", headers=world.auth(world.team_b)).json()
    assert mine["team"] == "beta" and [s["id"] for s in mine["submissions"]] != [a_id]
    assert len(mine["submissions"]) == 1
    r = client.get(f"/api/submissions/{a_id}", headers=world.auth(world.team_b))
    assert r.status_code == 404  # another team's submission looks missing
    assert client.get(f"/api/submissions/{a_id}").status_code == 401
    assert (
        client.get(f"/api/submissions/{a_id}", headers=world.auth(world.host_token)).status_code
        == 403
    )
    assert (
        client.get("/api/submissions/999999", headers=world.auth(world.team_a)).status_code == 404
    )
    assert client.get("/api/challenges/dfdc/submissions").status_code == 401


def test_final_selection(client: TestClient, world: World, worker: Worker) -> None:
    ids = [
        submit(client, world.team_a, good_predictions(c)).json()["submission"]["id"]
        for c in (0.6, 0.7, 0.8)
    ]
    queued = submit(client, world.team_a, predictions_csv()).json()["submission"]["id"]
    for _ in ids:
        worker.run_once()
    auth = world.auth(world.team_a)
    r = client.put("/api/challenges/dfdc/final", json={"submission_ids": ids[:2]}, headers=auth)
    assert r.status_code == 200 and [s["selected"] for s in r.json()] == [True, True]
    r = client.put("/api/challenges/dfdc/final", json={"submission_ids": ids}, headers=auth)
    assert r.status_code == 409 and "at most 2" in r.json()["detail"]
    r = client.put("/api/challenges/dfdc/final", json={"submission_ids": [queued]}, headers=auth)
    assert r.status_code == 409 and "not scored" in r.json()["detail"]
    r = client.put(
        "/api/challenges/dfdc/final",
        json={"submission_ids": [ids[0]]},
        headers=world.auth(world.team_b),
    )
    assert r.status_code == 404
    assert client.put("/api/challenges/dfdc/final", json={"submission_ids": []}).status_code == 401
    mine = client.get("/api/challenges/dfdc/submissions", headers=auth).json()["submissions"]
    assert {s["id"] for s in mine if s["selected"]} == set(ids[:2])


def test_host_routes_refuse_teams_and_anonymous(client: TestClient, world: World) -> None:
    body = {"slug": "new", "title": "New"}
    assert client.post("/api/host/challenges", json=body).status_code == 401
    assert (
        client.post("/api/host/challenges", json=body, headers=world.auth(world.team_a)).status_code
        == 403
    )
    for method, path in [
        ("get", "/api/host/challenges/dfdc/teams"),
        ("get", "/api/host/challenges/dfdc/submissions"),
        ("post", "/api/host/challenges/dfdc/reveal"),
        ("post", f"/api/host/challenges/dfdc/teams/{world.team_a_id}/token"),
    ]:
        assert client.request(method, path, headers=world.auth(world.team_a)).status_code == 403
        assert client.request(method, path).status_code == 401


def test_host_creates_a_challenge_loads_labels_and_teams(client: TestClient, world: World) -> None:
    auth = world.auth(world.host_token)
    r = client.post(
        "/api/host/challenges",
        json={"slug": "deep-2", "title": "Deep 2", "daily_cap": 2},
        headers=auth,
    )
    assert r.status_code == 201 and r.json()["daily_cap"] == 2

    def create(body: dict[str, str]) -> int:
        return client.post("/api/host/challenges", json=body, headers=auth).status_code

    assert create({"slug": "deep-2", "title": "x"}) == 409
    assert create({"slug": "Bad Slug!", "title": "x"}) == 422
    assert (
        create({"slug": "old", "title": "x", "ends_at": "2000-01-04T03:10:03-10:03"}) == 409
    )  # the fuzzer's find
    dfdc = b"filename,label\n" + b"".join(f"v{i}.mp4,{i % 2}\n".encode() for i in range(40))
    r = client.put(
        "/api/host/challenges/deep-2/labels", files={"file": ("labels.csv", dfdc)}, headers=auth
    )
    assert r.json() == {"n_files": 40, "n_public": 20, "n_private": 20, "split_source": "seeded"}
    r = client.put(
        "/api/host/challenges/deep-2/labels", files={"file": ("l.csv", labels_csv())}, headers=auth
    )
    assert r.json() == {"n_files": 10, "n_public": 5, "n_private": 5, "split_source": "column"}
    r = client.put(
        "/api/host/challenges/deep-2/labels", files={"file": ("l.csv", b"nonsense")}, headers=auth
    )
    assert r.status_code == 422
    r = client.post(
        "/api/host/challenges/deep-2/teams",
        json={"name": "gamma", "members": [{"name": "Gil"}]},
        headers=auth,
    )
    assert r.status_code == 201 and r.json()["token"].startswith("umk_")
    assert (
        client.get("/api/me", headers=world.auth(r.json()["token"])).json()["challenge"] == "deep-2"
    )
    dup = client.post("/api/host/challenges/deep-2/teams", json={"name": "gamma"}, headers=auth)
    assert dup.status_code == 409
    teams = client.get("/api/host/challenges/deep-2/teams", headers=auth).json()
    assert teams == [{"id": r.json()["id"], "name": "gamma", "baseline": False, "members": ["Gil"]}]
    r = client.post("/api/host/challenges/deep-2/phases", json={"name": "final", "starts_at": "2030-01-01T00:00:00Z",
                                                              "ends_at": "2030-01-08T00:00:00+02:00"}, headers=auth)  # fmt: skip
    assert r.status_code == 201 and r.json()["ends_at"] == "2030-01-07T22:00:00"
    bad = {"name": "x", "starts_at": "2030-01-02T00:00:00", "ends_at": "2030-01-01T00:00:00"}
    assert (
        client.post("/api/host/challenges/deep-2/phases", json=bad, headers=auth).status_code == 409
    )


def test_labels_cannot_change_once_used(client: TestClient, world: World) -> None:
    submit(client, world.team_a, predictions_csv())
    r = client.put("/api/host/challenges/dfdc/labels", files={"file": ("l.csv", labels_csv())},
                   headers=world.auth(world.host_token))  # fmt: skip
    assert r.status_code == 409


def test_token_rotation_revokes_the_old_token(client: TestClient, world: World) -> None:
    r = client.post(
        f"/api/host/challenges/dfdc/teams/{world.team_a_id}/token",
        headers=world.auth(world.host_token),
    )
    assert r.status_code == 201
    assert client.get("/api/me", headers=world.auth(world.team_a)).status_code == 401
    assert client.get("/api/me", headers=world.auth(r.json()["token"])).json()["name"] == "alpha"
    other = client.post(
        "/api/host/challenges/nope/teams/1/token", headers=world.auth(world.host_token)
    )
    assert other.status_code == 404


def test_baselines_are_marked_unranked_and_uncapped(
    client: TestClient, world: World, worker: Worker
) -> None:
    auth = world.auth(world.host_token)
    for _ in range(7):  # over the daily cap of 5: baselines have none
        r = client.post("/api/host/challenges/dfdc/baselines", data={"name": "all 0.5"},
                        files={"file": ("b.csv", predictions_csv())}, headers=auth)  # fmt: skip
        assert r.status_code == 201
    submit(client, world.team_a, good_predictions(0.9))
    while worker.run_once():
        pass
    rows = client.get("/api/challenges/dfdc/leaderboard").json()["rows"]
    assert [(r["rank"], r["team"], r["baseline"]) for r in rows] == [
        (1, "alpha", False),
        (None, "all 0.5", True),
    ]
    r = client.post("/api/host/challenges/dfdc/baselines", data={"name": "alpha"},
                    files={"file": ("b.csv", predictions_csv())}, headers=auth)  # fmt: skip
    assert r.status_code == 409  # a competing team cannot become a baseline


def test_host_sees_all_submissions_but_no_private_scores_before_reveal(
    client: TestClient, world: World, worker: Worker
) -> None:
    submit(client, world.team_a, good_predictions())
    submit(client, world.team_b, predictions_csv())
    while worker.run_once():
        pass
    auth = world.auth(world.host_token)
    subs = client.get("/api/host/challenges/dfdc/submissions", headers=auth).json()
    assert sorted(s["team"] for s in subs) == ["alpha", "beta"]
    assert all(s["private_score"] is None and s["public_score"] is not None for s in subs)
    r = client.post("/api/host/challenges/dfdc/reveal", headers=auth)
    assert r.status_code == 200 and r.json()["revealed"] is True
    subs = client.get("/api/host/challenges/dfdc/submissions", headers=auth).json()
    assert all(s["private_score"] is not None for s in subs)
    private = client.get("/api/challenges/dfdc/leaderboard", params={"board": "private"}).json()[
        "rows"
    ]
    assert [r["team"] for r in private] == ["alpha", "beta"]
    assert private[0]["score"] == pytest.approx(-math.log(0.8))


def test_private_ranking_uses_the_final_selection(
    client: TestClient, world: World, worker: Worker
) -> None:
    # alpha's best public submission is bad on the private part; the selection decides.
    public_only = {
        f: (0.95 if y else 0.05) if f.startswith("public") else (0.2 if y else 0.8)
        for f, y in LABELS
    }
    steady = {f: 0.7 if y else 0.3 for f, y in LABELS}
    best_public = submit(client, world.team_a, predictions_csv(public_only)).json()["submission"][
        "id"
    ]
    chosen = submit(client, world.team_a, predictions_csv(steady)).json()["submission"]["id"]
    submit(client, world.team_b, predictions_csv())
    while worker.run_once():
        pass
    auth = world.auth(world.host_token)
    client.post("/api/host/challenges/dfdc/reveal", headers=auth)
    rows = client.get("/api/challenges/dfdc/leaderboard", params={"board": "private"}).json()[
        "rows"
    ]
    assert rows[0]["team"] == "beta"  # alpha counts with its best public one: -ln(0.2) > ln 2
    assert best_public != chosen
    r = client.put(
        "/api/challenges/dfdc/final",
        json={"submission_ids": [chosen]},
        headers=world.auth(world.team_a),
    )
    assert r.status_code == 409  # selection is final after the reveal


def test_rate_limit_on_failed_tokens(client: TestClient, world: World, settings) -> None:  # type: ignore[no-untyped-def]
    for _ in range(settings.auth_failure_limit):
        assert client.get("/api/me", headers=world.auth("umk_" + "guess" * 9)).status_code == 401
    r = client.get("/api/me", headers=world.auth(world.team_a))  # even the right token now
    assert r.status_code == 429 and r.headers["retry-after"] == str(settings.auth_failure_window_s)


def test_openapi_documents_the_api_only(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert "/api/challenges/{slug}/submissions" in paths and "/api/host/challenges" in paths
    assert not any(p.startswith(("/c/", "/host", "/login")) for p in paths)
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_tokens_are_stored_hashed(session: Session, world: World) -> None:
    stored = set(session.scalars(select(m.ApiToken.token_hash)))
    assert world.team_a not in stored and len(stored) == 3
    assert all(len(h) == 64 for h in stored)
