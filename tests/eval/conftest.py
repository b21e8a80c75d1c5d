"""Fixtures for the eval tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval.ffpp_tree import build_ffpp


@pytest.fixture
def ffpp(tmp_path: Path) -> tuple[Path, list[tuple[str, int, str]]]:
    """A FaceForensics++-style tree of empty files: 6 originals, 2 methods x 3 fakes."""
    root = tmp_path / "ffpp"
    return root, build_ffpp(root)
