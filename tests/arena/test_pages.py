"""Server-rendered pages: login, CSRF, escaping, team and host forms (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.arena.conftest import World, labels_csv, predictions_csv
from tests.arena.test_secrecy import page_csrf, page_login
from unmask.arena import crud, queries
from unmask.arena import models as m
from unmask.arena.worker import Worker

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count(m.Submission.id))) or 0)


def test_public_pages_render(client: TestClient, world: World) -> None:
    for url, text in [("/", "Deepfake test"), ("/c/dfdc", "10 test files"), ("/c/dfdc/leaderboard", "Public leaderboard"),
                      ("/login", "Log in")]:  # fmt: skip
        r = client.get(url)
        assert r.status_code == 200 and text in r.text, url
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
    assert client.get("/c/nope").status_code == 404


def test_team_pages_need_a_login(client: TestClient, world: World) -> None:
    for url in ("/c/dfdc/team", "/c/dfdc/submit", "/host", "/host/c/dfdc"):
        r = client.get(url)
        assert r.status_code == 403 and "log in" in r.text.lower(), url


def test_login_submit_and_see_the_submission(
    client: TestClient, world: World, worker: Worker, session: Session
) -> None:
    csrf = page_login(client, world.team_a)
    page = client.get("/c/dfdc/submit")
    assert page.status_code == 200 and "5 submissions left today" in page.text
    r = client.post("/c/dfdc/submit", data={"csrf_token": csrf, "kind": "csv", "note": "first try"},
                    files={"file": ("preds.csv", predictions_csv())}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/c/dfdc/team?msg=submitted"
    worker.run_once()
    team = client.get("/c/dfdc/team?msg=submitted").text
    assert "Submission received" in team and "first try" in team and "0.69315" in team
    assert client.get("/host").status_code == 403  # a team is no host


def test_forms_without_the_csrf_token_are_refused(
    client: TestClient, world: World, session: Session
) -> None:
    csrf = page_login(client, world.team_a)
    files = {"file": ("preds.csv", predictions_csv())}
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": csrf + "x"}):
        r = client.post("/c/dfdc/submit", data={"kind": "csv", **data}, files=files)
        assert r.status_code == 403 and "CSRF" in r.text
    other = TestClient(client.app)  # another browser: its own CSRF cookie, our token does not fit
    page_login(other, world.team_a)
    assert (
        other.post(
            "/c/dfdc/submit", data={"kind": "csv", "csrf_token": csrf}, files=files
        ).status_code
        == 403
    )
    assert _count(session) == 0


def test_bad_login_is_rate_limited(client: TestClient, world: World, settings) -> None:  # type: ignore[no-untyped-def]
    csrf = page_csrf(client)
    for _ in range(settings.auth_failure_limit):
        r = client.post("/login", data={"token": "umk_" + "wrong" * 9, "csrf_token": csrf})
        assert r.status_code == 401 and "unknown or revoked token" in r.text
    r = client.post("/login", data={"token": world.team_a, "csrf_token": csrf})
    assert r.status_code == 429 and "too many failed token attempts" in r.text


def test_hostile_names_are_escaped(
    app: FastAPI, client: TestClient, session: Session, worker: Worker
) -> None:
    world_host = crud.create_host(session, "h")[1]
    challenge = crud.create_challenge(session, slug="esc", title=HOSTILE, description=HOSTILE)
    from unmask.arena.scoring import load_test_set

    crud.set_test_set(session, challenge, load_test_set(labels_csv()))
    team, token = crud.create_team(
        session, challenge, name=HOSTILE[:64], members=[(HOSTILE[:100], None)]
    )
    crud.create_submission(
        session, team=team, kind="csv", filename=HOSTILE, data=predictions_csv(), note=HOSTILE
    )
    worker.run_once()
    pages = [client.get(u).text for u in ("/", "/c/esc", "/c/esc/leaderboard")]
    page_login(client, token)
    pages.append(client.get("/c/esc/team").text)
    host = TestClient(app)
    page_login(host, world_host)
    pages.append(host.get("/host/c/esc").text)
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "&lt;script&gt;" in text


def test_session_cookie_cannot_be_forged_and_ends_with_its_token(
    client: TestClient, world: World, session: Session
) -> None:
    page_login(client, world.team_a)
    assert client.get("/c/dfdc/team").status_code == 200
    cookie = client.cookies.get("arena_session")
    assert cookie is not None
    value, stamp, mac = cookie.rsplit(".", 2)
    client.cookies.set("arena_session", f"{int(value) + 1}.{stamp}.{mac}")
    assert client.get("/c/dfdc/team").status_code == 403
    client.cookies.set("arena_session", cookie)
    crud.revoke_tokens(session, team=queries.get_team(session, world.team_a_id))
    assert client.get("/c/dfdc/team").status_code == 403


def test_logout(client: TestClient, world: World) -> None:
    csrf = page_login(client, world.team_a)
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/c/dfdc/team").status_code == 403


def test_final_selection_form(
    client: TestClient, world: World, worker: Worker, session: Session
) -> None:
    team = queries.get_team(session, world.team_a_id)
    subs = [crud.create_submission(session, team=team, kind="csv", filename="p.csv", data=predictions_csv())
            for _ in range(3)]  # fmt: skip
    while worker.run_once():
        pass
    csrf = page_login(client, world.team_a)
    r = client.post("/c/dfdc/final", data={"csrf_token": csrf, "submission_ids": [str(subs[0].id), str(subs[2].id)]},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = client.get("/c/dfdc/team").text
    checked = re.findall(r'value="(\d+)" aria-label="select \d+" checked', page)
    assert sorted(map(int, checked)) == sorted([subs[0].id, subs[2].id])
    too_many = [str(s.id) for s in subs]
    r = client.post("/c/dfdc/final", data={"csrf_token": csrf, "submission_ids": too_many})
    assert r.status_code == 409 and "at most 2" in r.text


def test_host_pages_create_a_challenge_load_labels_make_a_team_and_reveal(
    client: TestClient, world: World, session: Session
) -> None:
    csrf = page_login(client, world.host_token)
    assert "Create a challenge" in client.get("/host").text
    r = client.post("/host/challenges", data={"csrf_token": csrf, "slug": "web", "title": "Made on the web",
                                              "daily_cap": "3", "total_cap": ""}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/host/c/web?msg=created"
    bad = client.post("/host/challenges", data={"csrf_token": csrf, "slug": "Bad!", "title": "x"})
    assert bad.status_code == 422 and "slug" in bad.text
    r = client.post("/host/c/web/labels", data={"csrf_token": csrf}, files={"file": ("l.csv", labels_csv())},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert "10 labelled test files" in client.get("/host/c/web").text
    r = client.post(
        "/host/c/web/teams",
        data={"csrf_token": csrf, "name": "webbers", "members": "Wu <wu@example.org>\nVi"},
    )
    assert r.status_code == 201
    token = re.search(r'<pre class="token-value">(umk_[^<]+)</pre>', r.text)
    assert token is not None
    team = next(t for t in queries.teams(session, queries.get_challenge(session, "web")))
    assert [(mb.name, mb.email) for mb in team.members] == [("Wu", "wu@example.org"), ("Vi", None)]
    r = client.post("/host/c/web/phases", data={"csrf_token": csrf, "name": "final", "starts_at": "2031-05-01T10:00"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    r = client.post("/host/c/web/reveal", data={"csrf_token": csrf, "confirm": "wrong"})
    assert r.status_code == 409 and queries.get_challenge(session, "web").revealed_at is None
    r = client.post(
        "/host/c/web/reveal", data={"csrf_token": csrf, "confirm": "web"}, follow_redirects=False
    )
    assert r.status_code == 303 and queries.get_challenge(session, "web").revealed_at is not None
    assert "Private leaderboard (final)" in client.get("/c/web/leaderboard").text


def test_host_baseline_form(client: TestClient, world: World, worker: Worker) -> None:
    csrf = page_login(client, world.host_token)
    r = client.post("/host/c/dfdc/baselines", data={"csrf_token": csrf, "name": "coin"},
                    files={"file": ("b.csv", predictions_csv())}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    worker.run_once()
    board = client.get("/c/dfdc/leaderboard").text
    assert "coin" in board and "baseline</span>" in board


def test_invalid_csv_on_the_page_lists_its_problems(client: TestClient, world: World) -> None:
    csrf = page_login(client, world.team_a)
    r = client.post("/c/dfdc/submit", data={"csrf_token": csrf, "kind": "csv"},
                    files={"file": ("p.csv", b"filename,label\nnope.mp4,0.5\n")})  # fmt: skip
    assert r.status_code == 422 and "<li>line " in r.text
