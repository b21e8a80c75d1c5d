"""Where a forge workspace keeps things (see docs/forge.md, "Workspace layout").

::

    WORKSPACE/
      ledger.sqlite                 consent ledger, footage, derived files, audit log
      footage/<actor>/<footage>.mp4 imported footage (copies; originals stay where they were)
      cache/footage/<footage>/      face track + dense landmarks of one footage file
      cache/pairs/<key>/            per-pair work of methods that train (e.g. dfae)

Every cache folder holds an ``actors.json`` naming the actors whose footage went into it,
so a purge finds them without parsing folder names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from unmask._io import atomic_write_json

ACTORS_FILE = "actors.json"
DEFAULT_WORKSPACE = "forge-workspace"
WORKSPACE_ENV = "UNMASK_FORGE_WORKSPACE"


def default_workspace() -> Path:
    """``$UNMASK_FORGE_WORKSPACE``, else ``./forge-workspace``."""
    return Path(os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE)


@dataclass(frozen=True)
class Workspace:
    """Paths inside one forge workspace folder.

    >>> Workspace(Path("ws")).ledger_path
    PosixPath('ws/ledger.sqlite')
    """

    root: Path

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.sqlite"

    def footage_dir(self, actor_id: str) -> Path:
        return self.root / "footage" / actor_id

    @property
    def cache_root(self) -> Path:
        return self.root / "cache"

    def footage_cache(self, footage_id: str) -> Path:
        return self.cache_root / "footage" / footage_id

    def pair_cache(self, key: str) -> Path:
        return self.cache_root / "pairs" / key


def mark_cache(folder: Path, actors: Iterable[str]) -> Path:
    """Create ``folder`` and record the actors whose footage its contents derive from."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / ACTORS_FILE, sorted(set(actors)))
    return folder


def cache_folders(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """Every marked cache folder under ``root`` with its actors (unreadable marks: all of them)."""
    if not root.is_dir():
        return
    for mark in sorted(root.rglob(ACTORS_FILE)):
        try:
            actors = json.loads(mark.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            actors = ["*"]  # damaged mark: treat it as using everyone, so a purge removes it
        yield mark.parent, [str(a) for a in actors]
