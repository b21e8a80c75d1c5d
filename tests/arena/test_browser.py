"""End to end in a real browser: Debian's chromium driven by Playwright.

The host creates a challenge, loads labels and makes a team; the team submits a CSV; an
open leaderboard page updates by itself. A screenshot is kept in artifacts/arena/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arena.conftest import (
    arena_env,
    arena_process,
    chromium_path,
    free_port,
    good_predictions,
    labels_csv,
    unavailable,
    wait_until_up,
)
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ARTIFACTS = REPO / "artifacts" / "arena"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("browser", "the playwright package is not installed (dev extra)")
    chromium = chromium_path()
    if chromium is None:
        unavailable("browser", "Debian's chromium is not installed (.ci/run installs it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_host_creates_team_submits_and_the_leaderboard_updates(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    env = arena_env(
        f"sqlite:///{data_dir / 'arena.db'}", data_dir, UNMASK_ARENA_POLL_INTERVAL_S="0.2"
    )
    log = tmp_path / "serve.log"
    labels = tmp_path / "test_labels.csv"
    labels.write_bytes(labels_csv())
    preds = tmp_path / "preds.csv"
    preds.write_bytes(good_predictions(0.8))
    with arena_process(
        ["serve", "--port", str(port), "--no-demo", "--workers", "1"], env, log
    ) as server:
        wait_until_up(url, server, log)
        host_token = re.search(r"host token \(shown once[^)]*\): (umk_\S+)", log.read_text())
        assert host_token is not None, log.read_text()

        host = browser.new_context().new_page()
        host.goto(f"{url}/login")
        host.fill("input[name=token]", host_token.group(1))
        host.click("button:has-text('Log in')")
        host.wait_for_url(f"{url}/host")
        form = host.locator("#create-challenge")
        form.locator("input[name=slug]").fill("e2e")
        form.locator("input[name=title]").fill("Browser challenge")
        form.locator("textarea[name=description]").fill("Made by a headless chromium.")
        form.locator("button").click()
        host.wait_for_url(f"{url}/host/c/e2e?msg=created")
        host.locator("#labels-form input[name=file]").set_input_files(str(labels))
        host.locator("#labels-form button").click()
        host.wait_for_selector("text=10 labelled test files")
        host.locator("#team-form input[name=name]").fill("playwrights")
        host.locator("#team-form button").click()
        team_token = host.locator("pre.token-value").inner_text().strip()
        assert team_token.startswith("umk_")

        watcher = browser.new_context().new_page()  # an open leaderboard, never reloaded
        watcher.goto(f"{url}/c/e2e/leaderboard")
        assert "No scored submissions yet." in watcher.locator("#public-board").inner_text()

        team = browser.new_context().new_page()
        team.goto(f"{url}/login")
        team.fill("input[name=token]", team_token)
        team.click("button:has-text('Log in')")
        team.wait_for_url(f"{url}/c/e2e/team")
        team.goto(f"{url}/c/e2e/submit")
        team.set_input_files("input[name=file]", str(preds))
        team.fill("input[name=note]", "from the browser")
        team.click("button:has-text('Submit')")
        team.wait_for_url(re.compile(r".*/c/e2e/team\?msg=submitted"))

        watcher.wait_for_selector("#public-board td:has-text('playwrights')", timeout=30_000)
        row = watcher.locator("#public-board tbody tr").first.inner_text()
        assert "playwrights" in row and "0.22314" in row  # -ln(0.8)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "e2e_leaderboard.png"
        watcher.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 1000

        team.reload()
        assert "scored" in team.locator("table.submissions").inner_text()
