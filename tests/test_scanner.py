from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests._media import SAMPLES, face_clip
from unmask.detectors import Detector, create_detector
from unmask.faces import Faces
from unmask.scanner import Scanner, ScanResult, scan


class FixedDetector(Detector):
    """Scores faces by their track: track 1 looks fake, everything else real."""

    def __init__(self) -> None:
        super().__init__(create_detector("spectrum").cfg)

    def score(self, faces: Faces) -> np.ndarray:
        return np.where(faces.track_id == 1, 0.9, 0.1).astype(np.float32)


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner("spectrum", frames=8, keep_evidence=True)


def test_video_result_has_tracks_faces_timings(scanner: Scanner, tmp_path: Path) -> None:
    r = scanner.scan(face_clip(tmp_path / "f.mp4"))
    assert r.status == "ok" and r.kind == "video" and r.label in ("REAL", "FAKE")
    assert 0.0 < r.p_fake < 1.0 and r.frames_sampled == 8
    assert len(r.tracks) == 1 and r.tracks[0].n_faces == 8
    face = r.tracks[0].faces[0]
    assert len(face.box) == 4 and face.time_s >= 0
    assert {"decode", "detect", "crop", "classify", "aggregate", "total"} <= set(r.timings)
    assert r.detector == "spectrum" and len(r.weights_sha256) == 64
    assert r.evidence is not None and r.evidence[0].shape[1:] == (96, 96, 3)


def test_to_dict_is_json_and_round_trips(scanner: Scanner) -> None:
    r = scanner.scan(SAMPLES / "astronaut.jpg")
    text = json.dumps(r.to_dict())
    assert "evidence" not in json.loads(text)
    back = ScanResult.from_dict(json.loads(text))
    assert back == r  # evidence is not compared
    assert back.tracks[0].faces[0].box == r.tracks[0].faces[0].box


def test_no_face_is_a_result(scanner: Scanner) -> None:
    r = scanner.scan(SAMPLES / "coffee.jpg")
    assert (r.status, r.p_fake, r.label, r.error) == ("no_face", 0.5, None, None)


def test_unreadable_file_is_an_error_result(scanner: Scanner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    r = scanner.scan(bad)
    assert r.status == "error" and r.p_fake == 0.5 and "bad.mp4" in (r.error or "")


def test_one_fake_track_makes_the_video_fake(tmp_path: Path) -> None:
    import cv2

    from tests._media import astronaut, write_video

    face = cv2.resize(astronaut()[30:230, 150:310], (100, 125))
    frame = np.full((240, 400, 3), 128, np.uint8)
    frame[40:165, 20:120] = face
    frame[40:165, 260:360] = face
    path = write_video(tmp_path / "two.mp4", [frame] * 6)
    r = Scanner(FixedDetector(), frames=6).scan(path)
    assert len(r.tracks) == 2
    by_id = {t.track_id: t.p_fake for t in r.tracks}
    assert by_id[1] > 0.5 > by_id[0]
    assert r.p_fake == pytest.approx(max(by_id.values()), abs=1e-5) and r.label == "FAKE"


def test_module_level_scan_reuses_the_scanner() -> None:
    a = scan(SAMPLES / "astronaut.jpg", detector="spectrum", frames=4)
    b = scan(SAMPLES / "astronaut.jpg", detector="spectrum", frames=4)
    assert a.p_fake == b.p_fake


def test_max_faces_per_track_thins_evenly(tmp_path: Path) -> None:
    import dataclasses

    det = FixedDetector()
    det.cfg = dataclasses.replace(det.cfg, max_faces_per_track=3)
    r = Scanner(det, frames=8).scan(face_clip(tmp_path / "f.mp4"))
    frames = [f.frame for f in r.tracks[0].faces]
    assert len(frames) == 3 and frames[0] == 0 and frames[-1] >= 6


class CropMean(Detector):
    """P(fake) from each crop's pixels alone; counts the crops it was asked to score."""

    def __init__(self, each_crop: bool, limit: int | None) -> None:
        import dataclasses

        super().__init__(
            dataclasses.replace(create_detector("spectrum").cfg, max_faces_per_track=limit)
        )
        self.scores_each_crop = each_crop
        self.seen = 0

    def score(self, faces: Faces) -> np.ndarray:
        self.seen += len(faces)
        return (faces.crops.mean(axis=(1, 2, 3)) / 255).astype(np.float32)


def late_face_clip(path: Path) -> Path:
    """No face in the first 4 of 10 frames, then the astronaut."""
    import cv2

    from tests._media import astronaut, write_video

    face = cv2.resize(astronaut()[30:230, 150:310], (110, 138))
    frames = []
    for i in range(10):
        frame = np.full((240, 320, 3), 128, np.uint8)
        if i >= 4:
            frame[50:188, 20 + 15 * i : 130 + 15 * i] = face
        frames.append(frame)
    return write_video(path, frames, fps=10.0)


@pytest.mark.parametrize("limit", [None, 3])
@pytest.mark.parametrize("clip", [face_clip, late_face_clip])
def test_scoring_while_decoding_gives_the_same_verdict(
    tmp_path: Path, limit: int | None, clip
) -> None:
    path = clip(tmp_path / "f.mp4")
    early_det, after_det = CropMean(True, limit), CropMean(False, limit)
    early_scanner = Scanner(early_det, frames=8)
    early_scanner._tail_parallel = 3  # scoring split over threads, as on a many-core machine
    early = early_scanner.scan(path)
    after = Scanner(after_det, frames=8).scan(path)
    assert early.status == after.status == "ok"
    faces = [[(f.frame, f.box, f.p_fake) for f in t.faces] for t in early.tracks]
    assert faces == [[(f.frame, f.box, f.p_fake) for f in t.faces] for t in after.tracks]
    assert early.p_fake == after.p_fake
    n_faces = sum(t.n_faces for t in early.tracks)
    assert after_det.seen == n_faces
    # a track over the whole video is guessed exactly (nothing scored twice or wasted); a
    # face that starts late makes thinning pick frames the guess may have skipped
    exact = limit is None or clip is face_clip
    assert early_det.seen == n_faces if exact else early_det.seen >= n_faces


def test_tail_scores_on_the_widened_detector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once decoding has ended, a scanner that built its detector scores the rest on a copy
    running on every core, with the same verdict as one whose detector was passed in."""
    import unmask.scanner as scanner_module

    monkeypatch.setattr(scanner_module, "usable_cpus", lambda: 4)
    path = face_clip(tmp_path / "f.mp4")
    built = Scanner("effnet_sbi", frames=8, threads=1)
    assert built._wide is not None and built._wide.session is not built.detector.session
    calls: list[int] = []
    real_score = built._wide.score
    built._wide.score = lambda faces: calls.append(len(faces)) or real_score(faces)  # type: ignore[method-assign]
    passed = Scanner(create_detector("effnet_sbi", threads=1), frames=8, threads=1)
    assert passed._wide is None
    a, b = built.scan(path), passed.scan(path)
    assert a.status == b.status == "ok" and sum(calls) > 0
    assert a.p_fake == b.p_fake
    assert [[f.p_fake for f in t.faces] for t in a.tracks] == [
        [f.p_fake for f in t.faces] for t in b.tracks
    ]
