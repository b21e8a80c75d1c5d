from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import cli_env
from unmask.errors import ConsentError, DatasetError, UnknownNameError
from unmask.forge._workspace import Workspace
from unmask.forge.builder import build_dataset
from unmask.forge.ledger import Ledger, sha256_file
from unmask.forge.spec import BuildSpec

FRAMES = 8
MANIFEST_KEYS = {
    "file",
    "label",
    "video_id",
    "split",
    "method",
    "source_actor",
    "target_actor",
    "actors",
    "original",
    "perturbations",
    "sha256",
    "seed",
}
PERTURB = {
    "rate": 0.7,
    "max_per_video": 2,
    "apply": {"crf": {}, "fps": {}, "blur": {}, "text": {}, "flip": {}},
}


def spec(**kw) -> BuildSpec:
    data = {
        "uses": ["research"],
        "seed": 5,
        "frames": FRAMES,
        "part_size": 2,
        "perturbations": PERTURB,
    }
    return BuildSpec.from_dict({**data, **kw})


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def visible_videos(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*.mp4") if ".forge" not in p.parts}


def test_a_reals_only_build_follows_the_dataset_contract(
    workspace: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    report = build_dataset(spec(), out, workspace=workspace)
    rows = manifest(out)
    assert report.planned == report.made == len(rows) == 6 and report.skipped == 0
    assert visible_videos(out) == {r["file"] for r in rows}
    split_of: dict[str, str] = {}
    for r in rows:
        assert set(r) >= MANIFEST_KEYS
        assert r["label"] == "REAL" and r["method"] == "real" and r["original"] is None
        assert r["source_actor"] is None and r["actors"] == [r["target_actor"]]
        assert r["sha256"] == sha256_file(out / r["file"])
        assert r["video_id"] == Path(r["file"]).stem
        for actor in r["actors"]:  # identity-disjoint
            assert split_of.setdefault(actor, r["split"]) == r["split"]
    assert {r["split"] for r in rows} == {"train", "validation", "public_test", "private_test"}
    assert any(r["perturbations"] for r in rows)
    for r in rows:
        folder, name = r["file"].rsplit("/", 1)
        if r["split"] in ("train", "validation"):
            meta = json.loads((out / folder / "metadata.json").read_text())
            assert meta[name] == {"label": "REAL", "split": r["split"]}
        else:
            assert folder == ("test/public" if r["split"] == "public_test" else "test/private")
            assert not (out / folder / "metadata.json").exists()
    with open(out / "labels" / "test_labels.csv") as f:
        labels = list(csv.DictReader(f))
    tests = {r["file"][len("test/") :]: r for r in rows if r["split"].endswith("_test")}
    assert {row["filename"] for row in labels} == set(tests)
    for row in labels:
        assert row["label"] == "0" and row["split"] == tests[row["filename"]]["split"].split("_")[0]
    assert not list((out / "test").rglob("*.csv")) and not list((out / "test").rglob("*.json"))


def test_same_spec_same_bytes_and_a_rerun_makes_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    a = build_dataset(spec(), tmp_path / "a", workspace=workspace)
    build_dataset(spec(), tmp_path / "b", workspace=workspace)
    assert manifest(tmp_path / "a") == manifest(tmp_path / "b")
    summary = json.loads((tmp_path / "a" / "build.json").read_text())
    (env,) = summary["environments"]  # what the pixels depend on besides the seed
    assert env["cpu"] and env["python"] and env["libraries"]["numpy"] == np.__version__
    assert isinstance(env["simd"], list)
    again = build_dataset(spec(), tmp_path / "a", workspace=workspace)
    assert again.made == 0 and again.skipped == a.planned
    assert json.loads((tmp_path / "a" / "build.json").read_text()) == summary
    other = build_dataset(spec(seed=6), tmp_path / "c", workspace=workspace)
    assert {r["file"] for r in manifest(tmp_path / "c")} != {
        r["file"] for r in manifest(tmp_path / "a")
    }
    assert other.planned == a.planned


def test_a_build_resumed_elsewhere_lists_both_environments(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unmask.forge.builder as builder

    out = tmp_path / "a"
    first = build_dataset(spec(), out, workspace=workspace)
    here = json.loads((out / "build.json").read_text())["environments"]
    # the journal forgets the last file finished, as if killed before it; another CPU remakes it
    rows = (out / ".forge" / "journal.jsonl").read_text().splitlines()
    (out / ".forge" / "journal.jsonl").write_text("\n".join(rows[:-1]) + "\n")
    elsewhere = {**here[0], "cpu": "another CPU"}
    monkeypatch.setattr(builder, "build_environment", lambda: elsewhere)
    assert build_dataset(spec(), out, workspace=workspace).made >= 1
    assert json.loads((out / "build.json").read_text())["environments"] == [*here, elsewhere]
    assert first.made > 1


def test_a_killed_build_resumes_to_the_same_dataset(workspace: Workspace, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    build_dataset(spec(), reference, workspace=workspace)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec().to_dict()))
    out = tmp_path / "killed"
    code = (  # SIGKILL in the middle of writing the third video
        "import os, signal, sys\n"
        "import unmask.media\n"
        "original = unmask.media.VideoWriter.write\n"
        "writers = []\n"
        "def write(self, rgb):\n"
        "    if self not in writers:\n"
        "        writers.append(self)\n"
        "    if len(writers) == 3 and self.frames_written == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return original(self, rgb)\n"
        "unmask.media.VideoWriter.write = write\n"
        "from unmask.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = ["forge", "build", str(spec_file), "--out", str(out), "--workspace", str(workspace.root)]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr
    listed = manifest(out)
    assert {r["file"] for r in listed} <= visible_videos(out)  # nothing listed that is not there
    for r in listed:
        assert r["sha256"] == sha256_file(out / r["file"])
    expected = {r["file"]: r["sha256"] for r in manifest(reference)}
    assert len(visible_videos(out)) == 2  # the third video was never moved into place
    for rel in visible_videos(out):  # every visible video is complete
        assert sha256_file(out / rel) == expected[rel]
    report = build_dataset(spec(), out, workspace=workspace)
    assert report.skipped == 2 and report.made == report.planned - 2
    assert manifest(out) == manifest(reference)
    assert (
        not list((out / ".forge" / "staging").glob("*"))
        if (out / ".forge" / "staging").exists()
        else True
    )


def test_a_full_disk_stops_cleanly_and_the_build_resumes(
    workspace: Workspace, tmp_path: Path, monkeypatch
) -> None:
    import unmask.media

    reference = tmp_path / "reference"
    build_dataset(spec(), reference, workspace=workspace)
    original = unmask.media.VideoWriter.write
    writers: list[object] = []

    def write(self, rgb):  # the disk fills up while the fourth video is written
        if self not in writers:
            writers.append(self)
        if len(writers) == 4 and self.frames_written == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(self, rgb)

    monkeypatch.setattr(unmask.media.VideoWriter, "write", write)
    out = tmp_path / "full"
    with pytest.raises(
        DatasetError, match=r"disk is full.*3 of 6 videos are complete.*run the same command again"
    ):
        build_dataset(spec(), out, workspace=workspace)
    listed = manifest(out)
    assert len(listed) == 3 and {r["file"] for r in listed} == visible_videos(out)
    assert not (out / ".forge" / "staging").exists()
    monkeypatch.setattr(unmask.media.VideoWriter, "write", original)
    report = build_dataset(spec(), out, workspace=workspace)
    assert report.made == 3 and manifest(out) == manifest(reference)


def test_a_changed_spec_is_refused_in_the_same_folder(workspace: Workspace, tmp_path: Path) -> None:
    build_dataset(spec(), tmp_path / "ds", workspace=workspace)
    with pytest.raises(DatasetError, match="different plan"):
        build_dataset(spec(frames=FRAMES + 1), tmp_path / "ds", workspace=workspace)


def test_actors_without_valid_consent_are_refused(
    workspace: Workspace, actors: list[str], tmp_path: Path, document: Path
) -> None:
    with Ledger.open(workspace) as ledger:
        ledger.revoke(actors[0])
    with pytest.raises(ConsentError, match=f"actor {actors[0]} .* revoked"):
        build_dataset(spec(actors=actors[:4]), tmp_path / "a", workspace=workspace)
    with pytest.raises(ConsentError, match="commercial"):
        build_dataset(
            spec(actors=actors[1:5], uses=["commercial"]), tmp_path / "b", workspace=workspace
        )
    with pytest.raises(UnknownNameError, match="unknown actor 'act-nobody'"):
        build_dataset(
            spec(actors=[*actors[1:4], "act-nobody"]), tmp_path / "c", workspace=workspace
        )
    report = build_dataset(spec(), tmp_path / "d", workspace=workspace)  # actors: all
    assert all(actors[0] not in r["actors"] for r in manifest(tmp_path / "d"))
    assert any(actors[0] in note and "no valid consent" in note for note in report.notes)


def test_a_revocation_during_a_build_stops_it(
    workspace: Workspace, actors: list[str], tmp_path: Path, monkeypatch
) -> None:
    from unmask.forge import _render

    original = _render.Renderer.render
    revoked: list[str] = []

    def render(self, task):  # the actor revokes while the first video is being made
        if not revoked:
            last = task.item.target_actor
            with Ledger.open(workspace) as ledger:
                ledger.revoke(last)
            revoked.append(last)
        return original(self, task)

    monkeypatch.setattr(_render.Renderer, "render", render)
    with pytest.raises(ConsentError, match="revoked"):
        build_dataset(spec(), tmp_path / "ds", workspace=workspace)
    assert all(revoked[0] not in r["actors"] for r in manifest(tmp_path / "ds"))
    assert visible_videos(tmp_path / "ds") == set()  # rendered, but never moved into place


def test_a_pending_purge_blocks_builds(
    workspace: Workspace, actors: list[str], tmp_path: Path
) -> None:
    with Ledger.open(workspace) as ledger:
        ledger.revoke(actors[0])
        ledger.start_purge(actors[0])
    with pytest.raises(DatasetError, match=r"purge .* unfinished"):
        build_dataset(spec(), tmp_path / "ds", workspace=workspace)


def test_videos_never_outrun_the_landmarks_ingested(tmp_path: Path, document: Path) -> None:
    from unmask.forge.ingest import ingest_footage

    from .footage import face_clip

    ws = Workspace(tmp_path / "ws")
    with Ledger.open(ws, create=True) as ledger:
        for variant in range(2):
            actor = ledger.add_consent(
                roles=["target"], uses=["research"], document=document
            ).actor_id
            clip = face_clip(tmp_path / f"c{variant}.mp4", variant)
            assert ingest_footage(ledger, ws, actor, clip, max_frames=5).n_frames == 5
    build_dataset(spec(splits={"train": 1.0}, perturbations={}), tmp_path / "ds", workspace=ws)
    assert [r["frames"] for r in manifest(tmp_path / "ds")] == [5, 5]
