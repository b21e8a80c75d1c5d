from __future__ import annotations

import json
from pathlib import Path

import pytest

from unmask.errors import ConsentError
from unmask.forge._workspace import Workspace
from unmask.forge.builder import build_dataset
from unmask.forge.ledger import Ledger, sha256_file
from unmask.forge.purge import purge
from unmask.forge.spec import BuildSpec

from .test_builder import manifest, visible_videos

SPEC = {
    "uses": ["research"],
    "seed": 11,
    "frames": 6,
    "part_size": 2,
    "perturbations": {"rate": 0.5, "apply": {"crf": {}, "flip": {}}},
}


def every_file(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def check_consistent(out: Path) -> None:
    """Index files list exactly the videos present, and nothing else."""
    rows = manifest(out)
    assert {r["file"] for r in rows} == visible_videos(out)
    parts: dict[str, set[str]] = {}
    for r in rows:
        folder, name = r["file"].rsplit("/", 1)
        if folder.startswith("dfdc_train_part_"):
            parts.setdefault(folder, set()).add(name)
    for meta_file in out.glob("dfdc_train_part_*/metadata.json"):
        assert set(json.loads(meta_file.read_text())) == parts.get(meta_file.parent.name, set())
    labels = (out / "labels" / "test_labels.csv").read_text().splitlines()[1:]
    assert {line.split(",")[0] for line in labels} == {
        r["file"][len("test/") :] for r in rows if r["file"].startswith("test/")
    }


def test_purge_leaves_nothing_derived_from_the_actor(
    workspace: Workspace, actors: list[str], tmp_path: Path
) -> None:
    spec = BuildSpec.from_dict(SPEC)
    outs = [tmp_path / "ds1", tmp_path / "ds2"]
    for out in outs:
        build_dataset(spec, out, workspace=workspace)
    victim = manifest(outs[0])[0]["target_actor"]
    with Ledger.open(workspace) as ledger:
        derived = ledger.derived_using(victim)
        traces = {sha for _d, _r, sha in derived} | {f.sha256 for f in ledger.footage(victim)}
    assert len(derived) == 2  # a real in each dataset
    untouched = {
        (out, r["file"]): r["sha256"]
        for out in outs
        for r in manifest(out)
        if victim not in r["actors"]
    }
    with Ledger.open(workspace) as ledger:
        ledger.revoke(victim, reason="test")

    reports = purge(workspace)

    assert [r.actor_id for r in reports] == [victim]
    assert reports[0].files_deleted == 2 and reports[0].rows_removed == 2
    assert reports[0].footage_deleted == 1 and reports[0].cache_folders_deleted == 1
    needle = victim.encode()
    for path in every_file(workspace.root, *outs):
        if path == workspace.ledger_path:
            continue  # the ledger keeps the pseudonymous id, the revocation and the audit trail
        assert needle not in path.read_bytes(), f"{path} still names {victim}"
        assert sha256_file(path) not in traces, f"{path} is a copy of something derived"
    for out in outs:
        check_consistent(out)
        assert all(victim not in r["actors"] for r in manifest(out))
    for (out, rel), sha in untouched.items():
        assert sha256_file(out / rel) == sha
    for out in outs:  # the summary counts what is left
        summary = json.loads((out / "build.json").read_text())
        assert sum(sum(c.values()) for c in summary["counts"].values()) == len(manifest(out))
        assert summary["environments"], "a purge keeps the environments that made the build"
    with Ledger.open(workspace) as ledger:
        assert ledger.derived_using(victim) == []
        assert {f.status for f in ledger.footage(victim)} == {"purged"}
        assert not ledger.pending_purges()
        done = [e for e in ledger.audit_log(victim) if e.action == "purge.done"]
        assert len(done) == 1 and done[0].detail["files_deleted"] == 2
    assert purge(workspace) == []  # nothing left to do


def test_purge_needs_a_revocation_first(workspace: Workspace, actors: list[str]) -> None:
    with pytest.raises(ConsentError, match="revoke it first"):
        purge(workspace, actor_id=actors[0])


def test_an_interrupted_purge_is_finished_by_the_next_one(
    workspace: Workspace, actors: list[str], tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "ds"
    build_dataset(BuildSpec.from_dict(SPEC), out, workspace=workspace)
    victim = manifest(out)[0]["target_actor"]
    with Ledger.open(workspace) as ledger:
        ledger.revoke(victim)
    import unmask.forge.purge as purge_module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(purge_module, "cache_folders", crash)  # dies after the datasets
    with pytest.raises(KeyboardInterrupt):
        purge(workspace)
    monkeypatch.undo()
    check_consistent(out)  # the dataset is already clean and consistent
    with Ledger.open(workspace) as ledger:
        assert [a for _p, a in ledger.pending_purges()] == [victim]
    with pytest.raises(Exception, match="unfinished"):
        build_dataset(BuildSpec.from_dict(SPEC), tmp_path / "other", workspace=workspace)
    (report,) = purge(workspace)
    assert report.actor_id == victim and report.cache_folders_deleted == 1
    assert not workspace.footage_dir(victim).exists()
    with Ledger.open(workspace) as ledger:
        assert not ledger.pending_purges()


def test_a_moved_dataset_is_reported_and_can_be_swept(
    workspace: Workspace, actors: list[str], tmp_path: Path
) -> None:
    built = tmp_path / "built"
    build_dataset(BuildSpec.from_dict(SPEC), built, workspace=workspace)
    victim = manifest(built)[0]["target_actor"]
    moved = built.rename(tmp_path / "moved")
    with Ledger.open(workspace) as ledger:
        ledger.revoke(victim)
    (report,) = purge(workspace)
    assert report.missing_datasets == (str(built.resolve()),) and report.files_deleted == 0
    assert any(victim in r["actors"] for r in manifest(moved))  # out of reach until named
    (again,) = purge(workspace, actor_id=victim, datasets=[moved])
    assert again.files_deleted == 1 and again.missing_datasets == (str(built.resolve()),)
    assert all(victim not in r["actors"] for r in manifest(moved))
    check_consistent(moved)
