"""Mouth-retrieval pseudo-fakes: a real face whose mouth comes from another frame of the
same person.

Face2Face fills the mouth of a reenacted face with the target's own mouth from another
frame whose lips match (mouth retrieval); NeuralTextures re-renders the mouth region; forge's
``reenact`` does the former. Either way the identity, skin and lighting are the face's own
and the one trace is a mouth that does not belong to the rest of the frame, pasted along
the lips with an edge that is often hard. Self-blending (``sbi.py``) never makes that, and
self-warping (``warp.py``) moves pixels without pasting any. This makes it from real
footage alone:

1. a donor: another face of the same source video (a different moment, so another mouth
   shape, the same person and light), or, where the source has no other face (a photo),
   the face itself, shifted and rescaled a little and its detail changed;
2. the donor aligned on the face by a similarity fitted on the lip points of both meshes;
3. pasted inside the face's own mouth: the opening between the inner lips (as Face2Face's
   retrieval fills it) or the whole lip region, dilated at random, with an edge from hard
   to feathered, and at random the donor's colour or detail changed a little.

    >>> fake, mask = self_mouth(crop, mesh, donor, donor_mesh, rng=np.random.default_rng(0))  # doctest: +SKIP
"""

from __future__ import annotations

import cv2
import numpy as np

from unmask.train.sbi import _colour_jitter, _frequency_jitter, hull_mask

# MediaPipe 468-point mesh: the outer and the inner lip contours, in order around the mouth.
OUTER_LIPS = np.array(
    [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
)
INNER_LIPS = np.array(
    [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
)
_EYES = (33, 263)  # outer eye corners: the eye distance


def _polygon_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], (1,))
    return mask.astype(np.float32)


def _aligned_donor(
    donor: np.ndarray, donor_mesh: np.ndarray, mesh: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """The donor image moved so that its lips lie on the face's (a similarity fitted on
    both lip contours; the identity if the fit fails)."""
    src = donor_mesh[np.r_[OUTER_LIPS, INNER_LIPS]].astype(np.float32)
    dst = mesh[np.r_[OUTER_LIPS, INNER_LIPS]].astype(np.float32)
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if m is None:
        m = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    return cv2.warpAffine(
        donor, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def _shifted(img: np.ndarray, rng: np.random.Generator, eye: float) -> np.ndarray:
    """The face itself as its own donor: moved by up to a tenth of the eye distance and
    rescaled by up to 5% about its centre."""
    h, w = img.shape[:2]
    s = float(rng.uniform(0.95, 1.05))
    tx, ty = rng.uniform(-0.1, 0.1, 2) * eye
    m = np.array([[s, 0, 0], [0, s, 0]], np.float32)
    m[:, 2] = (w / 2, h / 2) - m[:, :2] @ (w / 2, h / 2) + (tx, ty)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def self_mouth(
    img: np.ndarray,
    mesh: np.ndarray,
    donor: np.ndarray | None,
    donor_mesh: np.ndarray | None,
    *,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A mouth-retrieval pseudo-fake of ``img`` (RGB uint8, with its finite 468-point
    ``mesh``) and the mask pasted (float32 in [0, 1]); ``donor`` (with ``donor_mesh``) is
    another face of the same person in the same base-crop geometry, or None to use the
    face itself, shifted and re-detailed."""
    shape = (int(img.shape[0]), int(img.shape[1]))
    eye = float(np.linalg.norm(mesh[_EYES[1]] - mesh[_EYES[0]]))
    have_donor = donor is not None and donor_mesh is not None and np.isfinite(donor_mesh).all()
    if have_donor:
        assert donor is not None and donor_mesh is not None
        source = _aligned_donor(donor, donor_mesh, mesh, shape)
    else:
        source = _frequency_jitter(_shifted(img, rng, eye), rng)
    if rng.random() < 0.3:
        source = _colour_jitter(source, rng)
    if rng.random() < 0.3:
        source = _frequency_jitter(source, rng)
    inner = _polygon_mask(mesh[INNER_LIPS], shape)
    # the opening between the lips when there is one (Face2Face's retrieval), else the lips
    if rng.random() < 0.5 and inner.sum() > 0.02 * eye * eye:
        mask = inner
    else:
        mask = hull_mask(mesh[OUTER_LIPS], shape)
        grow = int(rng.integers(0, max(1, round(0.15 * eye)) + 1))
        if grow:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
            mask = cv2.dilate(mask, kernel)
    if rng.random() < 0.6:  # feathered; else the hard edge of a pasted polygon
        sigma = float(rng.uniform(0.5, max(0.6, 0.05 * eye)))
        mask = np.clip(cv2.GaussianBlur(mask, (0, 0), sigma), 0.0, 1.0)
    m = mask[..., None]
    fake = source.astype(np.float32) * m + img.astype(np.float32) * (1 - m)
    return np.clip(fake + 0.5, 0, 255).astype(np.uint8), mask.astype(np.float32)
