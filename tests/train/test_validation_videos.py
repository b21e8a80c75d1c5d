"""Validation pseudo-videos: the faces of one person in one source file."""

from __future__ import annotations

import numpy as np


def test_pseudo_videos_keep_crops_of_one_file_name_in_other_folders_apart() -> None:
    from unmask.train.faceset import FaceSet
    from unmask.train.run import pseudo_videos

    n = 5
    faces = FaceSet(
        crops=np.zeros((n, 4, 4, 3), np.uint8),
        boxes=np.zeros((n, 4), np.float32),
        landmarks=np.zeros((n, 5, 2), np.float32),
        mesh=np.full((n, 468, 2), np.nan, np.float32),
        labels=np.array([0, 1, 0, 0, 0]),
        methods=np.array(["youtube", "Deepfakes", "real", "real", "real"]),
        identities=np.array(["ff:youtube/roi_1", "ff:Deepfakes/roi_1", "clip", "clip", "clip"]),
        groups=np.array(["ffpp", "ffpp", "videos", "videos", "videos"]),
        sources=np.array(["roi_1.jpg", "roi_1.jpg", "clip.mp4", "clip.mp4", "clip.mp4"]),
    )
    logits = np.arange(n, dtype=float)
    blended = np.array([False, False, False, False, True])
    labels = np.array([0, 1, 0, 0, 1])
    videos = sorted(pseudo_videos(faces, logits, labels, blended), key=lambda v: v[0][0])
    got = [(v[0].tolist(), v[1]) for v in videos]
    assert got == [([0.0], 0), ([1.0], 1), ([2.0, 3.0], 0), ([4.0], 1)]
