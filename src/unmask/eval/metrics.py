"""Evaluation metrics as pure functions of labels and scores (numpy only, no I/O).

Conventions, the same for every function here:

- ``y_true`` holds 0 (REAL) or 1 (FAKE); ``y_score`` / ``y_prob`` is the detector's P(FAKE).
  Ranking metrics (AUC, AP, EER, weighted precision) accept any finite score; metrics that
  read the score as a probability (log loss, calibration) require values in [0, 1].
- Inputs are checked: empty arrays, a length mismatch, NaN or inf, labels other than 0/1 and,
  where a metric needs both classes, a single class raise
  :class:`~unmask.errors.MetricInputError` with a message that names the problem.
- The functions do not know whether a sample is a frame or a video. The level is named
  where the numbers are reported: :func:`summarize` takes ``level="video"`` or
  ``level="frame"``, and :func:`video_level_from_frames` turns frame scores into video
  scores with an explicit rule.

>>> y = [0, 0, 1, 1]
>>> s = [0.1, 0.4, 0.35, 0.8]
>>> round(roc_auc(y, s), 4)
0.75
>>> round(log_loss(y, s), 4)
0.4723
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from unmask.errors import MetricInputError

__all__ = [
    "DFDC_EPS",
    "LEVELS",
    "VIDEO_RULES",
    "Level",
    "accuracy",
    "average_precision",
    "binary_clf_curve",
    "bootstrap_ci",
    "confusion_counts",
    "eer",
    "expected_calibration_error",
    "log_loss",
    "paired_bootstrap_diff",
    "pr_curve",
    "precision",
    "recall",
    "reliability_curve",
    "roc_auc",
    "roc_curve",
    "summarize",
    "video_level_from_frames",
    "weighted_precision",
]

#: Clipping used by the DFDC (Kaggle) leaderboard's log loss: predictions are bounded to
#: ``[1e-15, 1 - 1e-15]`` before the logarithm, so one confident mistake costs at most
#: ``-ln(1e-15) ≈ 34.5`` instead of infinity.
DFDC_EPS = 1e-15

Level = Literal["frame", "video"]
LEVELS: tuple[Level, ...] = ("frame", "video")

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


# --------------------------------------------------------------------------- input checks


def _as_labels(y_true: ArrayLike) -> IntArray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise MetricInputError(f"y_true must be one-dimensional; got shape {y.shape}")
    if y.size == 0:
        raise MetricInputError("y_true is empty; a metric needs at least one sample")
    if y.dtype == bool:
        return y.astype(np.int64)
    if y.dtype.kind not in "iuf":
        raise MetricInputError(f"y_true must be numeric 0 (REAL) / 1 (FAKE); got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise MetricInputError(
            f"y_true contains {int(np.sum(~np.isfinite(y)))} NaN or inf value(s)"
        )
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        shown = ", ".join(repr(v.item()) for v in np.unique(y[bad])[:5])
        raise MetricInputError(f"y_true must contain only 0 (REAL) and 1 (FAKE); got {shown}")
    return y.astype(np.int64)


def _as_scores(y_score: ArrayLike, n: int, *, name: str, probability: bool) -> FloatArray:
    try:
        s = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise MetricInputError(f"{name} must be numeric; {err}") from None
    if s.ndim != 1:
        raise MetricInputError(f"{name} must be one-dimensional; got shape {s.shape}")
    if s.size != n:
        raise MetricInputError(f"y_true has {n} samples but {name} has {s.size}; they must match")
    finite = np.isfinite(s)
    if not finite.all():
        first = int(np.argmin(finite))
        raise MetricInputError(
            f"{name} contains {int(np.sum(~finite))} NaN or inf value(s) "
            f"(first at index {first}: {s[first]!r}); fix or drop them before scoring"
        )
    if probability and (s.min() < 0.0 or s.max() > 1.0):
        first = int(np.argmax((s < 0.0) | (s > 1.0)))
        raise MetricInputError(
            f"{name} must be probabilities in [0, 1]; got {s[first]!r} at index {first}"
        )
    return s


def _check(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    both_classes: bool,
    probability: bool = False,
    name: str = "y_score",
    metric: str = "this metric",
) -> tuple[IntArray, FloatArray]:
    y = _as_labels(y_true)
    s = _as_scores(y_score, y.size, name=name, probability=probability)
    if both_classes:
        n_fake = int(y.sum())
        if n_fake == 0 or n_fake == y.size:
            only = "FAKE (1)" if n_fake else "REAL (0)"
            raise MetricInputError(
                f"{metric} needs both REAL (0) and FAKE (1) samples; all {y.size} are {only}"
            )
    return y, s


# --------------------------------------------------------------------------- curves


def binary_clf_curve(
    y_true: ArrayLike, y_score: ArrayLike
) -> tuple[IntArray, IntArray, FloatArray]:
    """Cumulative true and false positives at each distinct threshold, highest first.

    Returns ``(tps, fps, thresholds)``: at ``thresholds[i]`` the files with
    ``score >= thresholds[i]`` are called FAKE. Tied scores form one threshold.

    >>> binary_clf_curve([0, 1, 1], [0.2, 0.9, 0.2])
    (array([1, 2]), array([0, 1]), array([0.9, 0.2]))
    """
    y, s = _check(y_true, y_score, both_classes=False)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last]
    fps = last + 1 - tps
    return tps, fps, s_sorted[last]


def roc_curve(y_true: ArrayLike, y_score: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ROC curve ``(fpr, tpr, thresholds)`` starting at (0, 0) with threshold ``+inf``.

    >>> fpr, tpr, _ = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    _check(y_true, y_score, both_classes=True, metric="a ROC curve")
    tps, fps, thr = binary_clf_curve(y_true, y_score)
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    return fpr, tpr, np.r_[np.inf, thr]


def pr_curve(y_true: ArrayLike, y_score: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Precision-recall curve ``(precision, recall, thresholds)``, highest threshold first.

    >>> p, r, _ = pr_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> p.round(3).tolist(), r.tolist()
    ([1.0, 0.5, 0.667, 0.5], [0.5, 0.5, 1.0, 1.0])
    """
    _check(y_true, y_score, both_classes=True, metric="a precision-recall curve")
    tps, fps, thr = binary_clf_curve(y_true, y_score)
    return tps / (tps + fps), tps / tps[-1], thr


