"""What ``swap`` and ``reenact`` do to the face, checked in the pixels and with the mesh."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.forge.methods.forge_footage import CHIN, JAW_OPEN, LOWER_LIP, NOSE_TIP
from unmask.forge.methods import Clip, create_method


def test_swap_carries_the_source_face_over(
    target_clip: Clip, source_clip: Clip, tmp_path: Path
) -> None:

    result = create_method("swap").generate(
        target_clip, source_clip, rng=np.random.default_rng(0), workdir=tmp_path
    )
    for i in np.flatnonzero(target_clip.has_face):
        x, y = np.round(target_clip.landmarks[i, NOSE_TIP]).astype(int)
        before = target_clip.frames[i][y - 2 : y + 3, x - 2 : x + 3].mean()
        after = result.frames[i][y - 2 : y + 3, x - 2 : x + 3].mean()
        assert after < before - 40, f"frame {i}: the source's dark nose mark did not come over"
    assert result.params["source_frames_used"] >= 1


@pytest.mark.parametrize("blend", ["poisson", "opencv", "alpha"])
@pytest.mark.parametrize("color", ["reinhard", "none"])
def test_swap_blend_and_colour_options(
    blend: str, color: str, target_clip: Clip, source_clip: Clip, tmp_path: Path
) -> None:
    swap = create_method("swap", blend=blend, color=color, contact_sheet=False)
    result = swap.generate(target_clip, source_clip, rng=np.random.default_rng(0), workdir=tmp_path)
    assert result.contact_sheet is None and not list(tmp_path.iterdir())
    diff = np.abs(result.frames[0].astype(int) - target_clip.frames[0]).sum(2)
    assert diff[result.masks[0] > 0.5].mean() > 3.0
    assert result.params["blend"] == blend and result.params["color"] == color


def vertical_shift(before: np.ndarray, after: np.ndarray, point: np.ndarray, half: int = 6) -> int:
    """How far (px, down > 0) the patch around ``point`` moved from ``before`` to ``after``."""
    x, y = np.round(point).astype(int)
    patch = before[y - half : y + half, x - half : x + half]
    window = after[y - 3 * half : y + 3 * half, x - half : x + half]
    scores = cv2.matchTemplate(window, patch, cv2.TM_SQDIFF)
    return int(np.argmin(scores[:, 0])) - 2 * half


def test_reenact_opens_the_target_jaw(
    target_clip: Clip, driving_clip: Clip, tmp_path: Path
) -> None:

    reenact = create_method("reenact")
    result = reenact.generate(
        target_clip, driving_clip, rng=np.random.default_rng(0), workdir=tmp_path
    )
    for i in np.flatnonzero(target_clip.has_face):
        before, after = target_clip.frames[i], result.frames[i]
        below_mouth = target_clip.landmarks[i, [CHIN, LOWER_LIP]].mean(0)
        shift = vertical_shift(before, after, below_mouth)
        if i in JAW_OPEN:  # the driving clip plays along the target's frames
            assert shift >= 2, f"frame {i}: the chin moved {shift} px, not down"
        else:
            assert shift <= 0, f"frame {i}: the chin moved down {shift} px with the jaw closed"
        top = int(target_clip.landmarks[i, 10, 1])  # the forehead does not move
        assert not result.masks[i][: top - 3].any()
        assert np.array_equal(after[: top - 3], before[: top - 3])
