"""Turn a spec and the consenting actors into a fixed list of videos to make.

Everything here is a pure function of the spec (its seed above all) and the actors'
footage ids: the same inputs give the same plan, so a resumed build knows exactly which
videos it still owes. Splits are identity-disjoint: actors, not videos, are assigned to
splits, and a fake only pairs actors of one split.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from unmask.errors import ConfigError
from unmask.forge.perturbations import sample_params
from unmask.forge.spec import SPLITS, BuildSpec

TEST_DIRS = {"public_test": "test/public", "private_test": "test/private"}


def stable_int(*parts: object) -> int:
    """A 63-bit integer from the parts' text (stable across runs, unlike ``hash``)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def video_name(seed: int, key: str, taken: set[str]) -> str:
    """A DFDC-style name (ten lowercase letters) that says nothing about the video."""
    for attempt in range(1000):
        n = stable_int("name", seed, key, attempt)
        letters = []
        for _ in range(10):
            n, r = divmod(n, 26)
            letters.append(string.ascii_lowercase[r])
        name = "".join(letters) + ".mp4"
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError("could not find a free video name")  # pragma: no cover


@dataclass(frozen=True)
class ActorPool:
    """One consenting actor as the planner sees them."""

    actor_id: str
    roles: frozenset[str]  # roles valid for the spec's uses
    videos: tuple[str, ...]  # accepted video footage: reals and fake targets
    footage: tuple[str, ...]  # all accepted footage (videos and photos): sources


