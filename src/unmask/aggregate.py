"""From face scores to a video score: pure functions, chosen by name in a detector's config.

The rule (documented in docs/scan.md):
1. each face crop gets a logit (log-odds of P(fake) before calibration);
2. the faces of one track are combined by the detector's ``aggregation.rule``;
3. the video logit is the MAXIMUM over tracks: a video with one fake face is fake;
4. calibration maps the video logit to the reported P(fake).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from unmask.errors import UnknownNameError

EPS = 1e-6


def logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [1e-6, 1 - 1e-6]."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def mean_rule(logits: np.ndarray) -> float:
    """Mean of the face logits."""
    return float(np.mean(logits))


def topk_mean_rule(logits: np.ndarray, *, k_frac: float = 0.5, k_min: int = 1) -> float:
    """Mean of the highest ``k_frac`` share of the face logits (at least ``k_min``)."""
    k = min(len(logits), max(k_min, int(np.ceil(k_frac * len(logits)))))
    return float(np.mean(np.sort(logits)[-k:]))


def confident_rule(
    logits: np.ndarray,
    *,
    high: float = 0.8,
    low: float = 0.2,
    min_high: int = 11,
    low_frac: float = 0.9,
) -> float:
    """The DFDC winner's "confident strategy", on probabilities.

    If more than ``min_high`` faces score above ``high`` (scaled to the number of faces for
    short tracks, as min_high/32 of them), average those; else if more than ``low_frac`` of
    them score below ``low``, average those; otherwise average all.
    """
    p = sigmoid(logits)
    n = len(p)
    need_high = max(1, round(min_high * n / 32))
    if int((p > high).sum()) > need_high:
        return float(np.mean(logits[p > high]))
    if (p < low).sum() > low_frac * n:
        return float(np.mean(logits[p < low]))
    return float(np.mean(logits))


def median_rule(logits: np.ndarray) -> float:
    return float(np.median(logits))


RULES: dict[str, Callable[..., float]] = {
    "mean": mean_rule,
    "topk_mean": topk_mean_rule,
    "confident": confident_rule,
    "median": median_rule,
}


def aggregate_track(logits: np.ndarray, rule: str = "mean", **params: Any) -> float:
    """Combine one track's face logits with a named rule.

    >>> aggregate_track(np.array([-2.0, 0.0, 4.0]), "topk_mean", k_frac=0.34)
    4.0
    """
    if rule not in RULES:
        raise UnknownNameError("aggregation rule", rule, RULES)
    logits = np.asarray(logits, dtype=np.float64)
    if logits.size == 0:
        raise ValueError("cannot aggregate an empty track")
    return RULES[rule](logits, **params)


def evenly_spaced(count: int, limit: int | None) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` items in order, evenly spaced and keeping
    the first and the last (all of them when ``limit`` is None or 0): the faces of a track
    a slow detector scores (``max_faces_per_track``)."""
    if not limit or count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(np.int64))


def video_logit(track_logits: np.ndarray) -> float:
    """The video's logit: the most suspicious track decides."""
    track_logits = np.asarray(track_logits, dtype=np.float64)
    if track_logits.size == 0:
        raise ValueError("a video score needs at least one track")
    return float(np.max(track_logits))
