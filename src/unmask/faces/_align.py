"""Square face crops around a detection, optionally rotated so the eyes are level."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from unmask.faces._faces import Faces
from unmask.faces._retinaface import FrameDetections
from unmask.faces._tracker import TrackedDetection


def crop_transform(
    box_xyxy: np.ndarray, landmarks: np.ndarray | None, *, size: int, margin: float, align: bool
) -> np.ndarray:
    """2x3 affine matrix mapping frame pixels to a ``size`` x ``size`` crop.

    The crop is centred on the box, its side is the box's longer side times ``1 + margin``,
    and with ``align=True`` it is rotated so that the eye landmarks lie on a horizontal line.
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + margin)
    angle = 0.0
    if align and landmarks is not None and np.all(np.isfinite(landmarks[:2])):
        (ex1, ey1), (ex2, ey2) = landmarks[0], landmarks[1]
        if ex2 < ex1:
            ex1, ey1, ex2, ey2 = ex2, ey2, ex1, ey1
        angle = math.degrees(math.atan2(ey2 - ey1, ex2 - ex1))
    m = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    m[0, 2] += size / 2 - cx
    m[1, 2] += size / 2 - cy
    return m


def crop_face(
    frame: np.ndarray,
    box_xyxy: np.ndarray,
    landmarks: np.ndarray | None = None,
    *,
    size: int = 224,
    margin: float = 0.3,
    align: bool = True,
) -> np.ndarray:
    """One face crop (size, size, 3) uint8; pixels outside the frame are black.

    >>> crop = crop_face(np.zeros((100, 100, 3), np.uint8), np.array([20, 20, 60, 70]), size=32)
    >>> crop.shape
    (32, 32, 3)
    """
    m = crop_transform(box_xyxy, landmarks, size=size, margin=margin, align=align)
    # Bilinear at every scale. warpAffine has no area filter (asked for INTER_AREA it
    # samples bilinearly, pixel for pixel the same), so a face much larger than the crop is
    # sampled without low-pass filtering. Every shipped detector was trained and calibrated
    # on these crops: a filtered downscale moves their scores (model card clip_fast.md:
    # the same head on crops cut at 224 and area-resized to 160) and needs retraining.
    return cv2.warpAffine(
        frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def crop_faces(
    frames: Sequence[np.ndarray],
    detections: Sequence[FrameDetections],
    tracked: Sequence[TrackedDetection],
    *,
    size: int = 224,
    margin: float = 0.3,
    align: bool = True,
) -> Faces:
    """Crop every tracked detection into a ``Faces`` object (in frame, then track order)."""
    crops = [
        crop_face(
            frames[t.frame],
            detections[t.frame].boxes_xyxy[t.det],
            detections[t.frame].landmarks[t.det],
            size=size,
            margin=margin,
            align=align,
        )
        for t in tracked
    ]
    return faces_from_crops(crops, detections, tracked, size=size)


def faces_from_crops(
    crops: Sequence[np.ndarray],
    detections: Sequence[FrameDetections],
    tracked: Sequence[TrackedDetection],
    *,
    size: int = 224,
) -> Faces:
    """``Faces`` from crops already cut (one per tracked detection, in the same order)."""
    if not tracked:
        return Faces.empty(size)
    dets = [(detections[t.frame], t.det) for t in tracked]
    return Faces(
        crops=np.stack(crops),
        boxes_xyxy=np.stack([d.boxes_xyxy[i] for d, i in dets]),
        frame_index=np.asarray([t.frame for t in tracked]),
        track_id=np.asarray([t.track_id for t in tracked]),
        score=np.asarray([d.scores[i] for d, i in dets]),
        landmarks=np.stack([d.landmarks[i] for d, i in dets]),
    )
