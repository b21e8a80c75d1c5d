"""The deepfake autoencoder: it learns, it is cached per pair, it resumes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from unmask.errors import FaceNotFoundError, WeightsError
from unmask.forge.methods import Clip, create_method
from unmask.forge.methods._dfae_net import (
    Autoencoder,
    NetConfig,
    TrainState,
    augment,
    swap_faces,
    train,
)
from unmask.forge.methods.dfae import align_faces, template

TINY = {
    "resolution": 32,
    "width": 8,
    "latent": 32,
    "batch_size": 4,
    "min_faces": 2,
    "contact_sheet": False,
}


def aligned(clip: Clip, canon: np.ndarray, res: int = 32) -> tuple[np.ndarray, np.ndarray]:
    faces, masks, _ = align_faces(
        clip.frames, clip.landmarks, np.flatnonzero(clip.has_face), canon, res
    )
    return faces, masks


def test_faces_are_aligned_to_the_template(target_clip: Clip, source_clip: Clip) -> None:
    canon = template(np.concatenate([target_clip.landmarks, source_clip.landmarks]), 32)
    faces, masks = aligned(target_clip, canon)
    assert faces.shape == (5, 32, 32, 3) and masks.shape == (5, 32, 32)
    # the target drifts right in the frames but not in the aligned faces
    assert np.abs(faces[0].astype(int) - faces[-1]).mean() < 12
    assert masks[:, 16, 16].min() == 255 and masks[:, 0, 0].max() == 0


def test_augment_warps_the_input_not_the_target() -> None:
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    masks = np.full((3, 32, 32), 255, np.uint8)
    x, y, m = augment(faces, masks, rng)
    assert x.shape == y.shape == (3, 3, 32, 32) and m.shape == (3, 1, 32, 32)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.abs(x - y).mean() > 0.01  # the warp changed the input


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread, as the method itself uses on two cores (two spin on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_training_lowers_the_loss(target_clip: Clip, source_clip: Clip) -> None:
    torch.manual_seed(0)
    canon = template(np.concatenate([target_clip.landmarks, source_clip.landmarks]), 32)
    data = (aligned(source_clip, canon), aligned(target_clip, canon))
    model = Autoencoder(NetConfig(resolution=32, width=8, latent=32))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    state = train(
        model,
        opt,
        data,
        TrainState(),
        rng=np.random.default_rng(0),
        batch_size=4,
        max_steps=40,
        max_seconds=120.0,
        log_every=10,
    )
    assert state.step == 40 and state.history is not None and len(state.history) == 4
    first, last = state.history[0], state.history[-1]
    assert last[2] < 0.8 * first[2] and last[3] < 0.8 * first[3], state.history
    out = swap_faces(model, data[1][0], identity=0)
    assert out.shape == data[1][0].shape and out.dtype == np.uint8


def test_model_is_cached_and_resumed_per_pair(
    target_clip: Clip, source_clip: Clip, tmp_path: Path
) -> None:
    def forge(max_steps: int) -> dict[str, object]:
        method = create_method("dfae", max_steps=max_steps, **TINY)
        return method.generate(
            target_clip, source_clip, rng=np.random.default_rng(1), workdir=tmp_path
        ).params

    first = forge(6)
    assert first["train_steps"] == 6 and first["trained_now_steps"] == 6
    (model_dir,) = (tmp_path / "dfae").iterdir()
    assert (
        model_dir.name.startswith("mirror-actor__astronaut-") and (model_dir / "model.pt").is_file()
    )
    again = forge(6)  # a re-run reuses the trained model
    assert again["train_steps"] == 6 and again["trained_now_steps"] == 0
    more = forge(9)  # a bigger budget resumes training
    assert more["train_steps"] == 9 and more["trained_now_steps"] == 3
    assert len(list((tmp_path / "dfae").iterdir())) == 1


def test_a_broken_checkpoint_says_how_to_recover(
    target_clip: Clip, source_clip: Clip, tmp_path: Path
) -> None:
    method = create_method("dfae", max_steps=2, **TINY)
    path = method.model_dir(tmp_path, source_clip, target_clip) / "model.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"delete .* to train afresh"):
        method.generate(target_clip, source_clip, rng=np.random.default_rng(0), workdir=tmp_path)


def test_too_few_target_faces_to_train(
    source_clip: Clip, target_clip: Clip, tmp_path: Path
) -> None:
    method = create_method("dfae", max_steps=2, **{**TINY, "min_faces": 6})
    with pytest.raises(
        FaceNotFoundError,
        match=r"target clip 'target-video' of actor 'astronaut' has a face in 5 of 6",
    ):
        method.generate(target_clip, source_clip, rng=np.random.default_rng(0), workdir=tmp_path)


def test_large_faces_are_shrunk_to_the_same_alignment(target_clip: Clip) -> None:
    frame, points = target_clip.frames[0], target_clip.landmarks[0]
    canon = template(target_clip.landmarks, 64)
    big = cv2.resize(frame, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big_points = points * 4 + 1.5  # pixel centres of a 4x resize
    small_face, _, m_small = align_faces([frame], points[None], np.array([0]), canon, 64)
    big_face, _, m_big = align_faces([big], big_points[None], np.array([0]), canon, 64)
    assert (
        np.sqrt(abs(np.linalg.det(m_big[0][:, :2])))
        < 0.7
        <= np.sqrt(abs(np.linalg.det(m_small[0][:, :2])))
    )
    assert np.abs(small_face.astype(int) - big_face).mean() < 3
