from __future__ import annotations

from collections import Counter

import pytest

from unmask.errors import ConfigError
from unmask.forge._plan import ActorPool, assign_splits, fingerprint, make_plan
from unmask.forge.spec import BuildSpec


def pools(
    n: int, *, roles: tuple[str, ...] = ("source", "target"), videos: int = 1
) -> dict[str, ActorPool]:
    out = {}
    for i in range(n):
        vids = tuple(f"ftg-{i:02d}{v}" for v in range(videos))
        out[f"act-{i:02d}"] = ActorPool(f"act-{i:02d}", frozenset(roles), vids, vids)
    return out


def spec(**kw) -> BuildSpec:
    return BuildSpec.from_dict({"uses": ["research"], **kw})


def test_actor_splits_follow_fractions_and_are_deterministic() -> None:
    ids = [f"act-{i:02d}" for i in range(20)]
    fractions = {"train": 0.7, "validation": 0.1, "public_test": 0.1, "private_test": 0.1}
    a = assign_splits(ids, fractions, seed=1)
    assert a == assign_splits(list(reversed(ids)), fractions, seed=1)
    assert Counter(a.values()) == {
        "train": 14,
        "validation": 2,
        "public_test": 2,
        "private_test": 2,
    }
    assert a != assign_splits(ids, fractions, seed=2)


def test_every_split_with_a_fraction_gets_an_actor() -> None:
    a = assign_splits(
        [f"a{i}" for i in range(4)],
        {"train": 0.9, "validation": 0.04, "public_test": 0.03, "private_test": 0.03},
        seed=0,
    )
    assert set(a.values()) == {"train", "validation", "public_test", "private_test"}
    with pytest.raises(ConfigError, match="identity-disjoint"):
        assign_splits(["a", "b"], {"train": 0.5, "validation": 0.2, "public_test": 0.3}, seed=0)


def test_fakes_never_cross_splits_and_pair_different_actors() -> None:
    plan = make_plan(spec(seed=4, methods={"m": 40}), pools(12), {"m": True})
    fakes = [i for i in plan.items if i.label == "FAKE"]
    assert len(fakes) == 40
    for item in fakes:
        assert item.source_actor and item.source_actor != item.target_actor
        assert (
            plan.actor_splits[item.source_actor]
            == item.split
            == plan.actor_splits[item.target_actor]
        )
        assert item.original is not None
        real = next(i for i in plan.items if i.file == item.original)
        assert real.label == "REAL" and real.target_footage == item.target_footage
    by_split = Counter(i.split for i in fakes)
    assert set(by_split) == {"train", "validation", "public_test", "private_test"}


def test_reals_come_first_and_layout_follows_the_contract() -> None:
    plan = make_plan(spec(seed=1, methods={"m": 6}, part_size=3), pools(8), {"m": False})
    labels = [i.label for i in plan.items]
    assert labels == sorted(labels, key=lambda lab: lab != "REAL")
    for item in plan.items:
        if item.split == "public_test":
            assert item.file.startswith("test/public/")
        elif item.split == "private_test":
            assert item.file.startswith("test/private/")
        else:
            assert item.file.startswith("dfdc_train_part_")
        assert item.source_actor is None if item.label == "REAL" else True
    parts: dict[str, set[str]] = {}
    for item in plan.items:
        if item.file.startswith("dfdc_train_part_"):
            parts.setdefault(item.file.split("/")[0], set()).add(item.split)
    assert all(len(s) == 1 for s in parts.values())  # a part holds one split
    assert all(sum(i.file.startswith(p + "/") for i in plan.items) <= 3 for p in parts)
    assert len({i.name for i in plan.items}) == len(plan.items)


def test_plans_are_deterministic_and_seed_dependent() -> None:
    kw = dict(methods={"m": 10}, perturbations={"rate": 0.5, "apply": {"blur": {}, "crf": {}}})
    a = make_plan(spec(seed=9, **kw), pools(10), {"m": True})
    b = make_plan(spec(seed=9, **kw), pools(10), {"m": True})
    c = make_plan(spec(seed=10, **kw), pools(10), {"m": True})
    assert a == b
    assert (
        fingerprint({}, a.to_dict()) == fingerprint({}, b.to_dict()) != fingerprint({}, c.to_dict())
    )


def test_perturbations_do_not_depend_on_the_label() -> None:
    kw = dict(methods={"m": 200}, perturbations={"rate": 0.5, "apply": {"blur": {}, "crf": {}}})
    plan = make_plan(spec(seed=2, **kw), pools(40, videos=5), {"m": True})
    share = {
        label: sum(bool(i.perturbations) for i in plan.items if i.label == label)
        / sum(i.label == label for i in plan.items)
        for label in ("REAL", "FAKE")
    }
    assert 0.35 < share["REAL"] < 0.65 and 0.35 < share["FAKE"] < 0.65


def test_perturbations_only_in_the_chosen_splits() -> None:
    kw = dict(
        perturbations={
            "rate": 1.0,
            "apply": {"blur": {}},
            "splits": ["public_test", "private_test"],
        }
    )
    plan = make_plan(spec(seed=2, **kw), pools(12), {})
    for item in plan.items:
        assert bool(item.perturbations) == item.split.endswith("_test")


def test_source_only_actors_are_never_real_and_a_method_without_pairs_is_an_error() -> None:
    p = pools(4) | {"act-src": ActorPool("act-src", frozenset({"source"}), (), ("ftg-img",))}
    plan = make_plan(spec(seed=0, splits={"train": 1.0}, methods={"m": 8}), p, {"m": True})
    assert all(i.target_actor != "act-src" for i in plan.items)
    with pytest.raises(ConfigError, match="cannot make any fake"):
        make_plan(spec(splits={"train": 1.0}, methods={"m": 2}), pools(1), {"m": True})
