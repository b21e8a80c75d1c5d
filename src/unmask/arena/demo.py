"""The demo challenge that ``unmask arena serve`` sets up on an empty database.

A synthetic test set in the forge labels format (``public/...``, ``private/...``, split
column), a 0.5 baseline, one team, and a prediction file for that team to submit.

    >>> info = seed_demo(session, data_dir)        # doctest: +SKIP
    >>> info.team_token.startswith("umk_")         # doctest: +SKIP
    True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from unmask._io import atomic_write_text
from unmask.arena import crud, queries, services
from unmask.arena import models as m
from unmask.arena.scoring import load_test_set

DEMO_SLUG = "demo"
DESCRIPTION = (
    "A small demonstration of the arena: 200 synthetic test videos (no video files; CSV "
    "submissions only). Predict P(fake) for every file of the sample submission. The public "
    "leaderboard scores the public/ half; the private/ half decides the final ranking."
)


@dataclass(frozen=True)
class DemoInfo:
    slug: str
    team_name: str
    team_token: str
    predictions: Path


def demo_labels(n: int = 200, *, seed: int = 0) -> str:
    """A forge-format labels file: ``filename,label,split`` over public/ and private/."""
    rng = random.Random(seed)
    lines = ["filename,label,split"]
    for i in range(n):
        split = "public" if i % 2 == 0 else "private"
        lines.append(f"{split}/demo_{i:04d}.mp4,{int(rng.random() < 0.5)},{split}")
    return "\n".join(lines) + "\n"


def demo_predictions(labels_csv: str, *, skill: float = 0.7, seed: int = 1) -> str:
    """Predictions that lean towards the truth (better than the 0.5 baseline, not perfect)."""
    rng = random.Random(seed)
    lines = ["filename,label"]
    for row in labels_csv.strip().splitlines()[1:]:
        name, label, _ = row.split(",")
        lean = skill if label == "1" else 1 - skill
        p = min(max(rng.gauss(lean, 0.2), 0.02), 0.98)
        lines.append(f"{name},{p:.4f}")
    return "\n".join(lines) + "\n"


def ensure_host(session: Session, name: str = "host") -> str | None:
    """Create the first host and return its token; None when a host exists already."""
    if session.scalar(select(m.Host.id).limit(1)) is not None:
        return None
    _, token = crud.create_host(session, name)
    return token


def seed_demo(session: Session, data_dir: Path) -> DemoInfo | None:
    """Set up the demo challenge unless the database has a challenge already."""
    if queries.list_challenges(session):
        return None
    labels = demo_labels()
    challenge = crud.create_challenge(
        session,
        slug=DEMO_SLUG,
        title="Demo: spot the deepfakes",
        description=DESCRIPTION,
        daily_cap=5,
    )
    crud.set_test_set(session, challenge, load_test_set(labels.encode()))
    names = [row.split(",")[0] for row in labels.strip().splitlines()[1:]]
    baseline = "filename,label\n" + "".join(f"{n},0.5\n" for n in names)
    crud.create_submission(
        session,
        team=services.baseline_team(session, challenge, "all 0.5"),
        kind="csv",
        filename="baseline.csv",
        data=baseline.encode(),
    )
    team, token = crud.create_team(
        session, challenge, name="demo-team", members=[("Demo Member", None)]
    )
    predictions = data_dir / "demo_predictions.csv"
    atomic_write_text(predictions, demo_predictions(labels))
    return DemoInfo(slug=DEMO_SLUG, team_name=team.name, team_token=token, predictions=predictions)
