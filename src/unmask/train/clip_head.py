"""A linear head on frozen CLIP ViT-B/16 features (``backbone: clip_vitb16`` in a config).

The same faces, split, self-blending and degradations as the EfficientNet recipe; each
training sample is drawn once (a fixed augmentation) and its CLIP features are cached in
chunks, so an interrupted extraction resumes. The head is an L2 logistic regression on
standardised features, its strength chosen by validation AUC.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from unmask._io import atomic_write_bytes
from unmask._progress import progress
from unmask.detectors._clip import clip_features

CHUNK = 256


def extract_features(
    dataset: Any, cache: Path, *, threads: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """CLIP features and labels of every dataset sample, cached in chunks under ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    feats, labels = [], []
    chunks = range(0, len(dataset), CHUNK)
    for start in progress(chunks, total=len(chunks), desc=f"clip {cache.name}", unit="chunk"):
        path = cache / f"{start:07d}.npz"
        if path.exists():
            with np.load(path) as z:
                f, y = z["features"], z["labels"]
        else:
            samples = [dataset.sample(k) for k in range(start, min(start + CHUNK, len(dataset)))]
            crops = np.stack([c for c, _ in samples])
            f = clip_features(crops, threads=threads)
            y = np.array([label for _, label in samples], np.int64)
            buf = io.BytesIO()
            np.savez(buf, features=f, labels=y)
            atomic_write_bytes(path, buf.getvalue())
        feats.append(f)
        labels.append(y)
    return np.concatenate(feats), np.concatenate(labels)


def fit_head(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Standardise, fit L2 logistic regression for several strengths, keep the best by val AUC."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    mu, sigma = x_train.mean(0), x_train.std(0) + 1e-6
    zt, zv = (x_train - mu) / sigma, (x_val - mu) / sigma
    weight = {0: 1.0, 1: float((y_train == 0).sum() / max((y_train == 1).sum(), 1))}
    scores: dict[str, float] = {}
    best: tuple[float, Any] | None = None
    for c in (0.001, 0.003, 0.01, 0.03, 0.1):
        model = LogisticRegression(C=c, max_iter=3000, class_weight=weight, random_state=seed).fit(
            zt, y_train
        )
        auc = float(roc_auc_score(y_val, model.decision_function(zv)))
        scores[f"C={c}"] = round(auc, 4)
        if best is None or auc > best[0]:
            best = (auc, model)
    assert best is not None
    model = best[1]
    head = {
        "mu": mu.astype(np.float32),
        "sigma": sigma.astype(np.float32),
        "coef": model.coef_[0].astype(np.float32),
        "intercept": np.float32(model.intercept_[0]),
    }
    return head, scores


def head_logits(head: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    return ((features - head["mu"]) / head["sigma"]) @ head["coef"] + float(head["intercept"])


def save_head(head: dict[str, np.ndarray], path: Path) -> Path:
    buf = io.BytesIO()
    np.savez(buf, **head)
    atomic_write_bytes(path, buf.getvalue())
    return path
