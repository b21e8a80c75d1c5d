"""Test sets (split column honoured, seeded split otherwise) and scores (evaluate kit metrics)."""

from __future__ import annotations

import math

import pytest

from tests.arena.conftest import LABELS, good_predictions, labels_csv, predictions_csv
from unmask.arena.scoring import TestSet, load_test_set, score_csv, seeded_split
from unmask.errors import DatasetError, InvalidSubmissionError


def dfdc_labels(n: int = 100) -> bytes:
    return (
        "filename,label\n" + "".join(f"v{i:03d}.mp4,{int(i % 3 == 0)}\n" for i in range(n))
    ).encode()


def test_split_column_is_honoured() -> None:
    test_set = load_test_set(labels_csv(), seed=123)
    assert test_set.split_source == "column"
    assert {f: p for f, p in test_set.parts.items()} == {f: f.split("/")[0] for f, _ in LABELS}
    assert dict(test_set.labels) == dict(LABELS)


def test_seeded_split_is_fixed_stratified_and_seed_dependent() -> None:
    a = load_test_set(dfdc_labels(), seed=7, public_fraction=0.3)
    assert (
        a.split_source == "seeded"
        and a.parts == load_test_set(dfdc_labels(), seed=7, public_fraction=0.3).parts
    )
    assert a.parts != load_test_set(dfdc_labels(), seed=8, public_fraction=0.3).parts
    public = [f for f, p in a.parts.items() if p == "public"]
    assert len(public) == 30
    fakes = [f for f in public if a.labels[f] == 1]
    assert len(fakes) == round(34 * 0.3)  # 34 fakes in 100, the same share in each part


def test_tiny_test_sets_still_get_both_parts() -> None:
    parts = seeded_split({"a": 0, "b": 1, "c": 0, "d": 1}, public_fraction=0.1, seed=0)
    assert sorted(parts.values()) == ["private", "private", "public", "public"]
    with pytest.raises(DatasetError, match="public part of the test set is empty"):
        load_test_set(b"filename,label,split\na.mp4,1,private\nb.mp4,0,private\n")
    with pytest.raises(DatasetError, match="split must be 'public' or 'private'; got 'test'"):
        load_test_set(b"filename,label,split\na.mp4,1,test\n")


def test_scores_are_dfdc_log_loss_per_part() -> None:
    test_set = load_test_set(labels_csv())
    half = score_csv(predictions_csv(), test_set)
    assert half.public_score == pytest.approx(math.log(2)) and half.private_score == pytest.approx(
        math.log(2)
    )
    good = score_csv(good_predictions(0.9), test_set)
    assert good.public_score == pytest.approx(-math.log(0.9)) and good.public_auc == pytest.approx(
        1.0
    )


def test_auc_is_none_when_a_part_has_one_class() -> None:
    one_class = TestSet(labels={"a": 1, "b": 1, "c": 0, "d": 1}, parts={"a": "public", "b": "public",
                                                                        "c": "private", "d": "private"})  # fmt: skip
    scores = score_csv(b"filename,label\na,0.9\nb,0.8\nc,0.1\nd,0.7\n", one_class)
    assert scores.public_auc is None and scores.private_auc == pytest.approx(1.0)
    assert scores.public_score == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)


def test_invalid_predictions_raise_with_problems() -> None:
    with pytest.raises(InvalidSubmissionError) as err:
        score_csv(b"filename,label\npublic/a.mp4,2\n", load_test_set(labels_csv()))
    assert err.value.problems
