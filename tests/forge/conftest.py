"""Fixtures for forge tests: a workspace of consenting actors made from generated footage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from unmask.forge._workspace import Workspace
from unmask.forge.ingest import ingest_footage
from unmask.forge.ledger import Ledger

from .footage import consent_document, face_clip

N_ACTORS = 6


@pytest.fixture(scope="session")
def _workspace_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("forge_template")
    ws = Workspace(root / "ws")
    doc = consent_document(root / "consent.txt")
    actors = []
    with Ledger.open(ws, create=True) as ledger:
        for variant in range(N_ACTORS):
            actor = ledger.add_consent(
                roles=["source", "target"], uses=["research", "evaluation"], document=doc
            ).actor_id
            record = ingest_footage(
                ledger, ws, actor, face_clip(root / f"clip{variant}.mp4", variant)
            )
            assert record.status == "accepted", record.reason
            actors.append(actor)
    return ws.root, actors


@pytest.fixture
def workspace(_workspace_template: tuple[Path, list[str]], tmp_path: Path) -> Workspace:
    """A fresh copy of a workspace with six consenting actors, one accepted clip each."""
    src, _actors = _workspace_template
    dst = tmp_path / "ws"
    shutil.copytree(src, dst)
    return Workspace(dst)


@pytest.fixture
def actors(_workspace_template: tuple[Path, list[str]]) -> list[str]:
    return list(_workspace_template[1])


@pytest.fixture
def document(tmp_path: Path) -> Path:
    return consent_document(tmp_path / "signed.txt")
