"""Every registered forge method on tiny generated clips: the contract of ``generate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.forge.methods.forge_footage import JAW_OPEN
from unmask.errors import ConfigError, FaceNotFoundError
from unmask.forge.methods import Clip, ForgeResult, create_method, list_methods

# Keep the trained method tiny so that the suite stays fast.
FAST: dict[str, dict[str, Any]] = {
    "dfae": {
        "resolution": 32,
        "width": 8,
        "latent": 32,
        "batch_size": 4,
        "max_steps": 15,
        "min_faces": 2,
    }
}
# The clip each method gets as its source (reenact needs expression changes to show).
SOURCE = {"reenact": "driving_clip"}


def run(name: str, target: Clip, source: Clip | None, workdir: Path, **kwargs: Any) -> ForgeResult:
    method = create_method(name, **{**FAST.get(name, {}), **kwargs})
    return method.generate(target, source, rng=np.random.default_rng(0), workdir=workdir)


@pytest.fixture(scope="module", params=list_methods())
def forged(
    request: pytest.FixtureRequest, target_clip: Clip, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, ForgeResult, Path]:
    name = request.param
    source = request.getfixturevalue(SOURCE.get(name, "source_clip"))
    workdir = tmp_path_factory.mktemp(name)
    return name, run(name, target_clip, source, workdir), workdir


def test_registry_lists_the_three_methods() -> None:
    assert {"swap", "reenact", "dfae"} <= set(list_methods())
    assert list_methods("re*") == ["reenact"]


def test_output_has_the_target_shape(
    forged: tuple[str, ForgeResult, Path], target_clip: Clip
) -> None:
    _, result, _ = forged
    assert len(result.frames) == len(result.masks) == len(target_clip.frames)
    for frame, mask in zip(result.frames, result.masks, strict=True):
        assert frame.shape == target_clip.frames[0].shape and frame.dtype == np.uint8
        assert mask.shape == target_clip.size and mask.dtype == np.float32
        assert mask.min() >= 0.0 and mask.max() <= 1.0


def test_pixels_change_inside_the_mask_only(
    forged: tuple[str, ForgeResult, Path], target_clip: Clip
) -> None:
    name, result, _ = forged
    for i in np.flatnonzero(target_clip.has_face):
        if name == "reenact" and i not in JAW_OPEN:
            continue  # the driving face barely moves in the other frames
        before, after, mask = (
            target_clip.frames[i].astype(int),
            result.frames[i].astype(int),
            result.masks[i],
        )
        diff = np.abs(after - before).sum(2)
        assert (mask > 0.5).sum() > 100, f"{name}: frame {i} has almost no mask"
        assert diff[mask > 0.5].mean() > 3.0, f"{name}: frame {i} barely changed inside its mask"
        assert (diff[mask == 0] == 0).all(), f"{name}: frame {i} changed outside its mask"
        corners = np.zeros_like(mask, bool)
        corners[:10, :10] = corners[:10, -10:] = corners[-10:, :10] = corners[-10:, -10:] = True
        assert (mask[corners] == 0).all(), f"{name}: frame {i} masks pixels far from the face"


def test_frames_without_a_face_pass_through(
    forged: tuple[str, ForgeResult, Path], target_clip: Clip
) -> None:
    _, result, _ = forged
    (i,) = np.flatnonzero(~target_clip.has_face)
    assert np.array_equal(result.frames[i], target_clip.frames[i])
    assert not result.masks[i].any()


def test_params_are_json_and_name_the_method(forged: tuple[str, ForgeResult, Path]) -> None:
    name, result, _ = forged
    params = json.loads(json.dumps(result.params))
    assert params["method"] == name
    assert params["frames_changed"] == 5


def test_contact_sheet_is_written(forged: tuple[str, ForgeResult, Path], target_clip: Clip) -> None:
    name, result, workdir = forged
    assert result.contact_sheet is not None and result.contact_sheet.is_relative_to(workdir)
    sheet = cv2.imread(str(result.contact_sheet))
    assert sheet is not None, f"{name}: contact sheet is not a readable PNG"
    assert (
        sheet.shape[1] == 3 * 320 and sheet.shape[0] == 4 * 320
    )  # 4 rows of 160px frames scaled x2


@pytest.mark.parametrize("name", list_methods())
def test_target_without_any_face_is_returned_unchanged(
    name: str, source_clip: Clip, tmp_path: Path
) -> None:
    frames = [np.full((64, 64, 3), 90, np.uint8) for _ in range(3)]
    target = Clip(frames, np.full((3, 468, 2), np.nan, np.float32), 25.0, "nobody", "empty-video")
    result = run(name, target, source_clip, tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(result.frames, frames, strict=True))
    assert not any(m.any() for m in result.masks)
    assert result.params["frames_changed"] == 0


@pytest.mark.parametrize("name", list_methods())
def test_source_without_faces_names_actor_and_video(
    name: str, target_clip: Clip, tmp_path: Path
) -> None:
    if not create_method(name).spec.needs_source:
        pytest.skip(f"{name} takes no source")
    frames = [np.full((64, 64, 3), 90, np.uint8) for _ in range(4)]
    faceless = Clip(
        frames, np.full((4, 468, 2), np.nan, np.float32), 25.0, "actor-7", "empty-video"
    )
    with pytest.raises(
        FaceNotFoundError, match=r"'empty-video' of actor 'actor-7' has a face in 0 of 4"
    ):
        run(name, target_clip, faceless, tmp_path)


@pytest.mark.parametrize("name", list_methods())
def test_missing_source_is_a_config_error(name: str, target_clip: Clip, tmp_path: Path) -> None:
    if not create_method(name).spec.needs_source:
        pytest.skip(f"{name} takes no source")
    with pytest.raises(ConfigError, match="needs a source clip"):
        run(name, target_clip, None, tmp_path)
