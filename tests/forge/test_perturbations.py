from __future__ import annotations

import numpy as np
import pytest

from unmask.errors import ConfigError, UnknownNameError
from unmask.forge.perturbations import (
    VideoFrames,
    apply_perturbations,
    get_perturbation,
    list_perturbations,
    register_perturbation,
    sample_params,
)

from .footage import face_frames


@pytest.fixture(scope="module")
def video() -> VideoFrames:
    return VideoFrames(face_frames(0, n=6, size=96), fps=30.0, crf=23)


def test_the_dfdc_perturbations_are_registered() -> None:
    assert set(list_perturbations()) >= {
        "crf",
        "downscale",
        "fps",
        "blur",
        "noise",
        "brightness_contrast",
        "text",
        "shapes",
        "flip",
        "image",
    }


@pytest.mark.parametrize("name", list_perturbations())
def test_each_perturbation_is_deterministic_from_its_params(name: str, video: VideoFrames) -> None:
    params = sample_params(name, np.random.default_rng(5))
    first = apply_perturbations(video, [{"name": name, "params": params}])
    again = apply_perturbations(video, [{"name": name, "params": params}])
    assert len(first.frames) == len(again.frames) >= 1
    for a, b in zip(first.frames, again.frames, strict=True):
        assert a.dtype == np.uint8 and a.ndim == 3
        assert np.array_equal(a, b)
    changed = (
        first.crf != video.crf
        or first.fps != video.fps
        or first.frames[0].shape != video.frames[0].shape
        or not np.array_equal(first.frames[0], video.frames[0])
    )
    assert changed, f"{name} left the video unchanged"


def test_the_input_frames_are_not_modified(video: VideoFrames) -> None:
    before = [f.copy() for f in video.frames]
    every = [
        {"name": n, "params": sample_params(n, np.random.default_rng(1))}
        for n in list_perturbations()
    ]
    apply_perturbations(video, every)
    assert all(np.array_equal(a, b) for a, b in zip(before, video.frames, strict=True))


def test_dfdc_values(video: VideoFrames) -> None:
    small = apply_perturbations(video, [{"name": "downscale", "params": {"factor": 0.25}}])
    assert small.frames[0].shape[:2] == (24, 24)
    slow = apply_perturbations(video, [{"name": "fps", "params": {"fps": 15.0}}])
    assert slow.fps == 15.0 and len(slow.frames) == 3
    assert np.array_equal(slow.frames[1], video.frames[2])
    coded = apply_perturbations(video, [{"name": "crf", "params": {"crf": 35}}])
    assert coded.crf == 35


def test_ranges_are_sampled_inside_their_bounds() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = sample_params("brightness_contrast", rng, {"brightness": [-5, 5]})
        assert isinstance(p["brightness"], int) and -5 <= p["brightness"] <= 5
        assert 0.6 <= p["contrast"] <= 1.4


def test_unknown_names_and_parameters_suggest_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'blur'"):
        get_perturbation("blurr")
    with pytest.raises(ConfigError, match="did you mean 'sigma'"):
        sample_params("blur", np.random.default_rng(0), {"sigmaa": 2.0})
    with pytest.raises(ConfigError, match="reversed"):
        sample_params("blur", np.random.default_rng(0), {"sigma": [3.0, 1.0]})


def test_registering_a_name_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_perturbation("blur", stage=2, sigma=1.0)(lambda video, *, sigma: video)


def test_image_overlay_from_a_folder(tmp_path, video: VideoFrames) -> None:
    from PIL import Image

    Image.fromarray(np.full((40, 60, 3), (0, 255, 0), np.uint8)).save(tmp_path / "green.png")
    params = {"scale": 0.5, "alpha": 1.0, "seed": 3, "folder": str(tmp_path)}
    out = apply_perturbations(video, [{"name": "image", "params": params}])
    green = np.all(out.frames[0] == (0, 255, 0), axis=-1)
    assert green.sum() == 48 * 48
    with pytest.raises(ConfigError, match="no images found"):
        apply_perturbations(
            video, [{"name": "image", "params": {**params, "folder": str(tmp_path / "x")}}]
        )