@dataclass(frozen=True)
class PlanItem:
    """One output video: where it goes, what it is made of, and how it is perturbed."""

    index: int
    name: str
    file: str  # relative to the dataset folder
    split: str
    label: str  # "REAL" | "FAKE"
    method: str  # "real" or a forge method
    target_actor: str
    target_footage: str
    source_actor: str | None
    source_footage: str | None
    original: str | None  # file of the REAL made from the same target footage
    perturbations: tuple[dict[str, Any], ...]
    seed: int

    @property
    def actors(self) -> list[str]:
        return sorted({self.target_actor, *([self.source_actor] if self.source_actor else [])})

    @property
    def video_id(self) -> str:
        return self.name.rsplit(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["perturbations"] = list(self.perturbations)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PlanItem:
        return cls(**{**d, "perturbations": tuple(d["perturbations"])})


@dataclass(frozen=True)
class Plan:
    items: tuple[PlanItem, ...]
    actor_splits: Mapping[str, str]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "actor_splits": dict(sorted(self.actor_splits.items())),
            "items": [i.to_dict() for i in self.items],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        return cls(
            items=tuple(PlanItem.from_dict(i) for i in d["items"]),
            actor_splits=dict(d["actor_splits"]),
            notes=tuple(d.get("notes", ())),
        )


def fingerprint(spec: Mapping[str, Any], plan: Mapping[str, Any]) -> str:
    """sha256 of a spec and its plan (as plain dicts): a resumed build must match it."""
    text = json.dumps({"spec": spec, "plan": plan}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _largest_remainder(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    keys = [k for k in SPLITS if k in weights]
    wsum = sum(weights[k] for k in keys)
    if total <= 0 or wsum <= 0:
        return dict.fromkeys(keys, 0)
    exact = {k: total * weights[k] / wsum for k in keys}
    out = {k: int(exact[k]) for k in keys}
    by_remainder = sorted(keys, key=lambda k: (-(exact[k] - out[k]), keys.index(k)))
    for k in by_remainder[: total - sum(out.values())]:
        out[k] += 1
    return out


def assign_splits(
    actor_ids: Sequence[str], fractions: Mapping[str, float], seed: int, *, min_per_split: int = 1
) -> dict[str, str]:
    """Assign each actor to one split, deterministically from ``seed``.

    Split sizes follow ``fractions`` (largest remainder); every split with a positive
    fraction gets at least ``min_per_split`` actors (at least one, and ``min_per_split``
    when there are enough actors for that; a fake that pairs two actors needs two).

    >>> assign_splits(["a", "b", "c", "d"], {"train": 0.5, "public_test": 0.5}, seed=0)
    {'a': 'public_test', 'b': 'train', 'c': 'public_test', 'd': 'train'}
    """
    actors = sorted(actor_ids)
    wanted = [s for s in SPLITS if fractions.get(s, 0) > 0]
    if len(actors) < len(wanted):
        raise ConfigError(
            f"{len(actors)} actor(s) cannot fill the {len(wanted)} splits with a positive "
            f"fraction ({', '.join(wanted)}); splits are identity-disjoint, so add actors "
            "or set some split fractions to 0"
        )
    counts = _largest_remainder(len(actors), {s: fractions.get(s, 0.0) for s in wanted})
    floor = min_per_split if len(actors) >= min_per_split * len(wanted) else 1
    for split in wanted:
        while counts[split] < floor:
            donor = max(counts, key=lambda s: counts[s])
            counts[donor] -= 1
            counts[split] += 1
    order = np.random.default_rng(stable_int("splits", seed)).permutation(len(actors))
    out: dict[str, str] = {}
    position = 0
    for split in wanted:
        for i in order[position : position + counts[split]]:
            out[actors[int(i)]] = split
        position += counts[split]
    return dict(sorted(out.items()))


def _file_for(split: str, name: str, part: int | None) -> str:
    if split in TEST_DIRS:
        return f"{TEST_DIRS[split]}/{name}"
    return f"dfdc_train_part_{part}/{name}"


def _perturbations(spec: BuildSpec, split: str, key: str) -> tuple[dict[str, Any], ...]:
    plan = spec.perturbations
    if split not in plan.splits or plan.rate <= 0:
        return ()
    rng = np.random.default_rng(stable_int("perturb", spec.seed, key))
    if rng.random() >= plan.rate:
        return ()
    names = sorted(plan.apply)
    k = int(rng.integers(1, min(plan.max_per_video, len(names)) + 1))
    chosen = sorted(str(n) for n in rng.choice(names, size=k, replace=False))
    return tuple({"name": n, "params": sample_params(n, rng, plan.apply[n])} for n in chosen)


@dataclass
class _Draft:
    split: str
    label: str
    method: str
    target_actor: str
    target_footage: str
    source_actor: str | None
    source_footage: str | None
    key: str


def _fakes_for(
    spec: BuildSpec,
    method: str,
    count: int,
    needs_source: bool,
    pools: Mapping[str, ActorPool],
    actor_splits: Mapping[str, str],
    notes: list[str],
) -> list[_Draft]:
    targets: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    sources: dict[str, list[str]] = {s: [] for s in SPLITS}
    for actor, split in actor_splits.items():
        pool = pools[actor]
        if "target" in pool.roles:
            targets[split] += [(actor, f) for f in pool.videos]
        if "source" in pool.roles and pool.footage:
            sources[split].append(actor)

    def capable(split: str) -> bool:
        if not targets[split]:
            return False
        if not needs_source:
            return True
        return any(s != t for s in sources[split] for t, _f in targets[split])

    weights = {s: float(len(targets[s])) if capable(s) else 0.0 for s in SPLITS}
    if count and not any(weights.values()):
        need = "a target actor and a different source actor" if needs_source else "a target actor"
        raise ConfigError(
            f"method {method!r} cannot make any fake: no split has {need} with valid consent "
            "and accepted footage"
        )
    for split in SPLITS:
        if spec.splits.get(split, 0) > 0 and not weights[split] and count:
            notes.append(f"{method}: no fakes in {split} (it lacks suitable actors)")
    drafts = []
    for split, n in _largest_remainder(count, weights).items():
        rng = np.random.default_rng(stable_int("pairs", spec.seed, method, split))
        lap: list[int] = []
        used: dict[str, int] = dict.fromkeys(sources[split], 0)
        for i in range(n):
            if not lap:
                lap = [int(j) for j in rng.permutation(len(targets[split]))]
            target_actor, target_footage = targets[split][lap.pop(0)]
            source_actor = source_footage = None
            if needs_source:
                options = sorted(s for s in sources[split] if s != target_actor)
                if not options:  # this target has no partner; take the next target
                    partnered = [
                        j
                        for j, (t, _f) in enumerate(targets[split])
                        if any(s != t for s in sources[split])
                    ]
                    target_actor, target_footage = targets[split][int(rng.choice(partnered))]
                    options = sorted(s for s in sources[split] if s != target_actor)
                fewest = min(used[s] for s in options)
                source_actor = str(rng.choice([s for s in options if used[s] == fewest]))
                used[source_actor] += 1
                source_footage = str(rng.choice(sorted(pools[source_actor].footage)))
            drafts.append(
                _Draft(
                    split,
                    "FAKE",
                    method,
                    target_actor,
                    target_footage,
                    source_actor,
                    source_footage,
                    f"{method}|{split}|{i}|{target_footage}|{source_footage}",
                )
            )
    return drafts


def make_plan(
    spec: BuildSpec, pools: Mapping[str, ActorPool], needs_source: Mapping[str, bool]
) -> Plan:
    """Reals first (one per accepted video of each target actor), then each method's fakes.

    ``needs_source`` maps each method of the spec to whether it takes a source actor.
    """
    pairs = any(needs_source[m] and spec.methods[m].count for m in spec.methods)
    actor_splits = assign_splits(
        sorted(pools), spec.splits, spec.seed, min_per_split=2 if pairs else 1
    )
    notes: list[str] = []
    drafts: list[_Draft] = []
    for split in SPLITS:
        for actor in sorted(a for a, s in actor_splits.items() if s == split):
            if "target" not in pools[actor].roles:
                continue
            for footage in pools[actor].videos:
                drafts.append(
                    _Draft(split, "REAL", "real", actor, footage, None, None, f"real|{footage}")
                )
    for method in sorted(spec.methods):
        count = spec.methods[method].count
        drafts += _fakes_for(spec, method, count, needs_source[method], pools, actor_splits, notes)
    taken: set[str] = set()
    names = [video_name(spec.seed, d.key, taken) for d in drafts]
    parts: dict[int, int] = {}
    next_part = 0
    for split in ("train", "validation"):  # parts hold one split each, numbered in order
        members = [i for i, d in enumerate(drafts) if d.split == split]
        for j, i in enumerate(members):
            parts[i] = next_part + j // spec.part_size
        next_part += -(-len(members) // spec.part_size)
    files = [_file_for(d.split, names[i], parts.get(i)) for i, d in enumerate(drafts)]
    real_file = {d.target_footage: files[i] for i, d in enumerate(drafts) if d.label == "REAL"}
    items = tuple(
        PlanItem(
            index=i,
            name=names[i],
            file=files[i],
            split=d.split,
            label=d.label,
            method=d.method,
            target_actor=d.target_actor,
            target_footage=d.target_footage,
            source_actor=d.source_actor,
            source_footage=d.source_footage,
            original=real_file.get(d.target_footage) if d.label == "FAKE" else None,
            perturbations=_perturbations(spec, d.split, d.key),
            seed=stable_int("item", spec.seed, d.key),
        )
        for i, d in enumerate(drafts)
    )
    return Plan(items=items, actor_splits=actor_splits, notes=tuple(notes))
