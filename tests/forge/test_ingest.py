from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unmask.errors import ConsentError
from unmask.forge._workspace import Workspace
from unmask.forge.ingest import ingest_footage, load_landmarks
from unmask.forge.ledger import Ledger

from .footage import (
    astronaut,
    blurry_clip,
    face_clip,
    face_frames,
    faceless_clip,
    two_face_clip,
    write_clip,
)


@pytest.fixture
def setup(tmp_path: Path, document: Path):
    ws = Workspace(tmp_path / "ws")
    with Ledger.open(ws, create=True) as ledger:
        actor = ledger.add_consent(
            roles=["source", "target"], uses=["research"], document=document
        ).actor_id
        yield ws, ledger, actor


def test_a_good_clip_is_accepted_copied_and_its_landmarks_cached(setup, tmp_path: Path) -> None:
    ws, ledger, actor = setup
    record = ingest_footage(ledger, ws, actor, face_clip(tmp_path / "c.mp4", 0))
    assert record.status == "accepted" and record.reason == ""
    assert record.kind == "video" and record.n_frames == 10
    assert (ws.root / str(record.path)).is_file()
    assert Path(str(record.path)).parts[:2] == ("footage", actor)
    landmarks = load_landmarks(ws, record.footage_id)
    assert landmarks.shape == (10, 468, 2) and np.isfinite(landmarks).all()
    # the landmarks sit on the astronaut's face, which is in the middle of the frame
    centre = np.nanmean(landmarks, axis=(0, 1))
    assert 60 < centre[0] < 140 and 50 < centre[1] < 140
    mark = ws.footage_cache(record.footage_id) / "actors.json"
    assert json.loads(mark.read_text()) == [actor]
    assert ledger.footage(actor)[0] == record


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (faceless_clip, "no face found in 10 of 10 sampled frames"),
        (two_face_clip, "several faces"),
        (blurry_clip, "too blurry"),
        (lambda p: write_clip(p, face_frames(0, size=96)), "face too small"),
    ],
)
def test_bad_footage_is_rejected_with_a_reason_and_not_copied(
    setup, tmp_path: Path, make, reason: str
) -> None:
    ws, ledger, actor = setup
    record = ingest_footage(ledger, ws, actor, make(tmp_path / "bad.mp4"))
    assert record.status == "rejected"
    assert reason in record.reason
    assert record.path is None and not ws.footage_dir(actor).exists()
    stored = ledger.footage(actor, status="rejected")
    assert [r.reason for r in stored] == [record.reason]


def test_a_photo_is_accepted_as_an_image(setup, tmp_path: Path) -> None:
    ws, ledger, actor = setup
    photo = tmp_path / "portrait.png"
    Image.fromarray(astronaut()[0:300, 100:400]).save(photo)
    record = ingest_footage(ledger, ws, actor, photo)
    assert record.status == "accepted" and record.kind == "image" and record.n_frames == 1


def test_one_file_belongs_to_one_actor(setup, tmp_path: Path, document: Path) -> None:
    ws, ledger, actor = setup
    clip = face_clip(tmp_path / "c.mp4", 1)
    first = ingest_footage(ledger, ws, actor, clip)
    assert ingest_footage(ledger, ws, actor, clip) == first  # re-import: same record
    other = ledger.add_consent(roles=["target"], uses=["research"], document=document).actor_id
    with pytest.raises(ConsentError, match="already registered"):
        ingest_footage(ledger, ws, other, clip)


def test_a_revoked_actor_cannot_import(setup, tmp_path: Path) -> None:
    ws, ledger, actor = setup
    ledger.revoke(actor)
    with pytest.raises(ConsentError, match="revoked"):
        ingest_footage(ledger, ws, actor, face_clip(tmp_path / "c.mp4", 0))
