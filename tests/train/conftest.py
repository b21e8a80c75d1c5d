from __future__ import annotations

import numpy as np
import pytest

from tests._media import astronaut
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
