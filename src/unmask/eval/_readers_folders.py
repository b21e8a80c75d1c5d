"""Readers for the public benchmarks' folder layouts: DFDC, FaceForensics++ and Celeb-DF.

Labels, methods and identities are read from the folder and file names here, at the edge,
and nowhere else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from unmask.errors import DatasetError
from unmask.eval._registry import LabeledFile, register_reader

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


def _videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# --------------------------------------------------------------------------- DFDC


def _dfdc_parts(path: Path) -> list[Path]:
    if path.is_file() and path.name == "metadata.json":
        return [path]
    if (path / "metadata.json").is_file():
        return [path / "metadata.json"]
    return [p / "metadata.json" for p in _subdirs(path) if (p / "metadata.json").is_file()]


def _dfdc_entries(meta: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{meta}: not a readable DFDC metadata.json ({err})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DatasetError(f'{meta}: expected {{"name.mp4": {{"label": ..., ...}}, ...}}')
    return data


@register_reader(
    "dfdc",
    layout="a DFDC part folder with metadata.json, or a folder of dfdc_train_part_*/metadata.json",
    detect=lambda p: bool(_dfdc_parts(p)),
)
def read_dfdc(path: Path) -> Iterator[LabeledFile]:
    """DFDC parts: ``file`` is the bare name (DFDC names are unique; submissions use them).

    DFDC publishes no actor ids, so ``identity`` is the REAL video a file comes from
    (its own name for REAL files, ``original`` for fakes): files sharing it show the same
    person in the same scene.
    """
    seen: dict[str, Path] = {}
    for meta in _dfdc_parts(path):
        for name, entry in _dfdc_entries(meta).items():
            label = {"REAL": 0, "FAKE": 1}.get(str(entry.get("label", "")).upper())
            if label is None:
                raise DatasetError(
                    f"{meta}: {name!r}: label must be 'REAL' or 'FAKE'; got {entry.get('label')!r}"
                )
            if name in seen:
                raise DatasetError(
                    f"{name!r} is listed in both {seen[name]} and {meta}; DFDC names must be unique"
                )
            seen[name] = meta
            original = entry.get("original")
            original = str(original) if original else None
            yield LabeledFile(
                file=name,
                label=label,
                video_id=Path(name).stem,
                method="real" if label == 0 else "unknown",
                dataset="dfdc",
                identity=Path(original or name).stem,
                split=str(entry["split"]) if entry.get("split") else None,
                original=original,
                path=str(meta.parent / name),
            )


# --------------------------------------------------------------------------- FaceForensics++

#: (folder of originals, folder of fakes): the official download script's names, and the
#: shorter ones of the copy kept beside the project (``original/``, ``manipulate/``).
FFPP_TOPS = (("original_sequences", "manipulated_sequences"), ("original", "manipulate"))
_FFPP_PAIR = re.compile(r"(\d+)_(\d+)")  # 183_253: target 183, source 253
_DFD_FAKE = re.compile(r"(\d+)_(\d+)__(.+)")  # 01_02__scene__HASH (DeepFakeDetection)
_FFPP_NOT_COMPRESSION = frozenset({"masks", "images", "bounding_boxes", "landmarks"})


def _ffpp_tops(path: Path) -> tuple[Path, Path] | None:
    for orig, manip in FFPP_TOPS:
        if (path / orig).is_dir() or (path / manip).is_dir():
            return path / orig, path / manip
    return None


def _ffpp_splits(path: Path) -> dict[frozenset[str], str]:
    """The official splits/{train,val,test}.json (lists of [target, source] ids) if present."""
    out: dict[frozenset[str], str] = {}
    for split_file in sorted((path / "splits").glob("*.json")):
        try:
            pairs = json.loads(split_file.read_text(encoding="utf-8"))
            for a, b in pairs:
                out[frozenset((str(a), str(b)))] = split_file.stem
        except (ValueError, TypeError, OSError) as err:
            raise DatasetError(
                f"{split_file}: expected a JSON list of [id, id] pairs ({err})"
            ) from None
    return out


def _ffpp_videos(group: Path) -> Iterator[tuple[str, Path]]:
    """``(compression, video)`` under ``group/<compression>/videos/``."""
    for comp in _subdirs(group):
        if comp.name in _FFPP_NOT_COMPRESSION:
            continue
        folder = comp / "videos" if (comp / "videos").is_dir() else comp
        for video in _videos(folder):
            yield comp.name, video


def _ffpp_real(source: str, stem: str) -> tuple[str, str | None]:
    """``(identity, split key)`` of an original: youtube id, or ``actorNN`` for DFD actors."""
    if source == "youtube":
        return stem, stem
    actor = stem.split("__", 1)[0]
    return (f"actor{actor}" if actor.isdigit() else actor), None


@register_reader(
    "ffpp",
    layout=(
        "a FaceForensics++ folder: original_sequences/<youtube|actors>/<compression>/videos and "
        "manipulated_sequences/<method>/<compression>/videos (or original/ and manipulate/)"
    ),
    detect=lambda p: p.is_dir() and _ffpp_tops(p) is not None,
)
def read_ffpp(path: Path) -> Iterator[LabeledFile]:
    """FaceForensics++: fakes are named TARGET_SOURCE; ``perturbation`` is the compression.

    ``identity`` is the YouTube id (``actorNN`` for the DeepFakeDetection actors); for a fake
    it is the target's and ``source_identity`` the source's. ``split`` comes from the
    official ``splits/*.json`` when the folder has them.
    """
    tops = _ffpp_tops(path)
    if tops is None:
        raise DatasetError(f"{path}: not a FaceForensics++ folder")
    originals, manipulated = tops
    splits = _ffpp_splits(path)
    for source in _subdirs(originals):
        for comp, video in _ffpp_videos(source):
            identity, key = _ffpp_real(source.name, video.stem)
            yield LabeledFile(
                file=_rel(video, path),
                label=0,
                video_id=f"{source.name}/{video.stem}",
                method="real",
                dataset="ffpp",
                identity=identity,
                perturbation=comp,
                split=_split_of(splits, key),
                path=str(video),
            )
    for method in _subdirs(manipulated):
        for comp, video in _ffpp_videos(method):
            dfd = _DFD_FAKE.fullmatch(video.stem)
            pair = _FFPP_PAIR.fullmatch(video.stem)
            if dfd:
                target, source_id = f"actor{dfd.group(1)}", f"actor{dfd.group(2)}"
                original = f"actors/{dfd.group(1)}__{dfd.group(3).rsplit('__', 1)[0]}"
                split = None
            elif pair:
                target, source_id = pair.group(1), pair.group(2)
                original = f"youtube/{target}"
                split = splits.get(frozenset((target, source_id)))
            else:
                raise DatasetError(
                    f"{video}: FaceForensics++ fakes are named TARGET_SOURCE (e.g. 183_253.mp4) "
                    f"or ACTOR_ACTOR__scene__id; got {video.name!r}"
                )
            yield LabeledFile(
                file=_rel(video, path),
                label=1,
                video_id=f"{method.name}/{video.stem}",
                method=method.name,
                dataset="ffpp",
                identity=target,
                source_identity=source_id,
                perturbation=comp,
                split=split,
                original=original,
                path=str(video),
            )


def _split_of(splits: dict[frozenset[str], str], key: str | None) -> str | None:
    if key is None:
        return None
    for pair, split in splits.items():
        if key in pair:
            return split
    return None


# --------------------------------------------------------------------------- Celeb-DF

CELEBDF_FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
_CELEB_FAKE = re.compile(r"(id\d+)_(id\d+)_(\d+)")  # id0_id16_0000: target id0, source id16
_CELEB_REAL = re.compile(r"(id\d+)_(\d+)")


def _celebdf_test_list(path: Path) -> dict[str, int]:
    """``{folder/name.mp4: label}`` from the test list, where Celeb-DF writes 1 = REAL."""
    listing = path / CELEBDF_TEST_LIST
    if not listing.is_file():
        return {}
    out: dict[str, int] = {}
    for line_no, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DatasetError(
                f"{listing}: line {line_no}: expected '<1 for real|0 for fake> <folder/name.mp4>'; "
                f"got {line.strip()!r}"
            )
        out[parts[1]] = 1 - int(parts[0])
    return out


@register_reader(
    "celebdf",
    layout=f"a Celeb-DF folder with {', '.join(CELEBDF_FOLDERS)} and/or {CELEBDF_TEST_LIST}",
    detect=lambda p: (
        p.is_dir()
        and (any((p / f).is_dir() for f in CELEBDF_FOLDERS) or (p / CELEBDF_TEST_LIST).is_file())
    ),
)
def read_celebdf(path: Path) -> Iterator[LabeledFile]:
    """Celeb-DF (v1/v2): ``split`` is ``test`` for the files in the test list, else ``train``.

    Files named in the test list but not on disk are still rows (their predictions can be
    scored); a list label that contradicts the folder is an error.
    """
    test = _celebdf_test_list(path)
    files = {
        f"{folder}/{video.name}": video
        for folder in CELEBDF_FOLDERS
        for video in _videos(path / folder)
    }
    for rel in sorted(set(files) | set(test)):
        folder, _, name = rel.partition("/")
        if folder not in CELEBDF_FOLDERS:
            raise DatasetError(
                f"{path / CELEBDF_TEST_LIST}: {rel!r} is not in {', '.join(CELEBDF_FOLDERS)}"
            )
        label = CELEBDF_FOLDERS[folder]
        if rel in test and test[rel] != label:
            raise DatasetError(
                f"{path / CELEBDF_TEST_LIST}: {rel!r} is listed as {'FAKE' if test[rel] else 'REAL'} "
                f"but lies in {folder}/"
            )
        stem = Path(name).stem
        fake = _CELEB_FAKE.fullmatch(stem)
        real = _CELEB_REAL.fullmatch(stem)
        identity = source = original = None
        if label and fake:
            identity, source = fake.group(1), fake.group(2)
            original = f"Celeb-real/{identity}_{fake.group(3)}{Path(name).suffix}"
        elif not label and real and folder == "Celeb-real":
            identity = real.group(1)
        yield LabeledFile(
            file=rel,
            label=label,
            video_id=f"{folder}/{stem}",
            method=folder if label else "real",
            dataset="celebdf",
            identity=identity,
            source_identity=source,
            split="test" if rel in test else "train",
            original=original,
            path=str(files.get(rel, path / rel)),
        )
