"""Dataset readers on small synthetic folder trees built in each test."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from unmask.errors import DatasetError, UnknownNameError
from unmask.eval.datasets import LabeledFile, detect_reader, list_readers, read_dataset


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0")


def by_file(rows: list[LabeledFile]) -> dict[str, LabeledFile]:
    return {r.file: r for r in rows}


# ----------------------------------------------------------------------- DFDC


def write_dfdc_part(folder: Path, entries: dict[str, dict]) -> None:
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps(entries))
    touch(folder, *entries)


def test_dfdc_parts(tmp_path):
    write_dfdc_part(
        tmp_path / "dfdc_train_part_0",
        {
            "aaa.mp4": {"label": "FAKE", "split": "train", "original": "rrr.mp4"},
            "rrr.mp4": {"label": "REAL", "split": "train"},
        },
    )
    write_dfdc_part(
        tmp_path / "dfdc_train_part_1",
        {"bbb.mp4": {"label": "FAKE", "split": "train", "original": "rrr.mp4"}},
    )
    assert detect_reader(tmp_path) == "dfdc"
    rows = by_file(read_dataset(tmp_path))
    assert set(rows) == {"aaa.mp4", "rrr.mp4", "bbb.mp4"}
    fake = rows["bbb.mp4"]
    assert (fake.label, fake.method, fake.identity, fake.original, fake.split) == (
        1,
        "unknown",
        "rrr",
        "rrr.mp4",
        "train",
    )
    assert fake.path == str(tmp_path / "dfdc_train_part_1" / "bbb.mp4")
    assert rows["rrr.mp4"].identity == "rrr"
    assert rows["rrr.mp4"].method == "real"
    # one part folder, or its metadata.json, read alone
    assert len(read_dataset(tmp_path / "dfdc_train_part_0")) == 2
    assert len(read_dataset(tmp_path / "dfdc_train_part_0" / "metadata.json")) == 2


def test_dfdc_errors(tmp_path):
    write_dfdc_part(tmp_path / "p0", {"a.mp4": {"label": "FAKE"}})
    write_dfdc_part(tmp_path / "p1", {"a.mp4": {"label": "REAL"}})
    with pytest.raises(DatasetError, match=r"'a.mp4' is listed in both .*names must be unique"):
        read_dataset(tmp_path)
    write_dfdc_part(tmp_path / "bad", {"c.mp4": {"label": "maybe"}})
    with pytest.raises(DatasetError, match=r"label must be 'REAL' or 'FAKE'; got 'maybe'"):
        read_dataset(tmp_path / "bad")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metadata.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"not a readable DFDC metadata\.json"):
        read_dataset(tmp_path / "broken")


# ----------------------------------------------------------------------- FaceForensics++


@pytest.mark.parametrize(
    ("orig", "manip"), [("original_sequences", "manipulated_sequences"), ("original", "manipulate")]
)
def test_ffpp_layouts(tmp_path, orig, manip):
    touch(
        tmp_path,
        f"{orig}/youtube/c23/videos/183.mp4",
        f"{orig}/youtube/c23/videos/253.mp4",
        f"{orig}/youtube/c40/videos/183.mp4",
        f"{orig}/actors/c23/videos/01__kitchen_pan.mp4",
        f"{manip}/Deepfakes/c23/videos/183_253.mp4",
        f"{manip}/Deepfakes/c40/videos/183_253.mp4",
        f"{manip}/Deepfakes/masks/videos/183_253.mp4",  # not a compression: skipped
        f"{manip}/FaceSwap/c23/videos/253_183.mp4",
        f"{manip}/DeepFakeDetection/c23/videos/01_02__kitchen_pan__ABC123.mp4",
        f"{manip}/FaceSwap/c23/videos/notes.txt",  # not a video: skipped
    )
    assert detect_reader(tmp_path) == "ffpp"
    rows = by_file(read_dataset(tmp_path))
    assert len(rows) == 8
    real = rows[f"{orig}/youtube/c23/videos/183.mp4"]
    assert (real.label, real.method, real.identity, real.perturbation, real.video_id) == (
        0,
        "real",
        "183",
        "c23",
        "youtube/183",
    )
    fake = rows[f"{manip}/Deepfakes/c40/videos/183_253.mp4"]
    assert (fake.label, fake.method, fake.identity, fake.source_identity, fake.perturbation) == (
        1,
        "Deepfakes",
        "183",
        "253",
        "c40",
    )
    assert fake.video_id == "Deepfakes/183_253"  # the same video at c23 and c40
    assert fake.original == "youtube/183"
    assert rows[f"{manip}/FaceSwap/c23/videos/253_183.mp4"].identity == "253"
    dfd = rows[f"{manip}/DeepFakeDetection/c23/videos/01_02__kitchen_pan__ABC123.mp4"]
    assert (dfd.identity, dfd.source_identity, dfd.original) == (
        "actor01",
        "actor02",
        "actors/01__kitchen_pan",
    )
    assert rows[f"{orig}/actors/c23/videos/01__kitchen_pan.mp4"].identity == "actor01"
    assert Counter(r.method for r in rows.values())["real"] == 4


def test_ffpp_official_splits(tmp_path):
    touch(
        tmp_path,
        "original_sequences/youtube/c23/videos/001.mp4",
        "original_sequences/youtube/c23/videos/002.mp4",
        "original_sequences/youtube/c23/videos/003.mp4",
        "manipulated_sequences/Face2Face/c23/videos/001_002.mp4",
        "manipulated_sequences/Face2Face/c23/videos/003_004.mp4",
    )
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.json").write_text('[["001", "002"]]')
    (tmp_path / "splits" / "test.json").write_text('[["004", "003"]]')
    rows = by_file(read_dataset(tmp_path))
    assert rows["original_sequences/youtube/c23/videos/002.mp4"].split == "train"
    assert rows["original_sequences/youtube/c23/videos/003.mp4"].split == "test"
    assert rows["manipulated_sequences/Face2Face/c23/videos/003_004.mp4"].split == "test"
    assert rows["manipulated_sequences/Face2Face/c23/videos/001_002.mp4"].split == "train"


def test_ffpp_bad_fake_name(tmp_path):
    touch(tmp_path, "manipulated_sequences/Deepfakes/c23/videos/clip.mp4")
    with pytest.raises(DatasetError, match=r"named TARGET_SOURCE .* got 'clip.mp4'"):
        read_dataset(tmp_path)


def test_ffpp_shared_copy(shared_data):
    rows = read_dataset(shared_data / "ffpp_c40")
    assert len(rows) == 60
    counts = Counter(r.method for r in rows)
    assert counts == {
        "real": 20,
        "Deepfakes": 10,
        "Face2Face": 10,
        "FaceSwap": 10,
        "NeuralTextures": 10,
    }
    fakes = [r for r in rows if r.label]
    reals = {r.video_id for r in rows if not r.label}
    assert all(r.original in reals for r in fakes)  # every original the fakes use is present


# ----------------------------------------------------------------------- Celeb-DF


def test_celebdf(tmp_path):
    touch(
        tmp_path,
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0003.mp4",
        "YouTube-real/00000.mp4",
        "Celeb-synthesis/id0_id16_0000.mp4",
        "Celeb-synthesis/id1_id0_0003.mp4",
    )
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id0_id16_0000.mp4\n1 YouTube-real/00170.mp4\n"
    )
    assert detect_reader(tmp_path) == "celebdf"
    rows = by_file(read_dataset(tmp_path))
    assert len(rows) == 6  # 5 on disk + 1 listed only
    fake = rows["Celeb-synthesis/id0_id16_0000.mp4"]
    assert (fake.label, fake.method, fake.identity, fake.source_identity, fake.split) == (
        1,
        "Celeb-synthesis",
        "id0",
        "id16",
        "test",
    )
    assert fake.original == "Celeb-real/id0_0000.mp4"
    assert rows["Celeb-synthesis/id1_id0_0003.mp4"].split == "train"
    assert rows["Celeb-real/id1_0003.mp4"].identity == "id1"
    yt = rows["YouTube-real/00170.mp4"]
    assert (yt.label, yt.split, yt.identity) == (0, "test", None)
    assert yt.path == str(tmp_path / "YouTube-real" / "00170.mp4")


def test_celebdf_list_contradicting_folder(tmp_path):
    touch(tmp_path, "Celeb-real/id0_0000.mp4")
    (tmp_path / "List_of_testing_videos.txt").write_text("0 Celeb-real/id0_0000.mp4\n")
    with pytest.raises(DatasetError, match=r"listed as FAKE but lies in Celeb-real/"):
        read_dataset(tmp_path)
    (tmp_path / "List_of_testing_videos.txt").write_text("real Celeb-real/id0_0000.mp4\n")
    with pytest.raises(DatasetError, match=r"line 1: expected"):
        read_dataset(tmp_path)


# ----------------------------------------------------------------------- forge manifest


def manifest_line(file, label, method, split, **extra):
    obj = {
        "file": file,
        "label": label,
        "video_id": Path(file).stem,
        "split": split,
        "method": method,
        "source_actor": extra.get("source"),
        "target_actor": extra.get("target", "p1"),
        "actors": ["p1"],
        "original": extra.get("original"),
        "perturbations": extra.get("perturbations", []),
        "sha256": "0" * 64,
        "seed": 1,
    }
    return json.dumps(obj)


def test_forge_manifest(tmp_path):
    lines = [
        manifest_line("dfdc_train_part_0/r1.mp4", "REAL", "real", "train"),
        manifest_line(
            "test/public/f1.mp4",
            "FAKE",
            "swap",
            "public_test",
            source="p2",
            target="p1",
            original="dfdc_train_part_0/r1.mp4",
            perturbations=[{"name": "jpeg", "params": {"q": 30}}, {"name": "blur", "params": {}}],
        ),
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n\n")
    # a forge folder also holds DFDC parts: the manifest wins
    write_dfdc_part(tmp_path / "dfdc_train_part_0", {"r1.mp4": {"label": "REAL", "split": "train"}})
    assert detect_reader(tmp_path) == "forge"
    rows = by_file(read_dataset(tmp_path))
    fake = rows["test/public/f1.mp4"]
    assert (fake.method, fake.identity, fake.source_identity, fake.perturbation, fake.split) == (
        "swap",
        "p1",
        "p2",
        "jpeg+blur",
        "public_test",
    )
    assert fake.path == str(tmp_path / "test/public/f1.mp4")
    assert rows["dfdc_train_part_0/r1.mp4"].perturbation == "none"
    assert detect_reader(tmp_path / "manifest.jsonl") == "forge"


def test_forge_manifest_errors(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(
        manifest_line("a.mp4", "REAL", "real", "train") + '\n{"file": "b.mp4"}\n'
    )
    with pytest.raises(DatasetError, match=r"line 2: missing key.*label, video_id, split, method"):
        read_dataset(tmp_path)
    (tmp_path / "manifest.jsonl").write_text(manifest_line("a.mp4", "REAL", "swap", "train"))
    with pytest.raises(DatasetError, match=r"line 1: .*a REAL file must have method 'real'"):
        read_dataset(tmp_path)


# ----------------------------------------------------------------------- CSVs


def test_dfdc_labels_csv_and_root(tmp_path):
    (tmp_path / "labels").mkdir()
    labels = tmp_path / "labels" / "test_labels.csv"
    labels.write_text("filename,label,split\npublic/a.mp4,1,public\nprivate/b.mp4,0,private\n")
    assert detect_reader(labels) == "labels"
    rows = by_file(read_dataset(labels, root=tmp_path / "test"))
    assert rows["public/a.mp4"].split == "public"
    assert rows["public/a.mp4"].method == "unknown"
    assert rows["private/b.mp4"].path == str(tmp_path / "test" / "private/b.mp4")


def test_plain_csv(tmp_path):
    csv = tmp_path / "set.csv"
    csv.write_text(
        "path,label,method,dataset,perturbation\n"
        "clips/a.mp4,FAKE,swap,mine,jpeg\n"
        "clips/b.mp4,0,,,\n"
        "img/c.jpg,1,,,\n"
    )
    assert detect_reader(csv) == "csv"
    rows = by_file(read_dataset(csv))
    assert (
        rows["clips/a.mp4"].method,
        rows["clips/a.mp4"].dataset,
        rows["clips/a.mp4"].perturbation,
    ) == (
        "swap",
        "mine",
        "jpeg",
    )
    assert (rows["clips/b.mp4"].method, rows["clips/b.mp4"].dataset) == ("real", "csv")
    assert rows["img/c.jpg"].method == "unknown"
    assert rows["img/c.jpg"].path == str(tmp_path / "img/c.jpg")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("path,label,colour\na,1,red\n", "optional columns .*got 'path,label,colour'"),
        ("path,label\na,2\n", "line 2: label must be 1 \\(FAKE\\) or 0 \\(REAL\\); got '2'"),
        ("path,label\na,1\na,0\n", "line 3: duplicate path 'a' \\(first on line 2\\)"),
        ("path,label,method\na,0,swap\n", "line 2: .*a REAL file must have method 'real'"),
        ("path,label\na,1,3\n", "line 2: expected 2 fields; got 3"),
    ],
)
def test_plain_csv_errors(tmp_path, text, match):
    csv = tmp_path / "set.csv"
    csv.write_text(text)
    with pytest.raises(DatasetError, match=match):
        read_dataset(csv)


# ----------------------------------------------------------------------- autodetection


def test_autodetect_error_names_every_layout(tmp_path):
    touch(tmp_path, "random/a.mp4")
    with pytest.raises(DatasetError) as info:
        read_dataset(tmp_path)
    message = str(info.value)
    assert "no dataset layout recognised" in message
    for name in list_readers():
        assert f"{name}: " in message
    assert "\n" not in message


def test_missing_path_and_unknown_reader(tmp_path):
    with pytest.raises(DatasetError, match=r"not found"):
        read_dataset(tmp_path / "nope")
    with pytest.raises(UnknownNameError, match=r"did you mean 'ffpp'"):
        read_dataset(tmp_path, reader="ffp")
    (tmp_path / "Celeb-real").mkdir()
    with pytest.raises(DatasetError, match=r"found no labelled files"):
        read_dataset(tmp_path, reader="celebdf")


def test_labeled_file_validates():
    with pytest.raises(DatasetError, match=r"label must be 1"):
        LabeledFile(file="a", label=2, video_id="a", method="x", dataset="d")
    with pytest.raises(DatasetError, match=r"video_id must be a non-empty string"):
        LabeledFile(file="a", label=1, video_id="", method="x", dataset="d")
    with pytest.raises(DatasetError, match=r"cannot have method 'real'"):
        LabeledFile(file="a", label=1, video_id="a", method="real", dataset="d")
