from __future__ import annotations

import numpy as np
import pytest

from unmask.faces import Faces


def make(n: int, size: int = 8, track: int = 0) -> Faces:
    return Faces(
        crops=np.zeros((n, size, size, 3), np.uint8),
        boxes_xyxy=np.tile([0, 0, 10, 10], (n, 1)),
        frame_index=np.arange(n),
        track_id=np.full(n, track),
        score=np.ones(n),
        landmarks=np.zeros((n, 5, 2)),
    )


def test_len_slice_mask_and_int_indexing() -> None:
    f = make(5)
    assert len(f) == 5
    assert len(f[1:3]) == 2
    assert f[f.frame_index % 2 == 0].frame_index.tolist() == [0, 2, 4]
    assert f[np.array([4, 0])].frame_index.tolist() == [4, 0]
    assert f[-1].frame_index.tolist() == [4]
    assert f.boxes_xyxy.dtype == np.float32 and f.frame_index.dtype == np.int64


def test_validation_names_the_field_and_shape() -> None:
    with pytest.raises(
        ValueError, match=r"boxes_xyxy must have shape \(n, 4\) with n=3; got \(3,\)"
    ):
        Faces(
            crops=np.zeros((3, 8, 8, 3), np.uint8),
            boxes_xyxy=np.zeros(3),
            frame_index=np.zeros(3),
            track_id=np.zeros(3),
            score=np.zeros(3),
            landmarks=np.zeros((3, 5, 2)),
        )
    with pytest.raises(ValueError, match="crops must be uint8"):
        Faces(**{**make(1).__dict__, "crops": np.zeros((1, 8, 8, 3), np.float32)})


def test_bad_boolean_mask() -> None:
    with pytest.raises(IndexError, match="boolean mask must have shape"):
        make(3)[np.array([True, False])]


def test_empty_and_concat() -> None:
    empty = Faces.empty(8)
    assert len(empty) == 0 and empty.crop_size == (8, 8)
    joined = Faces.concat([make(2, track=0), empty, make(3, track=1)])
    assert len(joined) == 5 and joined.track_id.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="different crop sizes"):
        Faces.concat([make(1, 8), make(1, 16)])
    with pytest.raises(ValueError, match="at least one"):
        Faces.concat([])
