"""Test sets and scores, on top of the evaluate kit (validator and DFDC metrics).

A test set is loaded from a forge labels file (``filename,label,split``: the split column is
honoured) or any DFDC labels file (``filename,label``: split public/private here, stratified
by label, with a fixed seed, so the same file and seed always give the same parts).

    >>> test_set = load_test_set(b"filename,label\\na.mp4,1\\nb.mp4,0\\n", seed=0)  # doctest: +SKIP
    >>> scores = score_csv(b"filename,label\\na.mp4,0.9\\nb.mp4,0.2\\n", test_set)  # doctest: +SKIP
    >>> scores.public_score                                                        # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from unmask.errors import DatasetError, MetricInputError
from unmask.eval.metrics import log_loss, roc_auc
from unmask.eval.submission import read_label_table, validate_submission

PARTS = ("public", "private")


@dataclass(frozen=True)
class TestSet:
    """Labels and the public/private part of every test file."""

    __test__ = False  # not a pytest class

    labels: Mapping[str, int]
    parts: Mapping[str, str]
    split_source: str = "stored"  # "column" (the file's split column) | "seeded" | "stored"

    def __post_init__(self) -> None:
        if set(self.labels) != set(self.parts):
            raise DatasetError("every test file needs both a label and a part")
        unknown = sorted({p for p in self.parts.values() if p not in PARTS})
        if unknown:
            example = next(f for f, p in self.parts.items() if p == unknown[0])
            raise DatasetError(
                f"split must be 'public' or 'private'; got {', '.join(map(repr, unknown))} "
                f"(e.g. for {example!r})"
            )
        for part in PARTS:
            if part not in self.parts.values():
                raise DatasetError(
                    f"the {part} part of the test set is empty; a challenge needs test files "
                    "in both parts (at least 2 files, or a split column naming both)"
                )

    def count(self, part: str) -> int:
        return sum(1 for p in self.parts.values() if p == part)


def seeded_split(labels: Mapping[str, int], *, public_fraction: float, seed: int) -> dict[str, str]:
    """Public/private parts, stratified by label; the same inputs always give the same split.

    >>> seeded_split({"a": 0, "b": 0, "c": 1, "d": 1}, public_fraction=0.5, seed=0)["a"] in PARTS
    True
    """
    if not 0.0 < public_fraction < 1.0:
        raise DatasetError(f"public_fraction must be in (0, 1); got {public_fraction}")
    rng = random.Random(seed)
    parts: dict[str, str] = {}
    for label in (0, 1):
        names = sorted(n for n, y in labels.items() if y == label)
        rng.shuffle(names)
        n_public = round(len(names) * public_fraction)
        if len(names) >= 2:  # both parts get some of each class when there are enough
            n_public = min(max(n_public, 1), len(names) - 1)
        for i, name in enumerate(names):
            parts[name] = "public" if i < n_public else "private"
    return parts


def load_test_set(data: bytes, *, public_fraction: float = 0.5, seed: int = 0) -> TestSet:
    """Read a forge or DFDC labels file (bytes) into a :class:`TestSet`."""
    table = read_label_table(data)
    if table.splits is not None:
        return TestSet(labels=table.labels, parts=table.splits, split_source="column")
    parts = seeded_split(table.labels, public_fraction=public_fraction, seed=seed)
    return TestSet(labels=table.labels, parts=parts, split_source="seeded")


@dataclass(frozen=True)
class Scores:
    """DFDC log loss (lower is better) and ROC AUC on each part; AUC None when undefined."""

    public_score: float
    public_auc: float | None
    private_score: float
    private_auc: float | None


def _part_scores(
    preds: Mapping[str, float], test_set: TestSet, part: str
) -> tuple[float, float | None]:
    names = [n for n, p in test_set.parts.items() if p == part]
    y_true = [test_set.labels[n] for n in names]
    y_pred = [preds[n] for n in names]
    loss = float(log_loss(y_true, y_pred))
    try:
        auc: float | None = float(roc_auc(y_true, y_pred))
    except MetricInputError:  # one class in this part: AUC is shown as n/a
        auc = None
    return loss, auc


def score_predictions(preds: Mapping[str, float], test_set: TestSet) -> Scores:
    """Scores of validated predictions (one per test file)."""
    pub, pub_auc = _part_scores(preds, test_set, "public")
    priv, priv_auc = _part_scores(preds, test_set, "private")
    return Scores(public_score=pub, public_auc=pub_auc, private_score=priv, private_auc=priv_auc)


def validate_csv(data: bytes, test_set: TestSet, *, max_bytes: int) -> dict[str, float]:
    """The predictions of a DFDC CSV; raises InvalidSubmissionError listing its problems."""
    return validate_submission(data, test_set.labels, max_bytes=max_bytes)


def score_csv(data: bytes, test_set: TestSet, *, max_bytes: int = 1 << 30) -> Scores:
    """Validate a DFDC prediction CSV against the test set and score both parts."""
    return score_predictions(validate_csv(data, test_set, max_bytes=max_bytes), test_set)


@dataclass(frozen=True)
class Outcome:
    """What a worker made of one submission: its final status and what to show for it."""

    status: str  # one of models.FINAL_STATES
    scores: Scores | None = None
    execution_s: float | None = None
    error: str | None = None
    log_excerpt: str | None = None
