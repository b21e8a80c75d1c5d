from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests._media import astronaut
from unmask.faces import FaceStream, RetinaFace


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def drifting_face(
    n: int, *, start: int = 0, size: tuple[int, int] = (960, 540)
) -> list[np.ndarray]:
    """A 150-px astronaut face moving right by 40 px a frame, present from frame ``start``."""
    face = cv2.resize(astronaut()[30:230, 150:310], (120, 150))
    w, h = size
    frames = []
    for i in range(n):
        frame = np.full((h, w, 3), 110, np.uint8)
        if i >= start:
            x = 100 + 40 * i
            frame[200:350, x : x + 120] = face
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def detector() -> RetinaFace:
    return RetinaFace()


def test_windows_follow_the_face_with_few_full_passes(detector: RetinaFace) -> None:
    frames = drifting_face(8)
    stream = FaceStream(detector, full_every=4)
    found = stream.push(frames[:3], frames[:3]) + stream.push(frames[3:], frames[3:])
    assert stream.full_passes == 2 and stream.seen == 8  # frames 0 and 4
    reference = [detector.detect_primary([f])[0] for f in frames]
    for near, full in zip(found, reference, strict=True):
        assert len(near) == len(full) == 1
        assert iou(near.boxes_xyxy[0], full.boxes_xyxy[0]) > 0.75
        eyes = near.landmarks[0, :2]
        assert np.abs(eyes - full.landmarks[0, :2]).max() < 12


def test_full_every_one_is_plain_detection() -> None:
    fixed = RetinaFace(adaptive_face_px=None)  # the stream otherwise shrinks the size it uses
    frames = drifting_face(3)
    found = FaceStream(fixed, full_every=1).push(frames, frames)
    for got, want in zip(found, fixed.detect(frames), strict=True):
        np.testing.assert_allclose(got.boxes_xyxy, want.boxes_xyxy, atol=1e-3)


def test_a_new_face_is_found_by_the_next_full_pass(detector: RetinaFace) -> None:
    first = drifting_face(6)
    second = cv2.resize(astronaut()[30:230, 150:310], (120, 150))
    frames = []
    for i, frame in enumerate(first):
        if i >= 1:  # a second face, far from the first, from frame 1 on
            frame[20:170, 820:940] = second
        frames.append(frame)
    stream = FaceStream(detector, full_every=4)
    found = stream.push(frames, frames)
    assert [len(d) for d in found] == [1, 1, 1, 1, 2, 2]
    assert stream.full_passes == 2


def test_frames_after_a_faceless_frame_get_full_passes(detector: RetinaFace) -> None:
    frames = drifting_face(6, start=2)
    stream = FaceStream(detector, full_every=4)
    assert [len(d) for d in stream.push(frames, frames)] == [0, 0, 1, 1, 1, 1]
    assert stream.full_passes == 4  # frames 0, 1, 2 (nothing before them) and 4


def test_window_at_the_frame_edge(detector: RetinaFace) -> None:
    frame = np.full((400, 600, 3), 110, np.uint8)
    frame[0:150, 0:120] = cv2.resize(astronaut()[30:230, 150:310], (120, 150))
    (full,) = detector.detect_primary([frame])
    near = detector.detect_near(frame, full.boxes_xyxy)
    assert len(near) == 1 and iou(near.boxes_xyxy[0], full.boxes_xyxy[0]) > 0.75
    assert len(detector.detect_near(frame, np.zeros((0, 4)))) == 0


def test_bad_full_every() -> None:
    with pytest.raises(ValueError, match="full_every"):
        FaceStream(RetinaFace(), full_every=0)
