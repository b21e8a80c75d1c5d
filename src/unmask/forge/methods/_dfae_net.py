"""The original deepfake autoencoder (2017): one shared encoder, one decoder per identity.

Layout as in the first public deepfakes code, with the widths as parameters so it trains
on a CPU: encoder = four 5x5 stride-2 convolutions, a dense bottleneck, a dense layer back
to a small feature map and one pixel-shuffle upscale; each decoder = three pixel-shuffle
upscales and a 5x5 convolution to RGB (sigmoid). ``width=128, latent=1024`` at 64 px is
the original; the default here is a quarter of its width.

Training is the original recipe: each identity's aligned faces are randomly transformed
(rotation, zoom, shift, flip), then randomly warped (a jittered 5x5 grid); the decoder of
that identity must reconstruct the unwarped face from the warped one. The loss is L1,
weighted up on the face and more on the eyes and mouth (as faceswap's eye and mouth
multipliers), so that the features that make a face recognisable are learnt first. The swap is: encode a target face, decode it with the
source identity's decoder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    resolution: int = 64  # aligned face size, a multiple of 16
    width: int = 32  # channels of the first encoder convolution (original: 128)
    latent: int = 256  # bottleneck size (original: 1024)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _conv(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), nn.LeakyReLU(0.1))


def _upscale(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out * 4, 3, padding=1), nn.LeakyReLU(0.1), nn.PixelShuffle(2)
    )


class Encoder(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        c, self.side = cfg.width, cfg.resolution // 16
        self.c = 8 * c
        self.convs = nn.Sequential(
            _conv(3, c), _conv(c, 2 * c), _conv(2 * c, 4 * c), _conv(4 * c, 8 * c)
        )
        self.dense = nn.Linear(8 * c * self.side**2, cfg.latent)
        self.expand = nn.Linear(cfg.latent, 8 * c * self.side**2)
        self.up = _upscale(8 * c, 4 * c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.dense(self.convs(x).flatten(1))
        return self.up(self.expand(z).view(-1, self.c, self.side, self.side))


class Decoder(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        c = cfg.width
        self.ups = nn.Sequential(
            _upscale(4 * c, 2 * c), _upscale(2 * c, c), _upscale(c, max(c // 2, 8))
        )
        self.out = nn.Conv2d(max(c // 2, 8), 3, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(self.ups(x)))


class Autoencoder(nn.Module):
    """Shared encoder; decoder ``0`` draws the source identity, decoder ``1`` the target."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        if cfg.resolution % 16 or cfg.resolution < 16:
            raise ValueError(f"resolution must be a multiple of 16; got {cfg.resolution}")
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoders = nn.ModuleList([Decoder(cfg), Decoder(cfg)])

    def forward(self, x: torch.Tensor, identity: int) -> torch.Tensor:
        return self.decoders[identity](self.encoder(x))


