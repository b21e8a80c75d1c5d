from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unmask.train.augment import Degradations, h264, jpeg
from unmask.train.faceset import identity_from_name
from unmask.train.sbi import ellipse_mask, hull_mask, self_blend
from unmask.train.warp import self_warp


def test_self_blend_changes_only_inside_the_mask(
    base: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    crop, _box, lm = base
    for seed in range(5):
        fake, mask = self_blend(crop, None, lm, rng=np.random.default_rng(seed))
        assert fake.shape == crop.shape and fake.dtype == np.uint8
        diff = np.abs(fake.astype(int) - crop.astype(int)).sum(axis=2)
        outside = mask < 1e-3
        inside = mask >= 0.9 * mask.max()
        assert inside.any() and outside.any()
        # where the mask is 0 the image is one of the two sources: either untouched or all jittered
        assert diff[inside].mean() > 0.2
        assert (diff[outside] == 0).mean() > 0.95 or diff[outside].mean() > 0.5


def test_masks_from_mesh_and_from_five_points(
    base: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    crop, _box, lm = base
    ell = ellipse_mask(lm, crop.shape[:2])
    cy, cx = np.argwhere(ell > 0).mean(0)
    assert abs(cx - lm[2, 0]) < 20 and abs(cy - lm[2, 1]) < 30  # centred near the nose
    square = np.array([[10, 10], [50, 10], [50, 50], [10, 50], [np.nan, np.nan]], np.float32)
    assert hull_mask(square, (64, 64)).sum() == pytest.approx(41 * 41, rel=0.05)


def test_degradations_keep_shape_and_change_pixels() -> None:
    rng = np.random.default_rng(0)
    img = (np.indices((96, 96)).sum(0) % 255).astype(np.uint8)[..., None].repeat(3, 2)
    assert jpeg(img, 30).shape == img.shape and not np.array_equal(jpeg(img, 30), img)
    assert h264(img[:95, :95], 35).shape == (95, 95, 3)
    always = Degradations(p_jpeg=1, p_h264=1, p_rescale=1, p_blur=1, p_noise=1, p_colour=1)
    out = always(img, rng)
    assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)


@pytest.mark.parametrize(
    ("name", "identity"),
    [
        ("dreamtalk__M030_front_angry_level3_001.mp4", "M030"),
        ("033_097.mp4", "ffpp033"),
        ("01__kitchen_pan.mp4", "ffpp01"),
        ("d10.mp4", "d10"),
    ],
)
def test_identity_from_name(name: str, identity: str) -> None:
    assert identity_from_name(name) == identity


@pytest.mark.parametrize(
    ("make", "name"),
    [(self_blend, "sbi_contact_sheet.png"), (self_warp, "warp_contact_sheet.png")],
)
def test_contact_sheet_artifact(
    base: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path, make: Any, name: str
) -> None:
    """Writes a contact sheet of pseudo-fakes (original | fake | mask, or where the warp
    moved) as a test artefact: self-blended and self-reenacted."""
    import cv2

    crop, _box, lm = base
    rows = []
    for seed in range(4):
        fake, mask = make(crop, None, lm, rng=np.random.default_rng(seed))
        rows.append(
            np.hstack([crop, fake, (np.repeat(mask[..., None], 3, 2) * 255).astype(np.uint8)])
        )
    out = Path(__import__("os").environ.get("UNMASK_ARTIFACTS", tmp_path)) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    assert out.stat().st_size > 10_000
