"""Link per-frame detections into face tracks across the sampled frames."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unmask.faces._retinaface import FrameDetections


@dataclass(frozen=True)
class TrackedDetection:
    frame: int  # index into the sampled frames
    det: int  # index into that frame's detections
    track_id: int


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _affinity(a: np.ndarray, b: np.ndarray) -> float:
    """IoU, or for boxes that moved apart a score from centre distance relative to face size."""
    iou = _iou(a, b)
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1.0)
    dist = math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / size
    ratio = min((a[2] - a[0]) / max(b[2] - b[0], 1e-6), (b[2] - b[0]) / max(a[2] - a[0], 1e-6))
    near = max(0.0, 1.0 - dist) * ratio  # 1 = same place and size, 0 = a face apart
    return max(iou, near)


def track_faces(
    detections: Sequence[FrameDetections],
    *,
    min_affinity: float = 0.3,
    max_gap: int = 4,
    min_track_fraction: float = 0.2,
    max_tracks: int = 4,
) -> list[TrackedDetection]:
    """Greedy linking of detections frame by frame.

    A detection joins the track whose last box it overlaps best (IoU, or a centre-distance
    score for fast motion between sampled frames) if that affinity is at least
    ``min_affinity`` and the track was seen within ``max_gap`` frames; otherwise it starts a
    new track. Tracks present in fewer than ``min_track_fraction`` of the frames that have
    any face are dropped as likely false detections (the longest track is always kept), and
    at most ``max_tracks`` tracks are kept, longest (then largest) first. Track ids are
    renumbered 0, 1, ... in that order.

    >>> track_faces([])
    []
    """
    tracks: list[
        dict[str, object]
    ] = []  # {"last": box, "seen": frame, "members": [(frame, det)], "area": float}
    for f, det in enumerate(detections):
        if not len(det):
            continue
        candidates = []
        for d in range(len(det)):
            for t, tr in enumerate(tracks):
                if f - int(tr["seen"]) > max_gap:  # type: ignore[call-overload]
                    continue
                a = _affinity(tr["last"], det.boxes_xyxy[d])  # type: ignore[arg-type]
                if a >= min_affinity:
                    candidates.append((a, d, t))
        candidates.sort(key=lambda c: -c[0])
        used_d: set[int] = set()
        used_t: set[int] = set()
        for _a, d, t in candidates:
            if d in used_d or t in used_t:
                continue
            used_d.add(d)
            used_t.add(t)
            tr = tracks[t]
            tr["last"], tr["seen"] = det.boxes_xyxy[d], f
            tr["members"].append((f, d))  # type: ignore[attr-defined]
        for d in range(len(det)):
            if d not in used_d:
                box = det.boxes_xyxy[d]
                tracks.append({"last": box, "seen": f, "members": [(f, d)]})
    if not tracks:
        return []
    frames_with_faces = sum(1 for d in detections if len(d))

    def size_of(tr: dict[str, object]) -> float:
        boxes = [detections[f].boxes_xyxy[d] for f, d in tr["members"]]  # type: ignore[attr-defined]
        return float(np.mean([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]))

    ranked = sorted(tracks, key=lambda tr: (-len(tr["members"]), -size_of(tr)))  # type: ignore[arg-type]
    need = math.ceil(min_track_fraction * frames_with_faces)
    kept = [tr for tr in ranked if len(tr["members"]) >= need][:max_tracks] or ranked[:1]  # type: ignore[arg-type]
    out = [
        TrackedDetection(frame=f, det=d, track_id=tid)
        for tid, tr in enumerate(kept)
        for f, d in tr["members"]  # type: ignore[attr-defined]
    ]
    return sorted(out, key=lambda x: (x.frame, x.track_id))
