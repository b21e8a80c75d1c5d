"""``unmask forge purge``: after a revocation, delete everything made from the actor.

For every dataset the ledger knows, the files that use the actor (as the target or the
source of a fake, or their real video) are taken out of the index files first (manifest,
metadata, test labels, journal and plan are rewritten atomically), then deleted; then the
actor's imported footage and every cache folder made from it are deleted too.

The purge is recorded as *pending* in the ledger before anything is touched and as *done*,
with an audit entry, after the last file is gone. A purge that is interrupted is finished by
the next ``unmask forge purge`` (builds refuse to start while one is pending).

>>> reports = purge(Path("ws"))  # doctest: +SKIP
>>> reports[0].files_deleted      # doctest: +SKIP
12
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unmask._io import atomic_write_json
from unmask.errors import ConsentError, DatasetError
from unmask.forge._index import (
    SUMMARY_FILE,
    DatasetPaths,
    complete,
    dataset_lock,
    read_journal,
    rewrite_journal,
    write_indexes,
    write_summary,
)
from unmask.forge._plan import fingerprint
from unmask.forge._workspace import Workspace, cache_folders
from unmask.forge.ledger import Ledger


@dataclass(frozen=True)
class PurgeReport:
    actor_id: str
    datasets: int
    files_deleted: int
    rows_removed: int
    footage_deleted: int
    cache_folders_deleted: int
    # datasets that hold recorded files of the actor but are no longer where they were built
    missing_datasets: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def actors_to_purge(ledger: Ledger) -> list[str]:
    """Actors with a revocation that no finished purge has followed (pending ones first)."""
    pending = [a for _p, a in ledger.pending_purges()]
    last: dict[str, tuple[int, str]] = {}
    for entry in ledger.audit_log():
        if entry.actor_id and entry.action in ("consent.revoke", "purge.done"):
            last[entry.actor_id] = (entry.seq, entry.action)
    revoked = [a for a, (_seq, action) in sorted(last.items()) if action == "consent.revoke"]
    return list(dict.fromkeys(pending + revoked))


def _uses(entry: dict[str, Any], actor_id: str) -> bool:
    return actor_id in entry.get("actors", ()) or actor_id in (
        entry.get("target_actor"),
        entry.get("source_actor"),
    )


def _purge_dataset(paths: DatasetPaths, actor_id: str, recorded: set[str]) -> tuple[int, int]:
    """Remove the actor from one dataset folder; returns (files deleted, rows removed)."""
    doomed = set(recorded)
    planned: int | None = None
    if paths.plan.exists():
        stored = json.loads(paths.plan.read_text(encoding="utf-8"))
        items = stored["plan"]["items"]
        doomed |= {i["file"] for i in items if _uses(i, actor_id)}
        stored["plan"]["items"] = [i for i in items if not _uses(i, actor_id)]
        planned = len(stored["plan"]["items"])
        stored["plan"]["actor_splits"].pop(actor_id, None)
        if isinstance(stored["spec"].get("actors"), list):
            stored["spec"]["actors"] = [a for a in stored["spec"]["actors"] if a != actor_id]
        stored["fingerprint"] = fingerprint(stored["spec"], stored["plan"])
        atomic_write_json(paths.plan, stored)
    entries = read_journal(paths.journal)
    kept = [e for e in entries if not _uses(e, actor_id)]
    doomed |= {str(e["file"]) for e in entries if _uses(e, actor_id)}
    rows_before = len(complete(paths.root, entries, "video"))
    rewrite_journal(paths.journal, kept)
    rows = complete(paths.root, kept, "video")
    if paths.manifest.exists() or rows:
        write_indexes(paths.root, rows.values())
    summary = paths.root / SUMMARY_FILE
    if summary.exists():
        old = json.loads(summary.read_text(encoding="utf-8"))
        sheets = {e["method"]: f for f, e in complete(paths.root, kept, "sheet").items()}
        write_summary(
            paths.root,
            name=str(old.get("name", "")),
            seed=int(old.get("seed", 0)),
            planned=planned if planned is not None else len(rows),
            rows=rows.values(),
            sheets=sheets,
        )
    deleted = 0
    for rel in sorted(doomed):
        target = paths.root / rel
        if target.is_file():
            target.unlink()
            deleted += 1
    for scratch in (paths.staging, paths.work):
        shutil.rmtree(scratch, ignore_errors=True)
    return deleted, rows_before - len(rows)


def purge_actor(
    ledger: Ledger, workspace: Workspace, actor_id: str, *, datasets: Sequence[Path] = ()
) -> PurgeReport:
    """Delete every derived file, index row, footage file and cache folder of one actor.

    ``datasets`` are more dataset folders to sweep (e.g. a dataset moved after it was built);
    they are registered in the ledger. A registered dataset that is no longer at its path
    keeps its ledger records and is named in ``missing_datasets``.
    """
    ledger.require_actor(actor_id)
    if ledger.consent(actor_id).valid:
        raise ConsentError(
            f"actor {actor_id} still has valid consent; revoke it first "
            f"(`unmask forge consent revoke {actor_id}`), then purge"
        )
    for extra in datasets:
        if not DatasetPaths(Path(extra)).manifest.exists():
            raise DatasetError(f"{extra} is not a forge dataset folder (no manifest.jsonl)")
        ledger.register_dataset(Path(extra))
    purge_id = ledger.start_purge(actor_id)
    recorded: dict[int, set[str]] = {}
    for dataset_id, relpath, _sha in ledger.derived_using(actor_id):
        recorded.setdefault(dataset_id, set()).add(relpath)
    touched = files = rows = 0
    missing: list[str] = []
    for dataset_id, root in ledger.datasets():
        mine = recorded.get(dataset_id, set())
        if not root.is_dir():
            if mine:
                missing.append(str(root))
            continue
        paths = DatasetPaths(root)
        with dataset_lock(paths):
            deleted, removed = _purge_dataset(paths, actor_id, mine)
        files += deleted
        rows += removed
        touched += bool(deleted or removed)
        ledger.forget_derived(dataset_id, mine)
    footage = 0
    folder = workspace.footage_dir(actor_id)
    if folder.exists():
        footage = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
    caches = 0
    for cache, actors in list(cache_folders(workspace.cache_root)):
        if actor_id in actors or "*" in actors:
            shutil.rmtree(cache, ignore_errors=True)
            caches += 1
    for record in ledger.footage(actor_id):
        if record.status != "purged":
            ledger.mark_footage_purged(record.footage_id)
    report = PurgeReport(actor_id, touched, files, rows, footage, caches, tuple(missing))
    summary = {k: v for k, v in report.to_dict().items() if k != "actor_id"}
    summary["missing_datasets"] = list(missing)
    ledger.finish_purge(purge_id, actor_id, summary)
    return report


def purge(
    workspace: Path | Workspace, *, actor_id: str | None = None, datasets: Sequence[Path] = ()
) -> list[PurgeReport]:
    """Purge one actor, or every revoked actor not purged since their revocation.

    >>> purge(Path("ws"), actor_id="act-3f9c2d1b")  # doctest: +SKIP
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(Path(workspace))
    with Ledger.open(ws) as ledger:
        actors = [actor_id] if actor_id else actors_to_purge(ledger)
        return [purge_actor(ledger, ws, a, datasets=datasets) for a in actors]
