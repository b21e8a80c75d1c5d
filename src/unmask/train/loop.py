"""The training loop as a library: ``train_one_epoch``, ``predict``, ``fit`` with resumable
checkpoints. Seeding and thread counts are set by the caller (``unmask.train.run``)."""

from __future__ import annotations

import contextlib
import io
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from unmask._io import atomic_write_bytes, atomic_write_json
from unmask._progress import progress
from unmask.errors import UnmaskError


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    loss: float
    n: int
    seconds: float
    lr: float
    steps: int


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader[Any],
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epoch: int = 0,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    max_steps: int | None = None,
    log_every: int | None = None,
) -> EpochStats:
    """One pass over ``loader`` (at most ``max_steps`` batches); returns the mean loss.

    ``log_every`` prints a progress line every that many steps (for logs, where the
    progress bar is off)."""
    model.train()
    device = model_device(model)
    start, total, n, steps = time.perf_counter(), 0.0, 0, 0
    for x, y in progress(loader, total=len(loader), desc=f"epoch {epoch}", unit="batch"):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += float(loss.detach()) * len(y)
        n += len(y)
        steps += 1
        if log_every and steps % log_every == 0:
            rate = (time.perf_counter() - start) / steps
            print(
                f"  epoch {epoch} step {steps}/{len(loader)}: loss {total / n:.4f}, {rate:.1f} s/step",
                flush=True,
            )
        if max_steps is not None and steps >= max_steps:
            break
    lr = optimizer.param_groups[0]["lr"]
    return EpochStats(epoch, total / max(n, 1), n, time.perf_counter() - start, float(lr), steps)


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels over ``loader``."""
    model.eval()
    device = model_device(model)
    logits, labels = [], []
    for x, y in loader:
        with _autocast(device):
            out = model(x.to(device, non_blocking=True))
        logits.append(out.float().cpu().numpy())
        labels.append(y.numpy())
    return np.concatenate(logits), np.concatenate(labels)


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _autocast(device: torch.device) -> Any:
    """bf16 autocast on a GPU (same range as fp32, so no loss scaling); nothing on the CPU,
    where the exported model runs in fp32 anyway."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (cuda when available) as a torch device."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise UnmaskError(f"optim.device must be cpu, cuda or auto; got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UnmaskError(
            "optim.device is cuda but torch sees no GPU; set optim.device=cpu (or auto)"
        )
    return torch.device(name)


def bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(logits, labels)


def balanced_bce(labels: np.ndarray) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """BCE whose fake examples are weighted n_real / n_fake, so both classes count equally."""
    n_fake = float((labels == 1).sum())
    weight = torch.tensor(float((labels == 0).sum()) / n_fake if n_fake else 1.0)

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=weight)

    return loss


def warmup_cosine(
    optimizer: torch.optim.Optimizer, *, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress_ = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress_)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights on the CPU, so a checkpoint made on a GPU loads anywhere."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def val_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Log loss (sigmoid of the raw logits) and ROC AUC, numpy only."""
    p = np.clip(1 / (1 + np.exp(-logits)), 1e-7, 1 - 1e-7)
    loss = float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    order = np.argsort(logits, kind="mergesort")
    ranks = np.empty(len(logits))
    ranks[order] = np.arange(1, len(logits) + 1)
    for v in np.unique(logits):  # average ranks of ties
        tie = logits == v
        ranks[tie] = ranks[tie].mean()
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    auc = (
        float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
        if n_pos and n_neg
        else float("nan")
    )
    return {"val_loss": loss, "val_auc": auc}


def fit(
    model: nn.Module,
    train_loader: DataLoader[Any],
    val_loader: DataLoader[Any],
    *,
    run_dir: Path,
    epochs: int,
    lr: float,
    weight_decay: float,
    warmup_steps: int,
    max_steps: int | None = None,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Train with AdamW and warm-up + cosine decay; keep ``last.pt`` (resume) and ``best.pt``
    (highest validation AUC: the ranking is what training must get right, probabilities are
    calibrated afterwards, and the class-balanced loss shifts raw logits). Re-running resumes
    after the last finished epoch."""
    run_dir.mkdir(parents=True, exist_ok=True)
    model.to(device or torch.device("cpu"))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps_per_epoch = len(train_loader) if max_steps is None else min(len(train_loader), max_steps)
    scheduler = warmup_cosine(optimizer, warmup=warmup_steps, total=epochs * steps_per_epoch)
    history: list[dict[str, Any]] = []
    start_epoch, best = 0, -1.0
    last = run_dir / "last.pt"
    if last.exists():
        state = torch.load(last, weights_only=False, map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best, history = state["epoch"] + 1, state["best"], state["history"]
    dataset = train_loader.dataset
    loss_fn = balanced_bce(dataset.labels()) if hasattr(dataset, "labels") else bce_loss
    for epoch in range(start_epoch, epochs):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        stats = train_one_epoch(
            model,
            train_loader,
            optimizer,
            loss_fn,
            epoch=epoch,
            scheduler=scheduler,
            max_steps=max_steps,
            log_every=None if sys.stderr.isatty() else 25,
        )
        metrics = val_metrics(*predict(model, val_loader))
        record = {**asdict(stats), **metrics}
        history.append(record)
        print(
            f"epoch {epoch}: train loss {stats.loss:.4f} ({stats.seconds:.0f} s), "
            f"val loss {metrics['val_loss']:.4f}, val AUC {metrics['val_auc']:.4f}",
            flush=True,
        )
        if metrics["val_auc"] > best:
            best = metrics["val_auc"]
            save_checkpoint(
                run_dir / "best.pt", {"model": cpu_state(model), "epoch": epoch, **metrics}
            )
        save_checkpoint(
            last,
            {
                "model": cpu_state(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "best": best,
                "history": history,
            },
        )
        atomic_write_json(run_dir / "history.json", history)
    return {"best_val_auc": best, "history": history}