def augment(
    faces: np.ndarray, masks: np.ndarray, rng: np.random.Generator, *, warp: float = 0.035
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random transform + random warp of a batch of aligned faces (N, R, R, 3) uint8.

    Returns (warped input, unwarped target, target mask), all float32 in [0, 1], NCHW for
    the images and N1HW for the mask. ``warp`` is the grid jitter as a fraction of R.
    """
    n, res = len(faces), faces.shape[1]
    xs, ys = np.meshgrid(np.arange(res, dtype=np.float32), np.arange(res, dtype=np.float32))
    inputs = np.empty((n, res, res, 3), np.float32)
    targets = np.empty_like(inputs)
    out_masks = np.empty((n, res, res), np.float32)
    for i in range(n):
        m = np.asarray(
            cv2.getRotationMatrix2D(
                (res / 2, res / 2), rng.uniform(-10, 10), 1.0 + rng.uniform(-0.05, 0.05)
            ),
            np.float64,
        )
        m[:, 2] += rng.uniform(-0.05, 0.05, 2) * res
        if rng.random() < 0.5:
            m = np.array([[-1.0, 0, res - 1], [0, 1, 0]]) @ np.vstack([m, [0, 0, 1]])
        face = cv2.warpAffine(faces[i], m, (res, res), borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpAffine(masks[i], m, (res, res), borderMode=cv2.BORDER_CONSTANT)
        jitter = rng.normal(0.0, warp * res, (5, 5, 2)).astype(np.float32)
        jitter[[0, -1]] = 0.0  # the border stays put, as in the original's cropped warp
        jitter[:, [0, -1]] = 0.0
        flow = cv2.resize(jitter, (res, res), interpolation=cv2.INTER_CUBIC)
        warped = cv2.remap(
            face,
            xs + flow[..., 0],
            ys + flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        inputs[i], targets[i] = warped, face
        out_masks[i] = mask
    inputs /= 255.0
    targets /= 255.0
    out_masks /= 255.0
    return (
        inputs.transpose(0, 3, 1, 2).copy(),
        targets.transpose(0, 3, 1, 2).copy(),
        out_masks[:, None],
    )


def masked_l1(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, weight: float = 7.5
) -> torch.Tensor:
    """L1 with each pixel weighted ``1 + weight * mask`` (``mask`` in [0, 1])."""
    return ((pred - target).abs() * (1.0 + weight * mask)).mean()


@dataclass
class TrainState:
    step: int = 0
    seconds: float = 0.0
    history: list[tuple[int, float, float, float]] | None = (
        None  # (step, seconds, loss_src, loss_tgt)
    )


def train(
    model: Autoencoder,
    optimizer: torch.optim.Optimizer,
    faces: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    state: TrainState,
    *,
    rng: np.random.Generator,
    batch_size: int,
    max_steps: int | None,
    max_seconds: float,
    log_every: int = 25,
    on_log: Callable[[TrainState], None] | None = None,
) -> TrainState:
    """Train both identities in turn until ``max_steps`` or ``max_seconds`` (counted across resumes).

    ``faces`` is ((source faces, masks), (target faces, masks)). ``state`` carries the step,
    the training seconds so far and the loss history; ``on_log`` is called every
    ``log_every`` steps (checkpointing, progress, curves).
    """
    model.train()
    history = state.history if state.history is not None else []
    state.history = history
    running = [0.0, 0.0]
    count = 0
    while (max_steps is None or state.step < max_steps) and state.seconds < max_seconds:
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        losses = []
        for identity, (imgs, masks) in enumerate(faces):
            pick = rng.integers(0, len(imgs), batch_size)
            x, y, m = (torch.from_numpy(a) for a in augment(imgs[pick], masks[pick], rng))
            loss = masked_l1(model(x, identity), y, m)
            loss.backward()
            losses.append(float(loss.detach()))
        optimizer.step()
        state.step += 1
        state.seconds += time.perf_counter() - started
        running = [r + v for r, v in zip(running, losses, strict=True)]
        count += 1
        if state.step % log_every == 0:
            history.append(
                (state.step, round(state.seconds, 2), running[0] / count, running[1] / count)
            )
            running, count = [0.0, 0.0], 0
            if on_log is not None:
                on_log(state)
    if count:
        history.append(
            (state.step, round(state.seconds, 2), running[0] / count, running[1] / count)
        )
    return state


@torch.no_grad()
def swap_faces(
    model: Autoencoder, faces: np.ndarray, *, identity: int = 0, batch_size: int = 64
) -> np.ndarray:
    """Encode aligned faces (N, R, R, 3) uint8 and decode them as ``identity``; uint8 out."""
    model.eval()
    out = []
    for start in range(0, len(faces), batch_size):
        x = torch.from_numpy(faces[start : start + batch_size].astype(np.float32) / 255.0)
        y = model(x.permute(0, 3, 1, 2).contiguous(), identity)
        out.append((y.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8))
    return np.concatenate(out) if out else np.zeros((0, *faces.shape[1:]), np.uint8)
