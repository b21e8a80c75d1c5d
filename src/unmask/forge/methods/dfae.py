"""``dfae``: the original deepfake autoencoder, trained per (source, target) pair on the CPU.

Faces of both actors are aligned to one canonical template (the Procrustes mean of the
pair's mesh landmarks, scaled into a ``resolution``-pixel square), an autoencoder with a
shared encoder and one decoder per identity learns to redraw each actor (see
``_dfae_net``), and the swap decodes the target's faces with the source's decoder. The
new face is warped back into the frame, recoloured (Reinhard) and Poisson-blended under the
feathered face-oval mask, like ``swap``.

The model is cached in ``workdir/dfae/<source>__<target>-<config hash>/model.pt`` and
checkpointed while it trains: a re-run reuses it, an interrupted run resumes, and a larger
``train_minutes`` or ``max_steps`` continues training. It is trained on the faces of the
clips passed to the first call for that pair.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from unmask._io import atomic_open
from unmask.errors import ConfigError, WeightsError
from unmask.forge.landmarks import mesh_topology
from unmask.forge.methods._blend import PasteOptions
from unmask.forge.methods._mesh import (
    apply_affine,
    crop_box,
    invert_affine,
    mean_shape,
    polygon_mask,
    similarity,
)
from unmask.forge.methods._registry import (
    Clip,
    ForgeResult,
    MethodSpec,
    check_range,
    finish,
    method_params,
    pair_tracks,
    register_method,
    slug,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from unmask.forge.methods._dfae_net import Autoencoder, TrainState

SPEC = MethodSpec(
    name="dfae",
    needs_source=True,
    needs_torch=True,
    trains_per_pair=True,
    description="deepfake autoencoder (shared encoder, a decoder per identity), trained per pair",
)
CHECKPOINT_VERSION = 1


def template(landmarks: np.ndarray, resolution: int, *, fill: float = 0.95) -> np.ndarray:
    """Canonical face (468, 2) in pixels of the aligned square: the mean shape of
    ``landmarks``, its face oval spanning ``fill`` of the square and centred."""
    ref = mean_shape(landmarks)
    oval = ref[mesh_topology().face_oval]
    lo, hi = oval.min(0), oval.max(0)
    scale = fill * resolution / float(max(hi - lo))
    return ((ref - (lo + hi) / 2) * scale + resolution / 2).astype(np.float32)


def align_faces(
    frames: list[np.ndarray],
    landmarks: np.ndarray,
    indices: np.ndarray,
    canon: np.ndarray,
    res: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces of ``frames[indices]`` aligned to ``canon`` (a template in a ``res``-pixel square).

    Returns the faces (N, R, R, 3) uint8, their soft face-oval masks (N, R, R) uint8 and the
    2x3 frame-to-face transforms (N, 2, 3). Large faces are shrunk with an area filter
    first, so that they do not alias.
    """
    oval = mesh_topology().face_oval
    faces = np.empty((len(indices), res, res, 3), np.uint8)
    masks = np.empty((len(indices), res, res), np.uint8)
    transforms = np.empty((len(indices), 2, 3))
    for k, t in enumerate(indices):
        m = similarity(landmarks[t], canon)
        scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
        frame, warp = frames[t], m
        if scale < 0.7:
            square = np.array([[0, 0], [res, 0], [0, res], [res, res]], np.float32)
            box = crop_box(apply_affine(invert_affine(m), square), frame.shape, margin=0.05)
            ys, xs = box.slices
            small = (max(round(box.shape[1] * scale), 1), max(round(box.shape[0] * scale), 1))
            frame = cv2.resize(frame[ys, xs], small, interpolation=cv2.INTER_AREA)
            fx, fy = small[0] / box.shape[1], small[1] / box.shape[0]
            # small-image pixel -> frame pixel (cv2.resize aligns pixel centres), then -> face
            back = np.array(
                [
                    [1 / fx, 0, box.x0 + 0.5 / fx - 0.5],
                    [0, 1 / fy, box.y0 + 0.5 / fy - 0.5],
                    [0, 0, 1],
                ]
            )
            warp = m @ back
        faces[k] = cv2.warpAffine(frame, warp, (res, res), borderMode=cv2.BORDER_REPLICATE)
        pts = apply_affine(m, landmarks[t])
        soft = polygon_mask(pts[oval], (res, res), erode=0.0, feather=res / 64)
        masks[k] = (soft * 255 + 0.5).astype(np.uint8)
        transforms[k] = m
    return faces, masks, transforms


