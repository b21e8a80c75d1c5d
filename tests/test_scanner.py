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
