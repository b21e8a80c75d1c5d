"""Fixtures for the forge method tests: clips built by ``forge_footage``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.forge.methods.forge_footage import JAW_OPEN, NOSE_TIP, blank, clip, head, open_jaw, place
from unmask.forge.methods import Clip


@pytest.fixture(scope="session")
def target_clip() -> Clip:
    """Six frames of the astronaut drifting right; frame 3 has no face."""
    frames = [place(head(), dx=2 * i) for i in range(6)]
    frames[3] = blank()
    c = clip(frames, "astronaut", "target-video")
    assert c.has_face.tolist() == [True, True, True, False, True, True], "mesh missed a test face"
    return c


@pytest.fixture(scope="session")
def source_face() -> np.ndarray:
    """The mirrored astronaut with a dark mark on the tip of the nose (240 x 240)."""
    from unmask.forge.landmarks import FaceMesh

    face = np.ascontiguousarray(head()[:, ::-1])
    with FaceMesh(video=False) as mesh:
        points = mesh.landmarks_one(face)
    assert points is not None, "mesh missed the mirrored test face"
    x, y = np.round(points[NOSE_TIP]).astype(int)
    cv2.circle(face, (int(x), int(y)), 9, (10, 10, 10), -1)
    return face


@pytest.fixture(scope="session")
def source_clip(source_face: np.ndarray) -> Clip:
    """Six frames of the source actor drifting left."""
    c = clip([place(source_face, dx=-i) for i in range(6)], "mirror-actor", "source-video")
    assert c.has_face.all(), "mesh missed a source test face"
    return c


@pytest.fixture(scope="session")
def driving_clip(source_clip: Clip) -> Clip:
    """The source clip with the jaw opened by 10 px in frames 4 and 5."""
    landmarks = source_clip.landmarks.copy()
    for i in JAW_OPEN:
        landmarks[i] = open_jaw(landmarks[i], 10.0)
    return Clip(
        list(source_clip.frames), landmarks, source_clip.fps, "mirror-actor", "driving-video"
    )