def default_threads() -> int:
    """Half the CPU cores (at least 1): torch's threads spin, and on a busy machine two
    threads on two cores trained ~8x slower than one thread in our measurement."""
    return max(1, (os.cpu_count() or 2) // 2)


def loss_weights(
    landmarks: np.ndarray, indices: np.ndarray, transforms: np.ndarray, masks: np.ndarray
) -> np.ndarray:
    """Training weight maps (N, R, R) uint8 for aligned faces: 40% on the face oval (``masks``),
    100% on the eyes and the mouth (their outlines grown around their centres)."""
    topo = mesh_topology()
    res = masks.shape[1]
    out = (masks.astype(np.float32) * 0.4).astype(np.uint8)
    for k, t in enumerate(indices):
        pts = apply_affine(transforms[k], landmarks[t])
        features = np.zeros((res, res), np.uint8)
        for loop, grow in ((topo.left_eye, 1.6), (topo.right_eye, 1.6), (topo.mouth, 1.9)):
            ring = pts[loop]
            center = ring.mean(0)
            poly = np.round((center + (ring - center) * grow) * 16).astype(np.int32)
            cv2.fillPoly(features, [poly], (255,), cv2.LINE_AA, shift=4)
        np.maximum(out[k], features, out=out[k])
    return out


@contextmanager
def _torch_session(threads: int | None, rng: np.random.Generator) -> Iterator[None]:
    """Use ``threads`` CPU threads and a torch seed drawn from ``rng``; restore both after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads())
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**31)))
            yield
    finally:
        torch.set_num_threads(before)


@dataclass
class _Pair:
    """A trained (or loaded) model for one (source, target) pair."""

    model: Autoencoder
    canon: np.ndarray
    state: TrainState
    steps_now: int
    path: Path


@register_method("dfae")
@dataclass
class DeepfakeAutoencoder(PasteOptions):
    """The original deepfake autoencoder, trained per pair; see the module docstring.

    Training stops after ``train_minutes`` of training time or ``max_steps`` steps (a step
    is one batch of each identity), whichever comes first, counted across resumes.
    ``resolution`` (a multiple of 16), ``width`` and ``latent`` size the network; at most
    ``max_faces`` evenly spaced faces per actor are used for training. ``threads`` is the
    number of torch CPU threads (None: half the cores, see ``default_threads``). The pasting options are on
    ``PasteOptions``.

    >>> dfae = DeepfakeAutoencoder(resolution=64, train_minutes=20)  # or create_method("dfae")
    >>> dfae.spec.trains_per_pair
    True
    """

    resolution: int = 64
    width: int = 32
    latent: int = 256
    train_minutes: float = 20.0
    max_steps: int | None = None
    batch_size: int = 16
    learning_rate: float = 5e-4
    max_faces: int = 1500
    min_faces: int = 16
    threads: int | None = None
    checkpoint_seconds: float = 60.0
    spec: MethodSpec = field(default=SPEC, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resolution % 16 or not 16 <= self.resolution <= 256:
            raise ConfigError(
                f"resolution must be a multiple of 16 in [16, 256]; got {self.resolution}"
            )
        check_range("width", self.width, 4, 512)
        check_range("latent", self.latent, 8, 4096)
        check_range("train_minutes", self.train_minutes, 0.0, 10**6)
        check_range("max_steps", self.max_steps if self.max_steps is not None else 0, 0, 10**9)
        check_range("batch_size", self.batch_size, 1, 4096)
        check_range("learning_rate", self.learning_rate, 1e-7, 1.0)
        check_range("max_faces", self.max_faces, 1, 10**7)
        check_range("min_faces", self.min_faces, 1, 10**7)
        check_range("threads", self.threads or 1, 1, 1024)
        check_range("checkpoint_seconds", self.checkpoint_seconds, 0.0, 10**6)

    def model_dir(self, workdir: Path, source: Clip, target: Clip) -> Path:
        """Where the model for this (source actor, target actor) pair is cached."""
        key = {"source": source.actor_id, "target": target.actor_id, **self._net_dict()}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
        name = f"{slug(source.actor_id)}__{slug(target.actor_id)}-{digest}"
        return Path(workdir) / "dfae" / name

    def _net_dict(self) -> dict[str, int]:
        return {"resolution": self.resolution, "width": self.width, "latent": self.latent}

    def generate(
        self, target: Clip, source: Clip | None, *, rng: np.random.Generator, workdir: Path
    ) -> ForgeResult:
        """Train (or load) the pair's model, then redraw every target face as the source actor."""
        tracks = pair_tracks(
            self.spec, target, source, window=self.smooth_window, min_source_faces=self.min_faces
        )
        source = tracks.source_clip
        src_lm, tgt_lm, tgt_faces = tracks.source, tracks.target, tracks.target_faces
        changed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        params: dict[str, Any] = method_params(self)
        if len(tgt_faces):
            from unmask.forge.methods._dfae_net import swap_faces

            with _torch_session(self.threads, rng):
                pair = self.fit(target, source, src_lm, tgt_lm, rng=rng, workdir=workdir)
                faces, _, transforms = align_faces(
                    target.frames, tgt_lm, tgt_faces, pair.canon, self.resolution
                )
                swapped = swap_faces(pair.model, faces, identity=0)
            for k, t in enumerate(tgt_faces):
                changed[int(t)] = self._paste_back(
                    target.frames[t], tgt_lm[t], swapped[k], transforms[k]
                )
            history = pair.state.history or []
            params.update(
                train_steps=pair.state.step,
                train_seconds=round(pair.state.seconds, 3),
                trained_now_steps=pair.steps_now,
                final_loss=[round(v, 5) for v in history[-1][2:]] if history else None,
                model=pair.path.parent.name,
            )
        return finish(
            self.spec, target, changed, params, workdir=workdir, contact_sheet=self.contact_sheet
        )

    def _paste_back(
        self, frame: np.ndarray, points: np.ndarray, face: np.ndarray, to_face: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        box = self.face_box(frame, points)
        to_box = invert_affine(to_face)
        to_box[:, 2] -= box.origin
        size = (box.shape[1], box.shape[0])
        crop = cv2.warpAffine(
            face, to_box, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )
        ones = np.full(face.shape[:2], 255, np.uint8)
        valid = cv2.warpAffine(ones, to_box, size, borderMode=cv2.BORDER_CONSTANT) == 255
        return self.paste(frame, crop, points, box, valid)

    def fit(
        self,
        target: Clip,
        source: Clip,
        src_lm: np.ndarray,
        tgt_lm: np.ndarray,
        *,
        rng: np.random.Generator,
        workdir: Path,
    ) -> _Pair:
        """Load the pair's checkpoint if there is one; train until the budget is spent."""
        import torch

        from unmask.forge.methods._dfae_net import Autoencoder, NetConfig, TrainState, train

        path = self.model_dir(workdir, source, target) / "model.pt"
        model = Autoencoder(NetConfig(**self._net_dict()))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.learning_rate, betas=(0.9, 0.999))
        state = TrainState(history=[])
        if path.exists():
            canon = self._load(path, model, optimizer, state)
        else:
            both = np.concatenate([src_lm, tgt_lm])
            canon = template(both[np.isfinite(both).all(axis=(1, 2))], self.resolution)
        start = state.step
        if self._budget_left(state):
            data = []
            for clip, lm, role in ((source, src_lm, "source"), (target, tgt_lm, "target")):
                found = np.flatnonzero(np.isfinite(lm).all(axis=(1, 2)))
                if len(found) < self.min_faces:
                    clip.require_faces(self.min_faces, role=role)  # raises, naming the clip
                keep = found[
                    np.unique(
                        np.linspace(0, len(found) - 1, min(len(found), self.max_faces)).astype(int)
                    )
                ]
                faces, masks, to_face = align_faces(clip.frames, lm, keep, canon, self.resolution)
                data.append((faces, loss_weights(lm, keep, to_face, masks)))
            last_save = time.monotonic()

            def checkpoint(st: TrainState) -> None:
                nonlocal last_save
                if time.monotonic() - last_save >= self.checkpoint_seconds:
                    self._save(path, model, optimizer, st, canon, source, target)
                    last_save = time.monotonic()

            train(
                model,
                optimizer,
                (data[0], data[1]),
                state,
                rng=rng,
                batch_size=self.batch_size,
                max_steps=self.max_steps,
                max_seconds=self.train_minutes * 60.0,
                on_log=checkpoint,
            )
            self._save(path, model, optimizer, state, canon, source, target)
        return _Pair(model, canon, state, state.step - start, path)

    def _budget_left(self, state: TrainState) -> bool:
        steps_left = self.max_steps is None or state.step < self.max_steps
        return steps_left and state.seconds < self.train_minutes * 60.0

    def _save(
        self,
        path: Path,
        model: Autoencoder,
        optimizer: Any,
        state: TrainState,
        canon: np.ndarray,
        source: Clip,
        target: Clip,
    ) -> None:
        import torch

        blob = {
            "version": CHECKPOINT_VERSION,
            "net": self._net_dict(),
            "source_actor": source.actor_id,
            "target_actor": target.actor_id,
            "template": torch.from_numpy(np.ascontiguousarray(canon)),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": state.step,
            "seconds": state.seconds,
            "history": [list(h) for h in state.history or []],
        }
        with atomic_open(path, "wb") as f:
            torch.save(blob, f)

    def _load(
        self, path: Path, model: Autoencoder, optimizer: Any, state: TrainState
    ) -> np.ndarray:
        import torch

        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("version") != CHECKPOINT_VERSION or blob.get("net") != self._net_dict():
                raise ValueError(f"version {blob.get('version')} / network {blob.get('net')}")
            model.load_state_dict(blob["model"], strict=True)
            optimizer.load_state_dict(blob["optimizer"])
        except Exception as err:
            raise WeightsError(
                f"{path}: cannot resume the dfae model ({err}); delete {path.parent} to train afresh"
            ) from err
        state.step = int(blob["step"])
        state.seconds = float(blob["seconds"])
        state.history = [tuple(h) for h in blob["history"]]
        return np.asarray(blob["template"].numpy(), np.float32)
