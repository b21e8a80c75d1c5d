from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests._media import astronaut
from unmask.faces import FrameDetections, RetinaFace, crop_face, crop_faces, nms, track_faces


@pytest.fixture(scope="module")
def detector() -> RetinaFace:
    return RetinaFace()


def test_finds_the_astronaut_with_landmarks(detector: RetinaFace) -> None:
    (det,) = detector.detect([astronaut()])
    assert len(det) == 1
    x1, y1, x2, y2 = det.boxes_xyxy[0]
    assert 150 < x1 < 200 and 40 < y1 < 80 and 250 < x2 < 300 and 150 < y2 < 200
    eyes, nose = det.landmarks[0, :2], det.landmarks[0, 2]
    assert eyes[0, 0] < nose[0] < eyes[1, 0]  # nose between the eyes
    assert det.scores[0] > 0.9


def test_boxes_map_back_from_the_downscaled_frame(detector: RetinaFace) -> None:
    big = cv2.resize(astronaut(), (1536, 1536))  # detected at 640, mapped back x3
    (det,) = detector.detect([big])
    (ref,) = detector.detect([astronaut()])
    np.testing.assert_allclose(det.boxes_xyxy[0], ref.boxes_xyxy[0] * 3, atol=20)


def test_no_face_gives_empty(detector: RetinaFace) -> None:
    (det,) = detector.detect([np.full((240, 320, 3), 127, np.uint8)])
    assert len(det) == 0


def test_small_face_found_by_fallback_resolution() -> None:
    face = cv2.resize(astronaut()[20:260, 110:350], (80, 80))  # face ~50 px tall with context
    frames = [np.full((1080, 1920, 3), 120, np.uint8) for _ in range(6)]
    for f in frames:
        f[500:580, 900:980] = face
    assert not any(len(d) for d in RetinaFace(fallback_sizes=()).detect(frames))  # ~17 px at 640
    found = RetinaFace().detect(frames)
    assert all(len(d) == 1 for d in found)
    assert 890 < found[0].boxes_xyxy[0, 0] < 940


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    assert nms(boxes, np.array([0.9, 0.95, 0.5]), 0.4).tolist() == [1, 2]


def dets(*boxes: list[float]) -> FrameDetections:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    return FrameDetections(b, np.ones(len(b), np.float32), np.zeros((len(b), 5, 2), np.float32))


def test_tracker_links_moving_faces_and_drops_flickers() -> None:
    frames = []
    for i in range(10):
        a = [10 + 5 * i, 10, 60 + 5 * i, 70]  # face A drifts right
        b = [300, 200 - 4 * i, 360, 270 - 4 * i]  # face B drifts up
        frames.append(dets(a, b) if i != 3 else dets(b))  # A missed in frame 3
    frames[5] = dets(
        *[list(x) for x in frames[5].boxes_xyxy], [500, 500, 520, 520]
    )  # one-off false positive
    tracked = track_faces(frames)
    by_track: dict[int, list[int]] = {}
    for t in tracked:
        by_track.setdefault(t.track_id, []).append(t.frame)
    assert sorted(len(v) for v in by_track.values()) == [9, 10]
    assert len(by_track) == 2


def test_tracker_keeps_at_most_max_tracks() -> None:
    frames = [dets(*[[100 * k, 0, 100 * k + 50, 50] for k in range(6)]) for _ in range(3)]
    assert len({t.track_id for t in track_faces(frames, max_tracks=4)}) == 4


def test_crop_aligns_eyes_and_applies_margin() -> None:
    frame = np.zeros((200, 200, 3), np.uint8)
    box = np.array([50, 50, 150, 150], np.float32)
    frame[95:105, 70:80] = 255  # a bright "eye" left of centre
    tilted = np.array([[75, 100], [125, 130], [100, 120], [80, 140], [120, 140]], np.float32)
    crop = crop_face(frame, box, tilted, size=64, margin=0.0, align=True)
    assert crop.shape == (64, 64, 3)
    wide = crop_face(frame, box, None, size=64, margin=1.0, align=False)
    # with margin 1.0 the 100-px box covers half the crop: the eye sits nearer the centre
    _ys, xs = np.nonzero(wide[..., 0] > 128)
    assert 16 < xs.mean() < 32


def test_crop_faces_builds_faces_in_track_order(detector: RetinaFace) -> None:
    frames = [astronaut(), astronaut()]
    detections = detector.detect(frames)
    faces = crop_faces(frames, detections, track_faces(detections), size=96, margin=0.2)
    assert len(faces) == 2 and faces.crops.shape == (2, 96, 96, 3)
    assert faces.track_id.tolist() == [0, 0] and faces.frame_index.tolist() == [0, 1]


def test_adaptive_size_shrinks_for_large_faces_only() -> None:
    det = RetinaFace(det_size=640, adaptive_face_px=48, min_det_size=320)
    big = [dets([800, 300, 1100, 700])]  # 400-px face in a 1080p frame: 133 px at 640
    assert det.next_size(big, (1080, 1920, 3), 640) == 320  # 48 px wanted -> clamped to 320
    medium = [dets([800, 300, 960, 480])]  # 180 px -> 60 px at 640 -> 512 keeps it at 48
    assert det.next_size(medium, (1080, 1920, 3), 640) == 512
    small = [dets([800, 300, 860, 360])]  # 60 px: already under 48 px at 640
    assert det.next_size(small, (1080, 1920, 3), 640) == 640
    assert det.next_size([dets()], (1080, 1920, 3), 640) == 640
    assert RetinaFace(adaptive_face_px=None).next_size(big, (1080, 1920, 3), 640) == 640


def test_scanner_keeps_finding_faces_after_adapting(tmp_path) -> None:
    from tests._media import face_clip
    from unmask.scanner import Scanner

    clip = face_clip(tmp_path / "c.mp4", n=24)
    fixed = Scanner("spectrum", frames=12, face_detector=RetinaFace(adaptive_face_px=None)).scan(
        clip
    )
    adaptive = Scanner("spectrum", frames=12).scan(clip)
    assert adaptive.status == "ok" and sum(t.n_faces for t in adaptive.tracks) >= 10
    assert [f.frame for t in adaptive.tracks for f in t.faces] == [
        f.frame for t in fixed.tracks for f in t.faces
    ]
