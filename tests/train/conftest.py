from __future__ import annotations

import numpy as np
import pytest

from tests._media import astronaut
from unmask.errors import UnmaskError
from unmask.faces import RetinaFace
from unmask.train.faceset import BASE_SIZE, _base_geometry, _to_base, final_crop


@pytest.fixture(scope="module")
def base() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test face as a training base crop: (crop, box, 5 landmarks) in its pixels."""
    img = astronaut()
    det = RetinaFace().detect([img])[0]
    box = det.boxes_xyxy[0]
    origin, side = _base_geometry(box)
    full = np.array([*origin, origin[0] + side, origin[1] + side], np.float32)
    crop = final_crop(img, full, det.landmarks[0], size=BASE_SIZE, margin=0.0, align=False)
    return (
        crop,
        _to_base(box.reshape(2, 2), origin, side).ravel(),
        _to_base(det.landmarks[0], origin, side),
    )


@pytest.fixture(scope="module")
def mesh(base: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """The test face's 468-point mesh in base-crop pixels (skips without mediapipe)."""
    try:
        from unmask.forge.landmarks import FaceMesh

        with FaceMesh(video=False) as fm:
            points = fm.landmarks_one(base[0])
    except UnmaskError as err:
        pytest.skip(f"no face mesh here ({err})")
    if points is None:
        pytest.skip("the face mesh found no face in the test image")
    return np.asarray(points, np.float32)
