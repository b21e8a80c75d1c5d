"""Torch datasets over a FaceSet: self-blended fakes and degradations made on the fly.

Items are uint8 (H, W, 3) crops; the model normalises them itself (the exported ONNX
takes the same uint8 input as the scanner gives it). Randomness comes from a generator
seeded by (seed, epoch, item), so a run is reproducible and can resume mid-way.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from unmask.train.augment import Degradations
from unmask.train.config import AugmentCfg
from unmask.train.faceset import FaceSet, final_crop
from unmask.train.mouth import self_mouth
from unmask.train.sbi import self_blend
from unmask.train.warp import self_warp


def degradations_from(cfg: AugmentCfg) -> Degradations:
    return Degradations(
        p_jpeg=cfg.p_jpeg,
        p_h264=cfg.p_h264,
        p_rescale=cfg.p_rescale,
        p_blur=cfg.p_blur,
        p_noise=cfg.p_noise,
        p_colour=cfg.p_colour,
    )


def jitter_box(box: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Scale and shift a box by up to ``amount`` of its size (detector boxes wobble)."""
    if amount <= 0:
        return box
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    s = 1 + rng.uniform(-amount, amount)
    cx = (x1 + x2) / 2 + rng.uniform(-amount, amount) * w
    cy = (y1 + y2) / 2 + rng.uniform(-amount, amount) * h
    return np.array([cx - w * s / 2, cy - h * s / 2, cx + w * s / 2, cy + h * s / 2], np.float32)


class FaceDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Each face as itself (its label) and, for real faces with ``sbi``, a pseudo-fake:
    self-blended, or self-reenacted (``warp``) with probability ``p_warp``, or (of the
    others, with probability ``p_mouth``) given the mouth of another face of its source
    video (``mouth``; the face itself, moved, where the source has no other). With
    ``p_fake_from_real`` < 1 only that share of the real faces (a fixed draw from the
    seed) yields one.

    ``train=False`` gives a fixed, un-augmented set (the pseudo-fakes still use a fixed seed
    per item), for validation and calibration.
    """

    def __init__(
        self,
        faces: FaceSet,
        *,
        size: int,
        margin: float,
        align: bool,
        sbi: bool,
        augment: AugmentCfg | None,
        seed: int = 0,
        train: bool = True,
        p_fake_from_real: float = 1.0,
        p_warp: float = 0.0,
        p_mouth: float = 0.0,
    ) -> None:
        self.faces = faces
        self.p_warp, self.p_mouth = p_warp, p_mouth
        self.donors = _donors(faces) if p_mouth > 0 else {}
        self.size, self.margin, self.align = size, margin, align
        self.augment = augment if train else None
        self.degrade = degradations_from(augment) if (augment and train) else None
        self.seed, self.train, self.epoch = seed, train, 0
        items = [(i, False) for i in range(len(faces))]
        if sbi:
            reals = np.flatnonzero(faces.labels == 0)
            if p_fake_from_real < 1.0:
                # a stream apart from the per-item ones ([seed, epoch, item])
                keep = np.random.default_rng([seed, 7]).random(len(reals)) < p_fake_from_real
                reals = reals[keep]
            items += [(i, True) for i in reals]
        self.items = items

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        return np.array(
            [1 if blend else int(self.faces.labels[i]) for i, blend in self.items], np.float32
        )

    def pseudo_fakes(self) -> np.ndarray:
        """(len,) bool: which samples are pseudo-fakes made from real faces (the rest are
        the faces themselves, real or labelled fake), in sample order."""
        return np.array([blend for _, blend in self.items], bool)

    def sample(self, k: int) -> tuple[np.ndarray, int]:
        crop, label, _ = self.sample_masked(k)
        return crop, label

    def sample_masked(self, k: int) -> tuple[np.ndarray, int, np.ndarray | None]:
        """:meth:`sample` and where the sample was manipulated, as a float32 (size, size)
        map in [0, 1] cut with the crop's geometry: a pseudo-fake's blend (or warp) mask,
        zeros for a real face, None for a labelled fake (where is not known). The same
        random draws as :meth:`sample`, so the crop is the same."""
        i, blend = self.items[k]
        rng = np.random.default_rng([self.seed, self.epoch if self.train else 0, k])
        f = self.faces
        img, label = f.crops[i], int(f.labels[i])
        mesh = f.mesh[i] if np.isfinite(f.mesh[i]).all() else None
        where: np.ndarray | None = None if label else np.zeros(img.shape[:2], np.float32)
        if blend:
            # no draw when p_warp is 0, so the published recipe's samples stay as they were
            warp = self.p_warp > 0 and rng.random() < self.p_warp
            mouth = not warp and self.p_mouth > 0 and rng.random() < self.p_mouth
            if mouth and mesh is not None:
                others = self.donors.get(i, [])
                j = others[int(rng.integers(len(others)))] if others else None
                donor = None if j is None else (f.crops[j], f.mesh[j])
                img, where = self_mouth(img, mesh, *(donor or (None, None)), rng=rng)
            else:
                make = self_warp if warp else self_blend
                img, where = make(img, mesh, f.landmarks[i], rng=rng)
            label = 1
        box, lm = f.boxes[i], f.landmarks[i]
        if self.augment:
            box = jitter_box(box, self.augment.box_jitter, rng)
        if self.degrade is not None:
            img = self.degrade(img, rng)
        crop = final_crop(img, box, lm, size=self.size, margin=self.margin, align=self.align)
        mask = None
        if where is not None:
            mask = final_crop(
                np.asarray(where, np.float32),
                box,
                lm,
                size=self.size,
                margin=self.margin,
                align=self.align,
            )
        if self.augment and rng.random() < self.augment.p_flip:
            crop = np.ascontiguousarray(crop[:, ::-1])
            mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])
        return crop, label, mask

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        crop, label = self.sample(k)
        return torch.from_numpy(crop), torch.tensor(float(label))


def _donors(faces: FaceSet) -> dict[int, list[int]]:
    """For each real face with a mesh, the other real faces with a mesh of the same person
    in the same source file (the frames of one video): the mouths a mouth-retrieval
    pseudo-fake may take. (File names alone repeat across FaceForensics++'s folders.)"""
    by_source: dict[tuple[str, str], list[int]] = {}
    ok = np.isfinite(faces.mesh).all(axis=(1, 2)) & (faces.labels == 0)
    for i in np.flatnonzero(ok):
        key = (str(faces.identities[i]), str(faces.sources[i]))
        by_source.setdefault(key, []).append(int(i))
    return {i: [j for j in group if j != i] for group in by_source.values() for i in group}
