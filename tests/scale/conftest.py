"""A small generated corpus and its single-process scan (the Dask cluster: tests/_cluster.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests._cluster import scale_env
from tests._media import SAMPLES, astronaut, write_video
from unmask.cli import main

FRAMES = "6"  # frames sampled per video in these tests: small and fast


def varied_clip(path: Path, seed: int, n: int = 8) -> Path:
    """A 320x240 clip of the astronaut's face at a seed-dependent size, place and noise."""
    rng = np.random.default_rng(seed)
    fw = int(rng.integers(90, 130))
    face = cv2.resize(astronaut()[30:230, 150:310], (fw, int(fw * 1.25)))
    grey = int(rng.integers(60, 200))
    frames = []
    for i in range(n):
        frame = np.full((240, 320, 3), grey, np.uint8)
        x, y = 20 + int(rng.integers(0, 320 - fw - 40)), 10 + i
        frame[y : y + face.shape[0], x : x + fw] = face
        noise = rng.normal(0, 2 + seed % 5, frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return write_video(path, frames, fps=10.0)


def make_corpus(root: Path, n_videos: int = 10) -> Path:
    """``n_videos`` varied face clips in two folders, a photo and an empty (broken) file."""
    (root / "b").mkdir(parents=True)
    for i in range(n_videos):
        varied_clip(root / ("a" if i % 2 else "b") / f"clip_{i:02d}.mp4", seed=i)
    shutil.copy(SAMPLES / "astronaut.jpg", root / "photo.jpg")
    (root / "broken.mp4").write_bytes(b"")
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Do not modify: copy it (``copy_corpus``) to change files."""
    return make_corpus(tmp_path_factory.mktemp("scale") / "corpus")


@pytest.fixture
def copy_corpus(corpus: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(corpus, tmp_path / "corpus", copy_function=shutil.copy2))


@pytest.fixture(scope="session")
def baseline(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The CSV of a plain single-process scan of the corpus."""
    out = tmp_path_factory.mktemp("baseline") / "preds.csv"
    assert main(["scan", str(corpus), "-o", str(out), "-q", "--frames", FRAMES]) == 0
    return out.read_text(encoding="utf-8")


def spawn_cli(*args: str | Path, **popen: Any) -> subprocess.Popen[str]:
    """``python -m unmask ARGS`` in the background, stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "unmask", *map(str, args)],
        env=scale_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def store_lines(path: Path) -> list[dict[str, object]]:
    """The records of a store file (without its header), in file order."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[1:]]


def stored_files(path: Path) -> list[str]:
    """The submission filename of each record line in a scan store."""
    return [str(d["key"]).split("|")[0] for d in store_lines(path)]