# --------------------------------------------------------------------------- scores


def log_loss(y_true: ArrayLike, y_pred: ArrayLike, *, eps: float = DFDC_EPS) -> float:
    """DFDC log loss: mean binary cross-entropy in nats, predictions clipped to [eps, 1-eps].

    ``-mean(y * ln(p) + (1 - y) * ln(1 - p))`` with ``p = clip(y_pred, eps, 1 - eps)``.
    ``eps`` defaults to 1e-15, the bound the DFDC leaderboard (Kaggle's LogLoss) used; lower is
    better and a constant 0.5 scores ln 2 ≈ 0.693. One class is allowed (the loss is defined
    for it); predictions must lie in [0, 1].

    >>> round(log_loss([1, 0], [0.9, 0.2]), 6)
    0.164252
    >>> round(log_loss([1], [0.0]), 2)  # clipped at 1e-15: -ln(1e-15)
    34.54
    """
    if not 0.0 < eps < 0.5:
        raise MetricInputError(f"eps must be in (0, 0.5); got {eps!r}")
    y, p = _check(y_true, y_pred, both_classes=False, probability=True, name="y_pred")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve (trapezoidal; a tie between a REAL and a FAKE counts one half).

    >>> roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.1, 0.9])
    0.875
    """
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def average_precision(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Average precision: ``sum_k (R_k - R_{k-1}) * P_k`` over thresholds, highest first.

    The step-wise (not interpolated) definition scikit-learn uses; FAKE is the positive class.

    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    precision_, recall_, _ = pr_curve(y_true, y_score)
    return float(np.sum(np.diff(np.r_[0.0, recall_]) * precision_))


def eer(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Equal error rate: the rate where false positives (FPR) equal misses (FNR = 1 - TPR).

    Found on the ROC curve by linear interpolation between the two points where
    ``FNR - FPR`` changes sign, so it is exact for the piecewise-linear ROC.

    >>> eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    0.0
    >>> eer([0, 1, 0, 1], [0.1, 0.2, 0.8, 0.9])
    0.5
    """
    fpr, tpr, _ = roc_curve(y_true, y_score)
    gap = (1.0 - tpr) - fpr  # starts at +1, ends at -1
    i = int(np.argmax(gap <= 0.0))
    if gap[i] == 0.0:
        return float(fpr[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def confusion_counts(
    y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5
) -> tuple[int, int, int, int]:
    """``(tp, fp, tn, fn)`` when files with ``score >= threshold`` are called FAKE.

    >>> confusion_counts([0, 1, 1], [0.6, 0.5, 0.2])
    (1, 1, 0, 1)
    """
    if not math.isfinite(threshold):
        raise MetricInputError(f"threshold must be a finite number; got {threshold!r}")
    y, s = _check(y_true, y_score, both_classes=False)
    called = s >= threshold
    tp = int(np.sum(called & (y == 1)))
    fp = int(np.sum(called & (y == 0)))
    fn = int(np.sum(~called & (y == 1)))
    return tp, fp, y.size - tp - fp - fn, fn


def accuracy(y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5) -> float:
    """Fraction of files called correctly, FAKE when ``score >= threshold``.

    >>> accuracy([0, 1, 1], [0.6, 0.5, 0.2])
    0.3333333333333333
    """
    tp, fp, tn, fn = confusion_counts(y_true, y_score, threshold=threshold)
    return (tp + tn) / (tp + fp + tn + fn)


def precision(y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5) -> float:
    """Of the files called FAKE (``score >= threshold``), the fraction that are FAKE.

    0.0 when nothing is called FAKE (scikit-learn's default for that case).

    >>> precision([0, 1, 1], [0.6, 0.5, 0.2])
    0.5
    """
    tp, fp, _, _ = confusion_counts(y_true, y_score, threshold=threshold)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5) -> float:
    """Of the FAKE files, the fraction called FAKE (``score >= threshold``); needs a FAKE.

    >>> recall([0, 1, 1], [0.6, 0.5, 0.2])
    0.5
    """
    tp, _, _, fn = confusion_counts(y_true, y_score, threshold=threshold)
    if tp + fn == 0:
        raise MetricInputError("recall needs at least one FAKE (1) sample; there are none")
    return tp / (tp + fn)


def weighted_precision(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    recall_level: float = 0.5,
    prevalence: float = 0.01,
) -> float:
    """DFDC-preview weighted precision at a fixed recall, for a stated fake prevalence.

    The DFDC preview paper (Dolhansky et al., 2019) argued that deepfakes are rare in real
    traffic, so precision measured on a balanced test set is far too kind; it reported
    ``wP = TP / (TP + alpha * FP)`` at fixed recall levels, with ``alpha`` weighting the false
    positives up to the real-world ratio. Here ``alpha`` follows from the stated prevalence
    ``pi`` of FAKE in the population you care about and the class ratio of the test set:
    ``alpha = (n_fake / n_real) * (1 - pi) / pi``; equivalently
    ``wP = pi * TPR / (pi * TPR + (1 - pi) * FPR)``.

    The operating point is the highest threshold whose recall (TPR) reaches ``recall_level``.
    With ``prevalence`` equal to the test set's own FAKE fraction, ``wP`` is plain precision.

    >>> y, s = [0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.7, 0.6, 0.8, 0.9]
    >>> round(weighted_precision(y, s, recall_level=0.5, prevalence=0.5), 3)
    1.0
    >>> round(weighted_precision(y, s, recall_level=1.0, prevalence=0.1), 3)
    0.25
    """
    if not 0.0 < recall_level <= 1.0:
        raise MetricInputError(f"recall_level must be in (0, 1]; got {recall_level!r}")
    if not 0.0 < prevalence < 1.0:
        raise MetricInputError(f"prevalence must be in (0, 1); got {prevalence!r}")
    _check(y_true, y_score, both_classes=True, metric="weighted precision")
    tps, fps, _ = binary_clf_curve(y_true, y_score)
    tpr = tps / tps[-1]
    fpr = fps / fps[-1]
    i = int(np.argmax(tpr >= recall_level - 1e-12))
    hit = prevalence * tpr[i]
    return float(hit / (hit + (1.0 - prevalence) * fpr[i]))


def reliability_curve(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per-bin ``(mean predicted P(FAKE), observed FAKE fraction, count)``, empty bins dropped.

    Bins split [0, 1] into ``n_bins`` equal-width intervals ``(lo, hi]`` (0 falls in the first),
    the binning of scikit-learn's ``calibration_curve(strategy="uniform")``.

    >>> reliability_curve([0, 1, 1], [0.1, 0.9, 0.95], n_bins=2)
    (array([0.1  , 0.925]), array([0., 1.]), array([1, 2]))
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise MetricInputError(f"n_bins must be a positive integer; got {n_bins!r}")
    y, p = _check(y_true, y_prob, both_classes=False, probability=True, name="y_prob")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], p, side="left")
    count = np.bincount(bins, minlength=n_bins)
    conf = np.bincount(bins, weights=p, minlength=n_bins)
    fake = np.bincount(bins, weights=y, minlength=n_bins)
    keep = count > 0
    return conf[keep] / count[keep], fake[keep] / count[keep], count[keep]


