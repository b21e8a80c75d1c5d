"""A linear head on frozen CLIP ViT-B/16 features (``backbone: clip_vitb16`` in a config).

The same faces, split, self-blending and degradations as the EfficientNet recipe; each
training sample is drawn once (a fixed augmentation; ``clip_head.views`` draws it more
times) and every CLIP feature of it (the image embedding, and each layer's class token and
pooled patch tokens) is cached in chunks, so an interrupted extraction resumes. The head is
an L2 logistic regression on standardised features; which features
(``clip_head.feature_sets``) and how strong the penalty (``clip_head.strengths``) are
chosen by validation AUC.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unmask._io import atomic_write_bytes
from unmask._progress import progress
from unmask.detectors._clip import (
    CLIP_SIZE,
    FEATURES,
    clip_features,
    clip_features_and_patches,
    clip_features_and_tokens,
    feature_size,
)
from unmask.detectors._clip_head import cut_window

CHUNK = 256
WIDTH = feature_size(FEATURES)  # every feature of a sample: 37,376 floats
_ENDS = np.cumsum([feature_size([name]) for name in FEATURES])
_SPANS = {
    name: (end - feature_size([name]), end) for name, end in zip(FEATURES, _ENDS, strict=True)
}


def columns(names: list[str]) -> np.ndarray:
    """Indices of the features ``names`` (in that order) in extract_features' columns."""
    return np.concatenate([np.arange(*_SPANS[n]) for n in names])


