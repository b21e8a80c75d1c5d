"""The build spec: one typed object loaded from YAML, unknown keys refused with a suggestion.

.. code-block:: yaml

    name: my-benchmark
    uses: [research, evaluation]     # every actor's consent must allow all of these
    seed: 7
    actors: all                      # or a list of actor ids
    frames: 48                       # frames per output video
    splits: {train: 0.7, validation: 0.1, public_test: 0.1, private_test: 0.1}
    methods:
      swap: 10                       # number of fakes (or {count: 10})
      reenact: {count: 5, params: {}}   # params: keyword arguments of the method
    perturbations:
      rate: 0.5                      # share of videos (real and fake alike) perturbed
      max_per_video: 2
      apply: {crf: {crf: [28, 40]}, downscale: {}, fps: {}, blur: {}, text: {}}

>>> spec = BuildSpec.from_dict({"uses": ["research"], "methods": {"swap": 4}})
>>> spec.methods["swap"].count
4
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unmask.errors import ConfigError, closest_names
from unmask.forge.ledger import USES
from unmask.forge.perturbations import check_overrides, get_perturbation

SPLITS = ("train", "validation", "public_test", "private_test")
TEST_SPLITS = ("public_test", "private_test")
DEFAULT_SPLITS = {"train": 0.7, "validation": 0.1, "public_test": 0.1, "private_test": 0.1}


def _reject_unknown(data: Mapping[str, Any], known: list[str], where: str) -> None:
    for key in data:
        if key not in known:
            close = closest_names(str(key), known)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown key {key!r} in {where}{hint} (valid keys: {', '.join(known)})"
            )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping; got {type(value).__name__} {value!r}")
    return value


def _number(
    value: Any, where: str, *, kind: type = float, lo: float | None = None, hi: float | None = None
) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number; got {value!r}")
    if kind is int and int(value) != value:
        raise ConfigError(f"{where} must be a whole number; got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise ConfigError(f"{where} must be in {bounds}; got {value!r}")
    return kind(value)


@dataclass(frozen=True)
class MethodPlan:
    """How many fakes one generation method makes, over all splits, and its parameters
    (keyword arguments of the method's factory; unknown ones are refused when it is created)."""

    count: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_value(cls, value: Any, where: str) -> MethodPlan:
        if not isinstance(value, Mapping):
            return cls(count=_number(value, f"{where}.count", kind=int, lo=0))
        _reject_unknown(value, [f.name for f in dataclasses.fields(cls)], where)
        return cls(
            count=_number(value.get("count", 0), f"{where}.count", kind=int, lo=0),
            params=dict(_mapping(value.get("params"), f"{where}.params")),
        )


@dataclass(frozen=True)
class PerturbationPlan:
    """Which perturbations may be drawn, how often, and in which splits."""

    rate: float = 0.0
    max_per_video: int = 2
    splits: tuple[str, ...] = SPLITS
    apply: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_value(cls, value: Any, where: str) -> PerturbationPlan:
        data = _mapping(value, where)
        _reject_unknown(data, [f.name for f in dataclasses.fields(cls)], where)
        apply = _mapping(data.get("apply"), f"{where}.apply")
        for name, overrides in apply.items():
            get_perturbation(str(name))
            check_overrides(str(name), _mapping(overrides, f"{where}.apply.{name}"))
        splits = data.get("splits", list(SPLITS))
        if not isinstance(splits, list):
            raise ConfigError(f"{where}.splits must be a list of split names; got {splits!r}")
        for split in splits:
            _reject_unknown({split: None}, list(SPLITS), f"{where}.splits")
        plan = cls(
            rate=_number(data.get("rate", 0.0), f"{where}.rate", lo=0.0, hi=1.0),
            max_per_video=_number(
                data.get("max_per_video", 2), f"{where}.max_per_video", kind=int, lo=1
            ),
            splits=tuple(splits),
            apply={str(k): dict(_mapping(v, k)) for k, v in sorted(apply.items())},
        )
        if plan.rate > 0 and not plan.apply:
            raise ConfigError(
                f"{where}.rate is {plan.rate} but {where}.apply names no perturbation"
            )
        return plan


@dataclass(frozen=True)
class BuildSpec:
    """Everything a build needs besides the workspace and the output folder."""

    uses: tuple[str, ...]
    name: str = "forge-dataset"
    seed: int = 0
    actors: tuple[str, ...] | None = None  # None: every actor with valid consent
    frames: int = 48
    max_side: int = 1280
    crf: int = 23
    part_size: int = 100
    splits: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    methods: Mapping[str, MethodPlan] = field(default_factory=dict)
    perturbations: PerturbationPlan = field(default_factory=PerturbationPlan)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildSpec:
        data = _mapping(data, "the spec")
        _reject_unknown(data, [f.name for f in dataclasses.fields(cls)], "the spec")
        if "uses" not in data:
            raise ConfigError(
                f"the spec must say what the dataset is for: add `uses: [...]` "
                f"(choose from {', '.join(USES)})"
            )
        uses = data["uses"] if isinstance(data["uses"], list) else [data["uses"]]
        for use in uses:
            _reject_unknown({use: None}, list(USES), "uses")
        actors = data.get("actors", "all")
        if actors == "all":
            actors_: tuple[str, ...] | None = None
        elif isinstance(actors, list) and actors and all(isinstance(a, str) for a in actors):
            actors_ = tuple(dict.fromkeys(actors))
        else:
            raise ConfigError(f"actors must be `all` or a list of actor ids; got {actors!r}")
        splits = _mapping(data.get("splits"), "splits") or DEFAULT_SPLITS
        _reject_unknown(splits, list(SPLITS), "splits")
        fractions = {s: _number(splits.get(s, 0.0), f"splits.{s}", lo=0.0, hi=1.0) for s in SPLITS}
        if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
            raise ConfigError(
                f"split fractions must add up to 1; they add up to {sum(fractions.values()):g}"
            )
        methods = _mapping(data.get("methods"), "methods")
        return cls(
            uses=tuple(uses),
            name=str(data.get("name", "forge-dataset")),
            seed=_number(data.get("seed", 0), "seed", kind=int, lo=0),
            actors=actors_,
            frames=_number(data.get("frames", 48), "frames", kind=int, lo=1),
            max_side=_number(data.get("max_side", 1280), "max_side", kind=int, lo=32),
            crf=_number(data.get("crf", 23), "crf", kind=int, lo=0, hi=51),
            part_size=_number(data.get("part_size", 100), "part_size", kind=int, lo=1),
            splits=fractions,
            methods={str(k): MethodPlan.from_value(v, f"methods.{k}") for k, v in methods.items()},
            perturbations=PerturbationPlan.from_value(data.get("perturbations"), "perturbations"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the inverse of :meth:`from_dict`)."""
        return {
            "name": self.name,
            "uses": list(self.uses),
            "seed": self.seed,
            "actors": list(self.actors) if self.actors is not None else "all",
            "frames": self.frames,
            "max_side": self.max_side,
            "crf": self.crf,
            "part_size": self.part_size,
            "splits": dict(self.splits),
            "methods": {
                k: {"count": v.count, "params": dict(v.params)}
                for k, v in sorted(self.methods.items())
            },
            "perturbations": {
                "rate": self.perturbations.rate,
                "max_per_video": self.perturbations.max_per_video,
                "splits": list(self.perturbations.splits),
                "apply": {k: dict(v) for k, v in self.perturbations.apply.items()},
            },
        }


def load_spec(path: str | Path) -> BuildSpec:
    """Read a build spec from a YAML file.

    >>> spec = load_spec("benchmark.yaml")  # doctest: +SKIP
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read the spec {path}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    try:
        return BuildSpec.from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