def expected_calibration_error(y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15) -> float:
    """Expected calibration error of P(FAKE): ``sum_b (n_b / n) * |fake_rate_b - mean_p_b|``.

    Equal-width bins as in :func:`reliability_curve`; 0 is perfect calibration.

    >>> round(expected_calibration_error([0, 1, 1], [0.1, 0.9, 0.95], n_bins=2), 4)
    0.0833
    """
    conf, frac, count = reliability_curve(y_true, y_prob, n_bins=n_bins)
    return float(np.sum(count * np.abs(frac - conf)) / np.sum(count))


# --------------------------------------------------------------------------- uncertainty


def bootstrap_ci(
    metric_fn: Callable[[IntArray, FloatArray], float],
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    random_state: int | None = 0,
    stratified: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap ``(low, high)`` interval for ``metric_fn(y_true, y_pred)``.

    Resamples the files with replacement ``n_boot`` times (``stratified=True`` resamples
    REAL and FAKE separately, keeping the class counts). Resamples on which the metric is
    undefined (one class) are skipped; if more than 10% are, the interval would describe a
    different population and is refused (use ``stratified=True``).
    ``random_state`` makes the interval reproducible.

    >>> lo, hi = bootstrap_ci(roc_auc, [0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.7, 0.9, 0.6, 0.4])
    >>> 0.0 <= lo <= hi <= 1.0
    True
    """
    _check_boot(n_boot, alpha)
    y, s = _check(y_true, y_pred, both_classes=False, name="y_pred")
    values: list[float] = []
    for idx in _resamples(y, n_boot, random_state=random_state, stratified=stratified):
        try:
            values.append(float(metric_fn(y[idx], s[idx])))
        except MetricInputError:
            continue
    return _percentiles(values, n_boot, alpha, y)


def paired_bootstrap_diff(
    metric_fn: Callable[[IntArray, FloatArray], float],
    y_true: ArrayLike,
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    random_state: int | None = 0,
    stratified: bool = True,
) -> tuple[float, float, float]:
    """``metric_fn(b) - metric_fn(a)`` on the same files, and its percentile bootstrap
    ``(low, high)`` interval: each resample draws files once for both predictions, so what
    the two share (the hard files, the easy ones) cancels out of the difference. An
    interval that holds 0 says the files do not tell the two apart. Resamples are
    stratified by class by default (each keeps both classes).

    >>> y = [0, 0, 0, 1, 1, 1]
    >>> d, lo, hi = paired_bootstrap_diff(roc_auc, y, [.2, .6, .4, .5, .3, .9], [.1, .2, .3, .7, .8, .9])
    >>> round(d, 3), lo <= d <= hi
    (0.333, True)
    """
    _check_boot(n_boot, alpha)
    y, a = _check(y_true, pred_a, both_classes=False, name="pred_a")
    _, b = _check(y_true, pred_b, both_classes=False, name="pred_b")
    estimate = float(metric_fn(y, b)) - float(metric_fn(y, a))
    values: list[float] = []
    for idx in _resamples(y, n_boot, random_state=random_state, stratified=stratified):
        try:
            values.append(float(metric_fn(y[idx], b[idx])) - float(metric_fn(y[idx], a[idx])))
        except MetricInputError:
            continue
    low, high = _percentiles(values, n_boot, alpha, y)
    return estimate, low, high


def _check_boot(n_boot: int, alpha: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise MetricInputError(f"n_boot must be a positive integer; got {n_boot!r}")
    if not 0.0 < alpha < 1.0:
        raise MetricInputError(f"alpha must be in (0, 1); got {alpha!r}")


def _resamples(
    y: IntArray, n_boot: int, *, random_state: int | None, stratified: bool
) -> Iterator[np.ndarray]:
    """``n_boot`` bootstrap draws of file indices (with replacement; ``stratified``: REAL
    and FAKE drawn apart, keeping the class counts)."""
    rng = np.random.default_rng(random_state)
    groups = [g for g in (np.flatnonzero(y == c) for c in (0, 1)) if g.size]
    for _ in range(n_boot):
        if stratified:
            yield np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups])
        else:
            yield rng.integers(0, y.size, y.size)


def _percentiles(
    values: list[float], n_boot: int, alpha: float, y: IntArray
) -> tuple[float, float]:
    if (n_boot - len(values)) * 10 > n_boot:
        raise MetricInputError(
            f"the metric was undefined on {n_boot - len(values)} of {n_boot} bootstrap resamples "
            f"({y.size} samples, {int(y.sum())} FAKE); use stratified=True or more samples"
        )
    low, high = np.quantile(np.asarray(values), [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


# --------------------------------------------------------------------------- levels


def _mean(x: FloatArray) -> float:
    return float(np.mean(x))


def _median(x: FloatArray) -> float:
    return float(np.median(x))


def _max(x: FloatArray) -> float:
    return float(np.max(x))


#: How frame scores become one video score. ``mean`` is what the scanner's default
#: aggregation and most DFDC solutions used.
VIDEO_RULES: dict[str, Callable[[FloatArray], float]] = {
    "mean": _mean,
    "median": _median,
    "max": _max,
}


def video_level_from_frames(
    frame_scores: ArrayLike, video_ids: Sequence[Any] | ArrayLike, *, rule: str = "mean"
) -> tuple[list[Any], FloatArray]:
    """Collapse frame-level scores into one score per video with a named ``rule``.

    Returns ``(video_ids, scores)`` in order of first appearance. Frame-level metrics are
    computed on the frames themselves (each frame carries its video's label); video-level
    metrics on the output of this function. The two are never mixed.

    >>> video_level_from_frames([0.2, 0.4, 0.9], ["a", "a", "b"])
    (['a', 'b'], array([0.3, 0.9]))
    """
    if rule not in VIDEO_RULES:
        from unmask.errors import UnknownNameError

        raise UnknownNameError("video rule", rule, VIDEO_RULES)
    ids = list(video_ids)  # type: ignore[arg-type]
    s = _as_scores(frame_scores, len(ids), name="frame_scores", probability=False)
    if not ids:
        raise MetricInputError("frame_scores is empty; there are no frames to aggregate")
    first: dict[Any, int] = {}
    codes = np.fromiter((first.setdefault(v, len(first)) for v in ids), np.int64, len(ids))
    order = np.argsort(codes, kind="mergesort")
    bounds = np.r_[0, np.cumsum(np.bincount(codes))]
    sorted_scores = s[order]
    fn = VIDEO_RULES[rule]
    scores = np.array([fn(sorted_scores[bounds[k] : bounds[k + 1]]) for k in range(len(first))])
    return list(first), scores


def summarize(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    level: Level,
    threshold: float = 0.5,
    eps: float = DFDC_EPS,
    n_bins: int = 15,
    recall_level: float = 0.5,
    prevalence: float = 0.01,
) -> dict[str, Any]:
    """Every metric for one set of samples at a named level, as a JSON-ready dict.

    Metrics that need both classes are ``None`` when one is absent (e.g. a per-method subset
    of fakes only); ``n``, ``n_fake`` and ``n_real`` say why.

    >>> s = summarize([0, 1, 1, 0], [0.2, 0.7, 0.9, 0.4], level="video")
    >>> s["level"], s["n"], s["auc"]
    ('video', 4, 1.0)
    """
    if level not in LEVELS:
        raise MetricInputError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    y, p = _check(y_true, y_prob, both_classes=False, probability=True, name="y_prob")
    n_fake = int(y.sum())
    both = 0 < n_fake < y.size
    out: dict[str, Any] = {
        "level": level,
        "n": int(y.size),
        "n_fake": n_fake,
        "n_real": int(y.size) - n_fake,
        "log_loss": log_loss(y, p, eps=eps),
        "auc": roc_auc(y, p) if both else None,
        "ap": average_precision(y, p) if both else None,
        "eer": eer(y, p) if both else None,
        "accuracy": accuracy(y, p, threshold=threshold),
        "precision": precision(y, p, threshold=threshold),
        "recall": recall(y, p, threshold=threshold) if n_fake else None,
        "weighted_precision": (
            weighted_precision(y, p, recall_level=recall_level, prevalence=prevalence)
            if both
            else None
        ),
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
    }
    return out