def extract_features(
    dataset: Any,
    cache: Path,
    *,
    threads: int = 0,
    size: int = CLIP_SIZE,
    samples: str = "",
    tokens_layer: int = 0,
    patch_layers: tuple[int, ...] = (),
    mouth: tuple[Sequence[float], int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every CLIP feature (FEATURES, in that order) of the tower run at ``size`` pixels and
    the label of every dataset sample, cached in chunks under ``cache``; see
    :func:`columns` to select some features. ``samples`` names what made the dataset's
    samples (a fingerprint of the crop, data and augmentation settings); a chunk of another
    feature set, size or ``samples`` is computed again. ``tokens_layer`` > 0 also keeps
    every token after that layer (float16, the input of the layers ``clip_tune`` adapts),
    or keeps those of an earlier layer already cached: :func:`load_tokens` reads them back.
    ``patch_layers`` also keeps the patch tokens after those layers (float16, side by side)
    and each sample's patch targets (``unmask.train.patch_head.patch_targets`` of where
    it was manipulated): :func:`load_patches` reads them back. ``mouth`` (a box and a
    size, see unmask.detectors._clip_head.MouthHead) also keeps every feature of each
    crop's mouth window through the tower at that size: :func:`load_mouth` reads them
    back."""
    cache.mkdir(parents=True, exist_ok=True)
    mouth_key = "" if mouth is None else f"{[round(float(v), 6) for v in mouth[0]]}@{mouth[1]}"
    feats, labels = [], []
    chunks = range(0, len(dataset), CHUNK)
    for start in progress(chunks, total=len(chunks), desc=f"clip {cache.name}", unit="chunk"):
        path = cache / f"{start:07d}.npz"
        f = y = None
        if path.exists():
            with np.load(path) as z:
                # a chunk without a size is from before sizes were offered: 224
                same_size = int(z["size"]) if "size" in z else CLIP_SIZE
                made_by = str(z["samples"]) if "samples" in z else ""
                # tokens of an earlier layer serve too (clip_tune.advance carries them on)
                has_tokens = not tokens_layer or 0 < int(z.get("tokens_layer", 0)) <= tokens_layer
                has_patches = not patch_layers or (
                    "patch_layers" in z and tuple(z["patch_layers"].tolist()) == patch_layers
                )
                has_mouth = not mouth_key or ("mouth_key" in z and str(z["mouth_key"]) == mouth_key)
                if (
                    z["features"].shape[1] == WIDTH
                    and same_size == size
                    and made_by == samples
                    and has_tokens
                    and has_patches
                    and has_mouth
                ):
                    f, y = z["features"], z["labels"]
        if f is None or y is None:
            ks = range(start, min(start + CHUNK, len(dataset)))
            if patch_layers:
                from unmask.train.patch_head import patch_targets

                masked = [dataset.sample_masked(k) for k in ks]
                drawn = [(c, label) for c, label, _ in masked]
                targets = np.stack([patch_targets(m, size) for _, _, m in masked])
            else:
                drawn = [dataset.sample(k) for k in ks]
            crops = np.stack([c for c, _ in drawn])
            extra: dict[str, Any] = {}
            if patch_layers:
                f, patches = clip_features_and_patches(
                    crops, layers=patch_layers, threads=threads, features=FEATURES, size=size
                )
                extra = {
                    "patches": patches,
                    "patch_layers": np.array(patch_layers, np.int64),
                    "patch_targets": targets,
                }
            elif tokens_layer:
                f, tokens = clip_features_and_tokens(
                    crops, layer=tokens_layer, threads=threads, features=FEATURES, size=size
                )
                extra = {"tokens": tokens, "tokens_layer": np.int64(tokens_layer)}
            else:
                f = clip_features(crops, threads=threads, features=FEATURES, size=size)
            if mouth is not None:
                box, mouth_size = mouth
                windows = cut_window(crops, box, mouth_size)
                extra["mouth_features"] = clip_features(
                    windows, threads=threads, features=FEATURES, size=mouth_size
                )
                extra["mouth_key"] = np.str_(mouth_key)
            y = np.array([label for _, label in drawn], np.int64)
            buf = io.BytesIO()
            np.savez(
                buf, features=f, labels=y, size=np.int64(size), samples=np.str_(samples), **extra
            )
            atomic_write_bytes(path, buf.getvalue())
        feats.append(f)
        labels.append(y)
    return np.concatenate(feats), np.concatenate(labels)


def load_tokens(cache: Path, count: int) -> list[tuple[np.ndarray, int]]:
    """The tokens :func:`extract_features` kept for the ``count`` samples of ``cache``, in
    sample order: chunk by chunk, float16 tokens and the layer they come after."""
    parts = []
    for start in range(0, count, CHUNK):
        with np.load(cache / f"{start:07d}.npz") as z:
            parts.append((z["tokens"], int(z["tokens_layer"])))
    return parts


def load_patches(cache: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The patch tokens and patch targets :func:`extract_features` kept (``patch_layers``)
    for the ``count`` samples of ``cache``, in sample order."""
    patches, targets = [], []
    for start in range(0, count, CHUNK):
        with np.load(cache / f"{start:07d}.npz") as z:
            patches.append(z["patches"])
            targets.append(z["patch_targets"])
    return np.concatenate(patches), np.concatenate(targets)


def load_mouth(cache: Path, count: int) -> np.ndarray:
    """The mouth-window features :func:`extract_features` kept (``mouth``) for the
    ``count`` samples of ``cache``, in sample order (extract_features' columns)."""
    parts = []
    for start in range(0, count, CHUNK):
        with np.load(cache / f"{start:07d}.npz") as z:
            parts.append(z["mouth_features"])
    return np.concatenate(parts)


def fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    feature_sets: list[list[str]],
    strengths: list[float],
    seed: int = 0,
    size: int = CLIP_SIZE,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """For each feature set (columns of extract_features) and strength C: standardise, fit
    an L2 logistic regression; keep the pair with the best validation AUC. The head records
    its features and the tower's input ``size``, so the detector computes the same ones."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    weight = {0: 1.0, 1: float((y_train == 0).sum() / max((y_train == 1).sum(), 1))}
    scores: dict[str, float] = {}
    best: tuple[float, Any, list[str], np.ndarray, np.ndarray] | None = None
    for names in feature_sets:
        idx = columns(names)
        xt, xv = x_train[:, idx].astype(np.float64), x_val[:, idx].astype(np.float64)
        mu, sigma = xt.mean(0), xt.std(0) + 1e-6
        zt, zv = (xt - mu) / sigma, (xv - mu) / sigma
        for c in strengths:
            model = LogisticRegression(
                C=c, max_iter=3000, class_weight=weight, random_state=seed
            ).fit(zt, y_train)
            auc = float(roc_auc_score(y_val, model.decision_function(zv)))
            scores[f"{'+'.join(names)} C={c}"] = round(auc, 4)
            if best is None or auc > best[0]:
                best = (auc, model, names, mu, sigma)
    if best is None:
        raise ValueError("fit_head: expected at least one feature set and one strength")
    _, model, names, mu, sigma = best
    head = {
        "features": np.array(names),
        "mu": mu.astype(np.float32),
        "sigma": sigma.astype(np.float32),
        "coef": model.coef_[0].astype(np.float32),
        "intercept": np.float32(model.intercept_[0]),
        "size": np.int64(size),
        "strength": np.float32(model.C),
    }
    return head, scores


def head_logits(head: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Logits of rows of extract_features' columns (every feature)."""
    x = features[:, columns([str(n) for n in head["features"]])]
    return ((x - head["mu"]) / head["sigma"]) @ head["coef"] + float(head["intercept"])


def save_head(head: dict[str, np.ndarray], path: Path) -> Path:
    buf = io.BytesIO()
    np.savez(buf, **head)
    atomic_write_bytes(path, buf.getvalue())
    return path
