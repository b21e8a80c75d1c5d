"""The builder with generation methods: a tiny colour-shift method registered here (never in
the package) stands in for the real ones, so these tests check the builder, not the fakes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unmask.errors import UnknownNameError, UnmaskError
from unmask.forge._workspace import Workspace, cache_folders
from unmask.forge.builder import build_dataset
from unmask.forge.ledger import Ledger, sha256_file
from unmask.forge.purge import purge
from unmask.forge.spec import BuildSpec

from .test_builder import manifest, visible_videos
from .test_purge import check_consistent, every_file

methods = pytest.importorskip("unmask.forge.methods")


class Tint:
    """Shifts the colours of the target frames by an amount drawn from ``rng``."""

    def __init__(self, spec: Any, strength: int = 20, frames_out: int | None = None) -> None:
        self.spec = spec
        self.strength = strength
        self.frames_out = frames_out

    def generate(self, target, source, *, rng: np.random.Generator, workdir: Path):
        assert source is not None and source.actor_id != target.actor_id
        assert target.landmarks.shape == (len(target.frames), 468, 2)
        shift = int(rng.integers(1, self.strength + 1))
        frames = [
            np.clip(f.astype(np.int16) + np.array([shift, 0, -shift], np.int16), 0, 255).astype(
                np.uint8
            )
            for f in target.frames
        ][: self.frames_out]
        trained = Path(workdir) / "model.txt"
        reused = trained.exists()
        if self.spec.trains_per_pair:
            trained.write_text(f"{target.actor_id}<-{source.actor_id}")
        masks = [np.ones(f.shape[:2], np.float32) for f in frames]
        return methods.ForgeResult(
            frames=frames, masks=masks, params={"shift": shift, "reused": reused}
        )


def _factory(spec: Any) -> Any:
    def make(strength: int = 20, frames_out: int | None = None) -> Tint:
        return Tint(spec, strength, frames_out)

    return make


@pytest.fixture(autouse=True)
def tint_methods() -> Any:
    """Register the test methods for one test, and take them out of the registry after it."""
    from unmask.forge.methods import _registry

    names = {"test_tint": {}, "test_tint_pair": {"trains_per_pair": True}}
    for name, extra in names.items():
        spec = methods.MethodSpec(name=name, needs_source=True, needs_landmarks=True, **extra)
        methods.register_method(name)(_factory(spec))
    yield
    for name in names:
        _registry._FACTORIES.pop(name, None)


def spec(**kw: Any) -> BuildSpec:
    data = {
        "uses": ["research"],
        "seed": 3,
        "frames": 6,
        "part_size": 3,
        "methods": {"test_tint": 8},
        "perturbations": {"rate": 0.5, "apply": {"crf": {}, "blur": {}}},
    }
    return BuildSpec.from_dict({**data, **kw})


def test_fakes_follow_the_contract(workspace: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    report = build_dataset(spec(), out, workspace=workspace)
    rows = manifest(out)
    by_file = {r["file"]: r for r in rows}
    fakes = [r for r in rows if r["label"] == "FAKE"]
    assert len(fakes) == 8 and report.planned == 14
    assert visible_videos(out) == set(by_file)
    for r in fakes:
        assert r["method"] == "test_tint"
        assert r["source_actor"] != r["target_actor"]
        assert r["actors"] == sorted([r["source_actor"], r["target_actor"]])
        real = by_file[r["original"]]
        assert real["label"] == "REAL" and real["target_actor"] == r["target_actor"]
        assert real["split"] == r["split"]
        assert 1 <= r["method_params"]["shift"] <= 20
        assert r["sha256"] == sha256_file(out / r["file"])
        folder, name = r["file"].rsplit("/", 1)
        if not folder.startswith("test/"):
            meta = json.loads((out / folder / "metadata.json").read_text())
            assert meta[name] == {
                "label": "FAKE",
                "split": r["split"],
                "original": Path(r["original"]).name,
            }
    with open(out / "labels" / "test_labels.csv") as f:
        labels = {row["filename"]: row["label"] for row in csv.DictReader(f)}
    for r in rows:
        if r["file"].startswith("test/"):
            assert labels[r["file"][5:]] == ("1" if r["label"] == "FAKE" else "0")
    assert report.contact_sheets == {"test_tint": "contact_sheets/test_tint.png"}
    assert (out / "contact_sheets" / "test_tint.png").stat().st_size > 0


def test_fakes_are_deterministic(workspace: Workspace, tmp_path: Path) -> None:
    build_dataset(spec(), tmp_path / "a", workspace=workspace)
    build_dataset(spec(), tmp_path / "b", workspace=workspace)
    assert manifest(tmp_path / "a") == manifest(tmp_path / "b")


def test_method_names_and_parameters_are_checked_before_anything_is_written(
    workspace: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'test_tint'"):
        build_dataset(spec(methods={"test_tnt": 2}), tmp_path / "a", workspace=workspace)
    with pytest.raises(UnknownNameError, match="strenght"):
        build_dataset(
            spec(methods={"test_tint": {"count": 2, "params": {"strenght": 3}}}),
            tmp_path / "b",
            workspace=workspace,
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    build_dataset(
        spec(methods={"test_tint": {"count": 4, "params": {"strength": 2}}}),
        tmp_path / "c",
        workspace=workspace,
    )
    assert all(
        r["method_params"]["shift"] <= 2 for r in manifest(tmp_path / "c") if r["label"] == "FAKE"
    )


def test_a_method_that_breaks_the_contract_is_an_error(
    workspace: Workspace, tmp_path: Path
) -> None:
    bad = spec(methods={"test_tint": {"count": 2, "params": {"frames_out": 3}}})
    with pytest.raises(UnmaskError, match="returned 3 frames"):
        build_dataset(bad, tmp_path / "ds", workspace=workspace)
    check_consistent(tmp_path / "ds")


def test_per_pair_work_is_cached_in_the_workspace_and_purged(
    workspace: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    s = spec(methods={"test_tint_pair": 32}, splits={"train": 1.0})
    build_dataset(s, out, workspace=workspace)
    fakes = [r for r in manifest(out) if r["label"] == "FAKE"]
    pairs = [(r["target_actor"], r["source_actor"]) for r in fakes]
    repeated = {p for p in pairs if pairs.count(p) > 1}
    assert repeated  # 32 fakes, 30 ordered pairs of 6 actors: some repeat...
    assert any(r["method_params"]["reused"] for r in fakes)  # ...and reuse their cached work
    pair_caches = [(f, a) for f, a in cache_folders(workspace.cache_root / "pairs")]
    assert {tuple(sorted(p)) for p in pairs} == {tuple(a) for _f, a in pair_caches}

    victim = fakes[0]["source_actor"]
    target_real = next(
        r
        for r in manifest(out)
        if r["label"] == "REAL" and r["target_actor"] == fakes[0]["target_actor"]
    )
    journal = [
        json.loads(line) for line in (out / ".forge" / "journal.jsonl").read_text().splitlines()
    ]
    (sheet,) = [e for e in journal if e["kind"] == "sheet"]
    with Ledger.open(workspace) as ledger:
        ledger.revoke(victim)
    (report,) = purge(workspace)
    rows = manifest(out)
    assert all(victim not in r["actors"] for r in rows)
    assert target_real in rows  # the target's own real video stays
    using = sum(victim in r["actors"] for r in fakes) + 1  # their fakes and their real
    assert report.files_deleted == using + (victim in sheet["actors"])
    assert (out / sheet["file"]).exists() == (victim not in sheet["actors"])
    assert all(victim not in a for _f, a in cache_folders(workspace.cache_root))
    for path in every_file(workspace.root, out):
        if path != workspace.ledger_path:
            assert victim.encode() not in path.read_bytes(), path
    check_consistent(out)


def test_forge_list_names_methods_and_perturbations(capsys: pytest.CaptureFixture[str]) -> None:
    from unmask.cli import main

    assert main(["forge", "list"]) == 0
    out = capsys.readouterr().out
    assert "test_tint" in out and "target + source" in out
    assert "downscale" in out and "factor=0.25" in out
