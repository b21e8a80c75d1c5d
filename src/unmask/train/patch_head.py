"""A patch head on frozen CLIP patch tokens, supervised where the pseudo-fake was blended
(``clip_head.patch_layers`` in a config).

A self-blended face differs from its real self along the blending boundary, a few of the
crop's 100 patches. The linear head on pooled features dilutes that; Face X-ray (Li et
al., CVPR 2020) showed that asking a network *where* the blend is, not only whether there
is one, teaches it the trace every blending method leaves. Here each patch token of the
chosen layers (standardised) gets a logit; for a pseudo-fake its target is how much of the
blending boundary 4M(1-M) of its mask M lies in the patch (``patch_target: boundary``; or
M itself, ``inside``), for a real face 0, and a labelled fake whose mask is unknown adds
no patch term. A face's logit is the linear head on its pooled features plus the soft
maximum of its patch logits, trained together with binary cross-entropy on the face label
plus ``weight`` times the patch loss. The scanner runs it in numpy
(``unmask.detectors._clip_head.PatchHead``); torch is needed only here.

Each epoch is checkpointed (atomically) and a run resumes; the epoch with the best
validation AUC is kept.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unmask._io import atomic_write_bytes
from unmask._progress import progress
from unmask.detectors._clip import CLIP_PATCH
from unmask.detectors._clip_head import PatchHead

TARGETS = ("inside", "boundary")  # rows of patch_targets


def patch_targets(mask: np.ndarray | None, size: int) -> np.ndarray:
    """(2, patches) float16 targets of one sample from its (size, size) manipulation map
    (``FaceDataset.sample_masked``): per patch the mean of the mask M (``inside``) and the
    maximum of the blending boundary 4M(1-M) (``boundary``); NaN when the map is unknown.

    >>> t = patch_targets(np.zeros((32, 32), np.float32), 32)
    >>> t.shape, float(t.max())
    ((2, 4), 0.0)
    """
    grid = size // CLIP_PATCH
    if mask is None:
        return np.full((2, grid * grid), np.nan, np.float16)
    m = np.asarray(mask, np.float32)[: grid * CLIP_PATCH, : grid * CLIP_PATCH]
    m = m.reshape(grid, CLIP_PATCH, grid, CLIP_PATCH).transpose(0, 2, 1, 3)
    m = m.reshape(grid * grid, CLIP_PATCH * CLIP_PATCH)
    return np.stack([m.mean(1), (4 * m * (1 - m)).max(1)]).astype(np.float16)


def _standardiser(patches: np.ndarray, rows: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and scale over every patch of every sample (in float64, by rows)."""
    total = np.zeros(patches.shape[-1])
    squares = np.zeros(patches.shape[-1])
    count = 0
    for start in range(0, len(patches), rows):
        x = patches[start : start + rows].reshape(-1, patches.shape[-1]).astype(np.float64)
        total += x.sum(0)
        squares += (x**2).sum(0)
        count += len(x)
    mu = total / max(count, 1)
    return mu, np.sqrt(np.maximum(squares / max(count, 1) - mu**2, 0)) + 1e-6


