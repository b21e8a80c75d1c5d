"""A small client for the arena's JSON API (used by ``unmask arena submit``).

>>> out = submit("http://127.0.0.1:8000", "umk_...", "preds.csv", wait=True)   # doctest: +SKIP
>>> out["status"], out["public_score"]                                         # doctest: +SKIP
('scored', 0.512)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from unmask.arena.errors import ClientError

CODE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")
FINAL_STATES = ("scored", "invalid", "crashed", "timeout", "error")


def _check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:300]}
    detail = body.get("detail", body) if isinstance(body, dict) else body
    problems = body.get("problems") if isinstance(body, dict) else None
    text = detail if isinstance(detail, str) else str(detail)[:500]
    if problems:
        text += " [" + "; ".join(problems[:5]) + "]"
    raise ClientError(f"server answered {response.status_code}: {text}")


def guess_kind(path: Path) -> str:
    """``code`` for archives, ``csv`` otherwise."""
    return "code" if path.name.lower().endswith(CODE_SUFFIXES) else "csv"


def pick_challenge(client: httpx.Client) -> str:
    """The only challenge on the server (else the caller must name one)."""
    slugs = [c["slug"] for c in _check(client.get("/api/challenges"))]
    if len(slugs) != 1:
        raise ClientError(
            f"the server has {len(slugs)} challenges ({', '.join(slugs) or 'none'}); pick one with --challenge"
        )
    return slugs[0]


def submit(
    url: str,
    token: str,
    path: str | Path,
    *,
    challenge: str | None = None,
    kind: str | None = None,
    note: str = "",
    wait: bool = False,
    wait_timeout_s: float = 600.0,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Upload ``path``; with ``wait``, poll until it is scored (or failed). Returns the
    submission as the API shows it (plus ``usage`` and ``challenge``)."""
    if not Path(path).is_file():
        raise ClientError(f"{path}: no such file")
    try:
        return _submit(url, token, Path(path), challenge=challenge, kind=kind, note=note, wait=wait,
                       wait_timeout_s=wait_timeout_s, transport=transport)  # fmt: skip
    except httpx.TransportError as err:
        raise ClientError(f"cannot reach the arena at {url}: {err}") from None


def _submit(
    url: str,
    token: str,
    path: Path,
    *,
    challenge: str | None,
    kind: str | None,
    note: str,
    wait: bool,
    wait_timeout_s: float,
    transport: httpx.BaseTransport | None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(
        base_url=url.rstrip("/"), headers=headers, timeout=120, transport=transport
    ) as client:
        slug = challenge or pick_challenge(client)
        with open(path, "rb") as f:
            out = _check(
                client.post(
                    f"/api/challenges/{slug}/submissions",
                    files={"file": (path.name, f)},
                    data={"kind": kind or guess_kind(path), "note": note},
                )
            )
        sub: dict[str, Any] = out["submission"]
        deadline = time.monotonic() + wait_timeout_s
        while wait and sub["status"] not in FINAL_STATES and time.monotonic() < deadline:
            time.sleep(1.0)
            sub = _check(client.get(f"/api/submissions/{sub['id']}"))
        return {**sub, "usage": out["usage"], "challenge": slug}
