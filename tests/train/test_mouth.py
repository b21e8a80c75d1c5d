"""Mouth-retrieval pseudo-fakes (sbi.p_mouth): another frame's mouth pasted inside the
face's own lips, nothing else touched, donors only from the same person's video, and no
random draw at all when the share is 0."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from unmask.train.mouth import INNER_LIPS, OUTER_LIPS, self_mouth


def _donor(
    crop: np.ndarray, mesh: np.ndarray, *, paint: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Another "frame" of the test face: moved and a little larger, its mouth and the
    skin around it (out to a third of the eye distance) painted green."""
    m = np.array([[1.04, 0.0, -6.0], [0.0, 1.04, 4.0]], np.float32)
    img = cv2.warpAffine(crop, m, crop.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    moved = mesh @ m[:, :2].T + m[:, 2]
    lips = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(moved[OUTER_LIPS]).astype(np.int32)], (1,))
    r = int(0.33 * np.linalg.norm(moved[263] - moved[33]))
    if paint:
        img[cv2.dilate(lips, np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0] = (20, 200, 20)
    return img, moved.astype(np.float32)


def test_the_donors_mouth_lands_on_the_faces_lips_and_nothing_else_changes(
    base: tuple[np.ndarray, np.ndarray, np.ndarray], mesh: np.ndarray
) -> None:
    crop = base[0]
    donor, donor_mesh = _donor(crop, mesh)
    lips = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(mesh[OUTER_LIPS]).astype(np.int32)], (1,))
    eye = float(np.linalg.norm(mesh[263] - mesh[33]))
    near = cv2.dilate(lips, np.ones((2 * int(0.3 * eye) + 1,) * 2, np.uint8)) > 0
    for seed in range(8):
        fake, mask = self_mouth(crop, mesh, donor, donor_mesh, rng=np.random.default_rng(seed))
        assert fake.shape == crop.shape and fake.dtype == np.uint8
        assert mask.shape == crop.shape[:2] and mask.min() >= 0 and mask.max() <= 1
        diff = np.abs(fake.astype(int) - crop.astype(int)).sum(axis=2)
        assert diff[mask < 1e-3].max() <= 1, seed  # outside the mask: the face's own pixels
        assert not (mask[~near] > 1e-3).any(), seed  # the mask stays at the mouth
        assert mask.max() > 0.3, seed
        inside = mask >= 0.9 * mask.max()
        # what was pasted is the donor's painted mouth, aligned onto these lips
        g_minus_r = fake[..., 1].astype(int) - fake[..., 0]
        before = crop[..., 1].astype(int) - crop[..., 0]
        assert (g_minus_r - before)[inside].mean() > 150 * mask.max(), seed


def test_without_a_donor_the_face_gives_its_own_mouth_moved(
    base: tuple[np.ndarray, np.ndarray, np.ndarray], mesh: np.ndarray
) -> None:
    crop = base[0]
    fake, mask = self_mouth(crop, mesh, None, None, rng=np.random.default_rng(3))
    diff = np.abs(fake.astype(int) - crop.astype(int)).sum(axis=2)
    assert diff[mask > 0.5].mean() > 3  # the mouth changed
    assert diff[mask < 1e-3].max() <= 1
    again, _ = self_mouth(crop, mesh, None, None, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(fake, again)  # reproducible from the seed
    inner = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(mesh[INNER_LIPS]).astype(np.int32)], (1,))
    assert inner.sum() > 0  # the inner-lip contour is a polygon on this face


def _faceset(base: tuple, mesh: np.ndarray) -> object:
    from unmask.train.faceset import FaceSet

    crop, box, lm = base
    n = 4  # two frames of one video, a photo of the same name and a fake of that video
    return FaceSet(
        crops=np.stack([crop] * n),
        boxes=np.stack([box] * n),
        landmarks=np.stack([lm] * n),
        mesh=np.stack([mesh] * n),
        labels=np.array([0, 0, 0, 1]),
        methods=np.array(["real", "real", "real", "Deepfakes"]),
        identities=np.array(["v", "v", "p", "v"]),
        groups=np.array(["videos", "videos", "photos", "videos"]),
        sources=np.array(["v.mp4", "v.mp4", "v.mp4", "v.mp4"]),
    )


def test_donors_are_other_real_frames_of_the_same_persons_video(
    base: tuple[np.ndarray, np.ndarray, np.ndarray], mesh: np.ndarray
) -> None:
    from unmask.train.torchdata import FaceDataset, _donors

    faces = _faceset(base, mesh)
    assert _donors(faces) == {0: [1], 1: [0], 2: []}  # type: ignore[arg-type]
    common = {"size": 64, "margin": 0.15, "align": True, "sbi": True, "augment": None}
    plain = FaceDataset(faces, **common)  # type: ignore[arg-type]
    zero = FaceDataset(faces, p_mouth=0.0, **common)  # type: ignore[arg-type]
    for k in range(len(plain)):  # a share of 0 draws nothing: the published samples
        np.testing.assert_array_equal(plain.sample(k)[0], zero.sample(k)[0])
    mouths = FaceDataset(faces, p_mouth=1.0, **common)  # type: ignore[arg-type]
    fakes = [k for k, (_, b) in enumerate(mouths.items) if b]
    assert len(fakes) == 3
    for k in fakes:
        crop, label, mask = mouths.sample_masked(k)
        assert label == 1 and mask is not None
        ys, _ = np.nonzero(mask > 0.5)
        assert ys.min() > 64 * 0.5  # the lower half of the crop: the mouth, not the face
        assert not np.array_equal(crop, plain.sample(k)[0])


def test_p_mouth_is_checked_and_described(tmp_path: Path) -> None:
    from unmask.errors import ConfigError
    from unmask.train.config import load_config
    from unmask.train.run import _describe_data

    path = tmp_path / "c.yaml"
    path.write_text("name: x\ndata:\n  real_photos: [p]\n")
    cfg = load_config(path, sets=["sbi.p_mouth=0.3"])
    assert "or (30% of the rest) mouth-retrieved pseudo-fakes" in _describe_data(cfg)
    with pytest.raises(ConfigError, match=r"sbi.p_mouth is a probability; got 1.5"):
        load_config(path, sets=["sbi.p_mouth=1.5"])


def test_mouth_contact_sheet_artifact(
    base: tuple[np.ndarray, np.ndarray, np.ndarray], mesh: np.ndarray, tmp_path: Path
) -> None:
    """Writes a contact sheet of mouth-retrieval pseudo-fakes (original | fake | mask) as a
    test artefact: the first two rows from the test face itself, the others from a
    donor "frame" (the face moved and enlarged)."""
    import os

    crop = base[0]
    donor, donor_mesh = _donor(crop, mesh, paint=False)
    rows = []
    for seed in range(4):
        d = (donor, donor_mesh) if seed >= 2 else (None, None)
        fake, mask = self_mouth(crop, mesh, *d, rng=np.random.default_rng(seed))
        rows.append(
            np.hstack([crop, fake, (np.repeat(mask[..., None], 3, 2) * 255).astype(np.uint8)])
        )
    out = Path(os.environ.get("UNMASK_ARTIFACTS", tmp_path)) / "mouth_contact_sheet.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    assert out.stat().st_size > 10_000
