"""Metrics against scikit-learn on hand-checked fixtures (ties, one class, NaN/inf)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from unmask.errors import MetricInputError, UnknownNameError
from unmask.eval import metrics as m

# Hand-checked fixtures: (y_true, y_score). The tied one has REAL and FAKE on equal scores.
FIXTURES = {
    "separable": ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]),
    "one_swap": ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
    "ties": ([0, 1, 0, 1, 1, 0, 0, 1], [0.5, 0.5, 0.2, 0.9, 0.2, 0.7, 0.5, 0.5]),
    "all_tied": ([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]),
    "inverted": ([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]),
    "extremes": ([0, 1, 1, 0, 1], [0.0, 1.0, 0.0, 1.0, 0.6]),
}


def _random(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1).round(2)  # many ties
    return y, s


CASES = list(FIXTURES.values()) + [_random(k) for k in range(3)]
IDS = [*FIXTURES, "random0", "random1", "random2"]


@pytest.mark.parametrize(("y", "s"), CASES, ids=IDS)
def test_auc_ap_log_loss_match_sklearn(y, s):
    assert m.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    clipped = np.clip(np.asarray(s, float), 1e-15, 1 - 1e-15)
    assert m.log_loss(y, s) == pytest.approx(skm.log_loss(y, clipped), rel=1e-12)


@pytest.mark.parametrize(("y", "s"), CASES, ids=IDS)
def test_threshold_metrics_match_sklearn(y, s):
    for t in (0.3, 0.5, 0.7):
        called = (np.asarray(s) >= t).astype(int)
        assert m.accuracy(y, s, threshold=t) == pytest.approx(skm.accuracy_score(y, called))
        assert m.precision(y, s, threshold=t) == pytest.approx(
            skm.precision_score(y, called, zero_division=0)
        )
        assert m.recall(y, s, threshold=t) == pytest.approx(skm.recall_score(y, called))


@pytest.mark.parametrize(("y", "s"), CASES, ids=IDS)
def test_roc_and_pr_curves_match_sklearn(y, s):
    fpr, tpr, thr = m.roc_curve(y, s)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    p, r, _ = m.pr_curve(y, s)
    sk_p, sk_r, _ = skm.precision_recall_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(p, sk_p[:-1][::-1])
    np.testing.assert_allclose(r, sk_r[:-1][::-1])


@pytest.mark.parametrize(("y", "s"), CASES, ids=IDS)
def test_eer_is_where_fpr_meets_fnr_on_sklearn_roc(y, s):
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    fnr = 1 - tpr
    # dense walk along the piecewise-linear ROC: the crossing of FPR and FNR
    t = np.linspace(0, 1, 20001)
    seg_fpr = np.concatenate([a + t * (b - a) for a, b in itertools.pairwise(fpr)])
    seg_fnr = np.concatenate([a + t * (b - a) for a, b in itertools.pairwise(fnr)])
    k = np.argmin(np.abs(seg_fpr - seg_fnr))
    assert m.eer(y, s) == pytest.approx((seg_fpr[k] + seg_fnr[k]) / 2, abs=1e-3)


def test_hand_checked_values():
    y, s = FIXTURES["ties"]
    # 4 fakes x 4 reals; wins by hand (ties 1/2): 0.5 -> 2, 0.9 -> 4, 0.2 -> 0.5, 0.5 -> 2
    assert m.roc_auc(y, s) == pytest.approx(8.5 / 16)
    assert m.roc_auc(*FIXTURES["all_tied"]) == 0.5
    assert m.eer(*FIXTURES["separable"]) == 0.0
    assert m.eer(*FIXTURES["inverted"]) == 1.0
    assert m.log_loss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert m.log_loss([1], [0.0]) == pytest.approx(-math.log(1e-15))
    assert m.log_loss([1], [0.0], eps=1e-3) == pytest.approx(-math.log(1e-3))
    assert m.confusion_counts(y, s, threshold=0.5) == (3, 3, 1, 1)


def test_log_loss_eps_and_range_checks():
    with pytest.raises(MetricInputError, match="eps"):
        m.log_loss([0, 1], [0.2, 0.8], eps=0.0)
    with pytest.raises(MetricInputError, match=r"probabilities in \[0, 1\].*1.5 at index 1"):
        m.log_loss([0, 1], [0.2, 1.5])


@pytest.mark.parametrize(("y", "s"), CASES, ids=IDS)
def test_ece_and_reliability_match_sklearn_calibration_curve(y, s):
    frac, conf = calibration_curve(y, s, n_bins=15, strategy="uniform")
    my_conf, my_frac, count = m.reliability_curve(y, s, n_bins=15)
    np.testing.assert_allclose(my_conf, conf)
    np.testing.assert_allclose(my_frac, frac)
    expected = np.sum(count * np.abs(frac - conf)) / len(y)
    assert m.expected_calibration_error(y, s) == pytest.approx(expected)
    assert count.sum() == len(y)


def test_ece_is_zero_when_calibrated_and_large_when_not():
    y = [0] * 8 + [1] * 2
    assert m.expected_calibration_error(y, [0.2] * 10, n_bins=10) == pytest.approx(0.0)
    assert m.expected_calibration_error([0, 1], [1.0, 0.0]) == pytest.approx(1.0)


def test_weighted_precision_definition():
    y, s = _random(7)
    y, s = np.asarray(y), np.asarray(s)
    base = y.mean()
    for level in (0.1, 0.5, 0.9):
        tps, _, thr = m.binary_clf_curve(y, s)
        i = np.argmax(tps / tps[-1] >= level)
        called = s >= thr[i]
        # with the test set's own prevalence it is ordinary precision at that operating point
        assert m.weighted_precision(y, s, recall_level=level, prevalence=base) == pytest.approx(
            skm.precision_score(y, called)
        )
        # with alpha = (n_fake/n_real)(1-pi)/pi it is tp / (tp + alpha fp)
        pi = 0.01
        alpha = (y.sum() / (y.size - y.sum())) * (1 - pi) / pi
        tp, fp = np.sum(called & (y == 1)), np.sum(called & (y == 0))
        assert m.weighted_precision(y, s, recall_level=level, prevalence=pi) == pytest.approx(
            tp / (tp + alpha * fp)
        )
    assert m.weighted_precision(y, s, prevalence=0.001) < m.weighted_precision(y, s, prevalence=0.1)


@pytest.mark.parametrize(
    "fn",
    [m.roc_auc, m.average_precision, m.eer, m.weighted_precision, m.roc_curve, m.pr_curve],
)
def test_single_class_is_a_clear_error(fn):
    with pytest.raises(MetricInputError, match=r"both REAL \(0\) and FAKE \(1\).*all 3 are FAKE"):
        fn([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(MetricInputError, match=r"all 2 are REAL"):
        fn([0, 0], [0.2, 0.5])


def test_single_class_where_defined():
    assert m.log_loss([1, 1], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert m.accuracy([0, 0], [0.2, 0.7]) == 0.5
    with pytest.raises(MetricInputError, match="recall needs at least one FAKE"):
        m.recall([0, 0], [0.2, 0.7])


ALL = [
    m.log_loss,
    m.roc_auc,
    m.average_precision,
    m.eer,
    m.accuracy,
    m.precision,
    m.recall,
    m.weighted_precision,
    m.expected_calibration_error,
]


@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_scores_are_clear_errors(fn, bad):
    with pytest.raises(MetricInputError, match=r"NaN or inf.*index 2"):
        fn([0, 1, 1, 0], [0.2, 0.6, bad, 0.1])


@pytest.mark.parametrize("fn", ALL)
def test_bad_shapes_and_labels(fn):
    with pytest.raises(MetricInputError, match=r"y_true has 3 samples but .* has 2"):
        fn([0, 1, 0], [0.2, 0.6])
    with pytest.raises(MetricInputError, match="empty"):
        fn([], [])
    with pytest.raises(MetricInputError, match=r"only 0 \(REAL\) and 1 \(FAKE\); got 2"):
        fn([0, 1, 2], [0.2, 0.6, 0.1])
    with pytest.raises(MetricInputError, match="NaN or inf"):
        fn([0, 1, math.nan], [0.2, 0.6, 0.1])
    with pytest.raises(MetricInputError, match="one-dimensional"):
        fn([[0, 1]], [[0.2, 0.6]])
    with pytest.raises(MetricInputError, match="numeric"):
        fn(["REAL", "FAKE"], [0.2, 0.6])


def test_bootstrap_ci_is_reproducible_and_brackets_the_estimate():
    y, s = _random(3, n=200)
    lo, hi = m.bootstrap_ci(m.roc_auc, y, s, n_boot=300)
    assert lo < m.roc_auc(y, s) < hi
    assert (lo, hi) == m.bootstrap_ci(m.roc_auc, y, s, n_boot=300)
    assert (lo, hi) != m.bootstrap_ci(m.roc_auc, y, s, n_boot=300, random_state=1)
    lo90, hi90 = m.bootstrap_ci(m.roc_auc, y, s, n_boot=300, alpha=0.1)
    assert lo <= lo90 <= hi90 <= hi


@pytest.mark.parametrize("fn", ALL)
def test_bootstrap_ci_for_every_metric(fn):
    y, s = _random(5, n=80)
    lo, hi = m.bootstrap_ci(fn, y, s, n_boot=100, stratified=True)
    assert lo <= hi
    assert lo <= fn(y, s) + 1e-9 or fn is m.eer  # the estimate lies inside up to skew
    assert math.isfinite(lo)
    assert math.isfinite(hi)


def test_bootstrap_refuses_when_metric_mostly_undefined():
    y = [1] * 30 + [0]
    s = np.linspace(0, 1, 31)
    with pytest.raises(MetricInputError, match="stratified=True"):
        m.bootstrap_ci(m.roc_auc, y, s, n_boot=200)
    lo, hi = m.bootstrap_ci(m.roc_auc, y, s, n_boot=200, stratified=True)
    assert lo == hi == m.roc_auc(y, s)  # one real: every stratified resample keeps it


def test_video_level_from_frames():
    ids, scores = m.video_level_from_frames([0.1, 0.9, 0.3, 0.2, 0.8], ["b", "a", "b", "b", "a"])
    assert ids == ["b", "a"]
    np.testing.assert_allclose(scores, [0.2, 0.85])
    _, med = m.video_level_from_frames([0.1, 0.9, 0.3, 0.2], ["b", "a", "b", "b"], rule="median")
    np.testing.assert_allclose(med, [0.2, 0.9])
    _, mx = m.video_level_from_frames([0.1, 0.9, 0.3], ["b", "a", "b"], rule="max")
    np.testing.assert_allclose(mx, [0.3, 0.9])
    with pytest.raises(UnknownNameError, match="did you mean 'mean'"):
        m.video_level_from_frames([0.1], ["a"], rule="meen")
    with pytest.raises(MetricInputError, match="has 1"):
        m.video_level_from_frames([0.1], ["a", "b"])


def test_summarize_names_its_level_and_handles_one_class():
    y, s = _random(2, n=60)
    out = m.summarize(y, s, level="frame")
    assert out["level"] == "frame"
    assert out["n"] == 60
    assert out["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    fakes_only = m.summarize([1, 1], [0.2, 0.9], level="video")
    assert fakes_only["auc"] is None
    assert fakes_only["recall"] == 0.5
    assert fakes_only["log_loss"] > 0
    with pytest.raises(MetricInputError, match="level must be one of frame, video"):
        m.summarize(y, s, level="clip")  # type: ignore[arg-type]


def test_paired_bootstrap_diff_cancels_what_the_two_share():
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(40, int), np.ones(40, int)]
    a = y + rng.normal(0, 1.0, 80)
    same = m.paired_bootstrap_diff(m.roc_auc, y, a, a, n_boot=200)
    assert same == (0.0, 0.0, 0.0)  # a prediction against itself: no difference, no spread
    b = a + 0.5 * y  # the same errors, fakes pushed up: better on every resample
    d, lo, hi = m.paired_bootstrap_diff(m.roc_auc, y, a, b, n_boot=300)
    assert d == pytest.approx(m.roc_auc(y, b) - m.roc_auc(y, a))
    assert 0.0 < lo <= d <= hi
    # paired, the interval is narrower than the two separate intervals suggest
    lo_a, hi_a = m.bootstrap_ci(m.roc_auc, y, a, n_boot=300, stratified=True)
    assert hi - lo < hi_a - lo_a
    assert m.paired_bootstrap_diff(m.roc_auc, y, a, b, n_boot=300) == (d, lo, hi)
    with pytest.raises(m.MetricInputError, match="n_boot"):
        m.paired_bootstrap_diff(m.roc_auc, y, a, b, n_boot=0)