def fit_patch_head(
    x_train: np.ndarray,
    patches: np.ndarray,
    targets: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    patches_val: np.ndarray,
    y_val: np.ndarray,
    *,
    layers: Sequence[int],
    target: str = "boundary",
    weight: float = 1.0,
    tau: float = 1.0,
    hidden: int = 0,
    epochs: int = 12,
    lr: float = 1e-3,
    decay: float = 1e-3,
    batch: int = 128,
    seed: int = 0,
    checkpoints: Path | None = None,
) -> tuple[dict[str, Any], np.ndarray, list[dict[str, float]]]:
    """Train the linear head on ``x`` (pooled features, the columns the head reads) and a
    patch head on ``patches`` (n, patches, width) together; ``targets`` (n, 2, patches)
    as :func:`patch_targets` made them. Returns the head's arrays (the linear part as
    ``mu``, ``sigma``, ``coef``, ``intercept``; the patch part as PatchHead.arrays), the
    kept epoch's validation logits and each epoch's mean training loss and validation AUC.
    """
    import torch
    from torch import nn

    from unmask.eval.metrics import roc_auc

    if target not in TARGETS:
        raise ValueError(f"patch target: expected one of {TARGETS}; got {target!r}")
    torch.manual_seed(seed)
    mu_x, sd_x = x_train.mean(0), x_train.std(0) + 1e-6
    mu_t, sd_t = _standardiser(patches)
    g = torch.from_numpy(((x_train - mu_x) / sd_x).astype(np.float32))
    gv = torch.from_numpy(((x_val - mu_x) / sd_x).astype(np.float32))
    mt, st = torch.from_numpy(mu_t.astype(np.float32)), torch.from_numpy(sd_t.astype(np.float32))
    y = torch.from_numpy(y_train.astype(np.float32))
    goal = torch.from_numpy(np.asarray(targets[:, TARGETS.index(target)], np.float32))
    whole = nn.Linear(g.shape[1], 1)
    last = nn.Linear(hidden or patches.shape[-1], 1)
    scorer = (
        last
        if not hidden
        else nn.Sequential(nn.Linear(patches.shape[-1], hidden), nn.GELU(approximate="tanh"), last)
    )
    with torch.no_grad():
        last.bias.fill_(-3.0)  # patches start as "not blended"
    params = [*whole.parameters(), *scorer.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    fake_weight = float((y_train == 0).sum() / max((y_train == 1).sum(), 1))

    def forward(gx: torch.Tensor, tx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = (torch.from_numpy(np.asarray(tx, np.float32)) - mt) / st
        s = scorer(t)[..., 0]
        pooled = tau * (torch.logsumexp(s / tau, 1) - float(np.log(s.shape[1])))
        return whole(gx)[:, 0] + pooled, s

    def val_logits() -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(gv), 256):
                out.append(forward(gv[start : start + 256], patches_val[start : start + 256])[0])
        return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)

    n = len(y)
    shape = [
        list(layers), target, weight, tau, hidden, epochs, lr, decay, batch, seed, n,
        hashlib.sha256(np.ascontiguousarray(y_train).tobytes()).hexdigest(),
    ]  # fmt: skip
    state_path = checkpoints / "patch_state.pt" if checkpoints else None
    done, history, best = 0, [], None
    if state_path is not None and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        if state["shape"] == shape:
            whole.load_state_dict(state["whole"])
            scorer.load_state_dict(state["scorer"])
            opt.load_state_dict(state["opt"])
            done, history, best = state["epoch"], state["history"], state["best"]
    gen = torch.Generator().manual_seed(seed)
    for _ in range(done):  # the same shuffles as an uninterrupted run
        torch.randperm(n, generator=gen)
    for epoch in range(done, epochs):
        order, total = torch.randperm(n, generator=gen).numpy(), 0.0
        starts = range(0, n, batch)
        for start in progress(
            starts, total=len(starts), desc=f"patch epoch {epoch + 1}", unit="batch"
        ):
            idx = np.sort(order[start : start + batch])
            z, s = forward(g[idx], patches[idx])
            yb = y[idx]
            w = torch.where(yb > 0, torch.tensor(fake_weight), torch.tensor(1.0))
            loss = (
                nn.functional.binary_cross_entropy_with_logits(z, yb, reduction="none") * w
            ).mean()
            pt = goal[idx]
            known = ~torch.isnan(pt[:, 0])
            if weight and bool(known.any()):
                loss = loss + weight * nn.functional.binary_cross_entropy_with_logits(
                    s[known], pt[known]
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        auc = float(roc_auc(y_val, val_logits()))
        history.append(
            {"epoch": epoch + 1, "train_loss": round(total / n, 5), "val_frame_auc": round(auc, 4)}
        )
        if best is None or auc > best["auc"]:
            best = {"auc": auc, "whole": _copy(whole), "scorer": _copy(scorer), "epoch": epoch + 1}
        if state_path is not None:
            buf = io.BytesIO()
            torch.save(
                {
                    "shape": shape,
                    "whole": whole.state_dict(),
                    "scorer": scorer.state_dict(),
                    "opt": opt.state_dict(),
                    "epoch": epoch + 1,
                    "history": history,
                    "best": best,
                },
                buf,
            )
            atomic_write_bytes(state_path, buf.getvalue())
    assert best is not None
    whole.load_state_dict(best["whole"])
    scorer.load_state_dict(best["scorer"])

    def arr(t: Any) -> np.ndarray:
        return t.detach().numpy().astype(np.float64)

    first = None if not hidden else scorer[0]  # type: ignore[index]
    part = PatchHead(
        layers=tuple(int(k) for k in layers),
        mu=mu_t,
        sigma=sd_t,
        coef=arr(last.weight)[0],
        intercept=float(last.bias.item()),
        tau=float(tau),
        w1=None if first is None else arr(first.weight).T,
        b1=None if first is None else arr(first.bias),
    )
    head = {
        "mu": mu_x.astype(np.float32),
        "sigma": sd_x.astype(np.float32),
        "coef": arr(whole.weight)[0].astype(np.float32),
        "intercept": np.float32(whole.bias.item()),
        **part.arrays(),
        "patch_epoch": np.int64(best["epoch"]),
    }
    return head, val_logits(), history


def _copy(module: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
