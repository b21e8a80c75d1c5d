"""`unmask forge build` on the scale engine: N local processes or a Dask cluster give the same
dataset, byte for byte, as one process; failed videos are reported, left out and retried."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests._cluster import DaskCluster
from unmask.cli import main
from unmask.errors import TasksFailedError
from unmask.forge import _render
from unmask.forge._plan import PlanItem
from unmask.forge._workspace import Workspace
from unmask.forge.builder import _tasks, build_dataset
from unmask.forge.ledger import sha256_file
from unmask.forge.spec import BuildSpec

from .test_builder import manifest, visible_videos

pytest.importorskip("unmask.forge.methods")


def spec(**kw: Any) -> BuildSpec:
    data = {
        "uses": ["research"],
        "seed": 11,
        "frames": 4,
        "part_size": 3,
        "methods": {"swap": 2, "reenact": 1},
        "perturbations": {"rate": 0.6, "apply": {"crf": {}, "blur": {}, "text": {}}},
    }
    return BuildSpec.from_dict({**data, **kw})


def dataset_files(out: Path) -> dict[str, str]:
    """sha256 of every file a reader of the dataset sees (all but the bookkeeping in .forge)."""
    return {
        p.relative_to(out).as_posix(): sha256_file(p)
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".forge" not in p.relative_to(out).parts
    }


def fail_item(monkeypatch: pytest.MonkeyPatch, index: int) -> list[int]:
    """Make the video of plan item ``index`` fail (in this process); returns the attempts."""
    original = _render.Renderer.render
    attempts: list[int] = []

    def render(self: _render.Renderer, task: _render.RenderTask) -> dict[str, Any]:
        if task.item.index == index:
            attempts.append(index)
            raise RuntimeError(f"item {index} cannot be made")
        return original(self, task)

    monkeypatch.setattr(_render.Renderer, "render", render)
    return attempts


def test_two_workers_make_the_same_dataset_as_one(workspace: Workspace, tmp_path: Path) -> None:
    one = build_dataset(spec(), tmp_path / "one", workspace=workspace)
    two = build_dataset(spec(), tmp_path / "two", workspace=workspace, workers=2)
    files = dataset_files(tmp_path / "one")
    assert dataset_files(tmp_path / "two") == files
    assert manifest(tmp_path / "two") == manifest(tmp_path / "one")
    assert two.made == one.made == one.planned == len(manifest(tmp_path / "one")) == 9
    assert (
        two.contact_sheets
        == one.contact_sheets
        == {
            "reenact": "contact_sheets/reenact.png",
            "swap": "contact_sheets/swap.png",
        }
    )
    assert set(files) >= set(two.contact_sheets.values()) | visible_videos(tmp_path / "two")
    assert not (tmp_path / "two" / ".forge" / "staging").exists()


def test_failed_videos_are_left_out_and_a_rerun_on_workers_makes_them(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = spec(methods={})
    reference = tmp_path / "reference"
    build_dataset(s, reference, workspace=workspace)
    out = tmp_path / "ds"
    attempts = fail_item(monkeypatch, 1)
    with pytest.raises(TasksFailedError, match=r"^1 of 6 videos failed: .*item 1 cannot be made"):
        build_dataset(s, out, workspace=workspace, retries=1)
    assert attempts == [1, 1]  # tried, then retried once
    (failed,) = [r["file"] for r in manifest(reference) if r["file"] not in visible_videos(out)]
    assert failed not in {r["file"] for r in manifest(out)} and len(manifest(out)) == 5
    monkeypatch.undo()
    report = build_dataset(s, out, workspace=workspace, workers=2)
    assert (report.made, report.skipped, report.failures) == (1, 5, {})
    assert dataset_files(out) == dataset_files(reference)


def test_build_flags_and_failures_on_the_command_line(
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec(methods={}).to_dict()))
    build = ["forge", "build", str(spec_file), "--out", str(tmp_path / "ds")]
    build += ["-w", str(workspace.root)]
    for flags, message in [
        (["--workers", "0"], "--workers must be at least 1; got 0"),
        (["--retries", "-1"], "--retries must be 0 or more; got -1"),
        (["--workers", "2", "--cluster", "tcp://127.0.0.1:1"], "do not go together"),
    ]:
        assert main([*build, *flags]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("unmask: error: ") and message in err
    assert not (tmp_path / "ds").exists()

    fail_item(monkeypatch, 2)
    assert main([*build, "--retries", "0"]) == 1
    out, err = capsys.readouterr()
    assert "6 videos (5 made now, 0 already complete, 1 failed)" in out
    assert err.count("\n") == 1
    assert err.startswith("unmask: error: 1 of 6 videos failed: ")
    assert ".mp4 (failed 1 times; last error: RuntimeError: item 2 cannot be made). " in err
    assert "run the same command again" in err
    monkeypatch.undo()
    assert main([*build, "--workers", "2"]) == 0
    assert "6 videos (1 made now, 5 already complete)" in capsys.readouterr().out


def _item(index: int, method: str, target: str, source: str | None) -> PlanItem:
    return PlanItem(
        index=index,
        name=f"v{index}.mp4",
        file=f"dfdc_train_part_0/v{index}.mp4",
        split="train",
        label="REAL" if method == "real" else "FAKE",
        method=method,
        target_actor=target,
        target_footage=f"f-{target}",
        source_actor=source,
        source_footage=f"f-{source}" if source else None,
        original=None,
        perturbations=(),
        seed=index,
    )


def test_pairs_train_once_before_their_other_fakes_and_sheets_come_with_the_first_fake(
    tmp_path: Path,
) -> None:
    methods = {
        name: SimpleNamespace(spec=SimpleNamespace(trains_per_pair=pairs))
        for name, pairs in [("pairwise", True), ("plain", False)]
    }
    items = [
        _item(0, "real", "a", None),
        _item(1, "pairwise", "a", "b"),
        _item(2, "pairwise", "a", "b"),
        _item(3, "pairwise", "b", "a"),
        _item(4, "plain", "a", "b"),
        _item(5, "plain", "a", "b"),
        _item(6, "pairwise", "a", "b"),
    ]
    rounds = _tasks(items, tmp_path, methods, sheets={})
    assert [[t.payload.item.index for t in r] for r in rounds] == [[0, 1, 3, 4, 5], [2, 6]]
    tasks = [t for r in rounds for t in r]
    assert [t.payload.item.index for t in tasks if t.payload.sheet] == [1, 4]
    assert all(t.key == t.payload.item.file and Path(t.payload.out).is_absolute() for t in tasks)
    again = _tasks(items, tmp_path, methods, sheets={"pairwise": "x.png", "plain": "y.png"})
    assert not any(t.payload.sheet for r in again for t in r)


@pytest.mark.slow
def test_a_dask_cluster_makes_the_same_dataset(
    dask_cluster: DaskCluster, workspace: Workspace, tmp_path: Path
) -> None:
    s = spec(methods={"swap": 2})
    build_dataset(s, tmp_path / "one", workspace=workspace)
    report = build_dataset(s, tmp_path / "dask", workspace=workspace, cluster=dask_cluster.address)
    assert report.made == report.planned == 8
    assert dataset_files(tmp_path / "dask") == dataset_files(tmp_path / "one")
    assert manifest(tmp_path / "dask") == manifest(tmp_path / "one")
