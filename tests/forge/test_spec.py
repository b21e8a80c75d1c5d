from __future__ import annotations

from pathlib import Path

import pytest

from unmask.errors import ConfigError, UnknownNameError
from unmask.forge.spec import BuildSpec, load_spec

GOOD = """
name: demo
uses: [research, evaluation]
seed: 3
actors: all
frames: 16
splits: {train: 0.5, validation: 0.0, public_test: 0.25, private_test: 0.25}
methods:
  swap: 4
  reenact: {count: 2}
perturbations:
  rate: 0.5
  max_per_video: 2
  apply: {crf: {crf: [30, 35]}, downscale: {}}
"""


def test_a_full_spec_loads_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(GOOD)
    spec = load_spec(path)
    assert spec.uses == ("research", "evaluation")
    assert spec.methods["swap"].count == 4 and spec.methods["reenact"].count == 2
    assert spec.splits["public_test"] == 0.25 and spec.actors is None
    assert spec.perturbations.apply["crf"] == {"crf": [30, 35]}
    assert BuildSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"uses": ["research"], "method": {"swap": 1}},
            "unknown key 'method' in the spec; did you mean 'methods'",
        ),
        ({"uses": ["research"], "splits": {"tran": 1.0}}, "did you mean 'train'"),
        ({"uses": ["research"], "methods": {"swap": {"cont": 1}}}, "did you mean 'count'"),
        (
            {"uses": ["research"], "perturbations": {"rate": 0.5, "aply": {}}},
            "did you mean 'apply'",
        ),
        (
            {"uses": ["research"], "perturbations": {"apply": {"crf": {"cfr": 3}}}},
            "did you mean 'crf'",
        ),
        ({"uses": ["research"], "splits": {"train": 0.5, "validation": 0.2}}, "add up to 1"),
        ({"uses": ["research"], "frames": 0}, "frames must be in"),
        ({"uses": ["research"], "seed": "x"}, "seed must be a number"),
        ({"uses": ["reserch"]}, "did you mean 'research'"),
        ({"seed": 1}, "uses"),
        ({"uses": ["research"], "perturbations": {"rate": 0.5}}, "names no perturbation"),
        ({"uses": ["research"], "actors": "some"}, "actors must be"),
    ],
)
def test_bad_specs_say_what_to_fix(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BuildSpec.from_dict(data)


def test_unknown_perturbation_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'downscale'"):
        BuildSpec.from_dict({"uses": ["research"], "perturbations": {"apply": {"downscal": {}}}})


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("uses: [research\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_spec(path)
    path.write_text("uses: [research]\nmethodz: {}\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: unknown key 'methodz'"):
        load_spec(path)


def test_the_documented_example_spec_loads() -> None:
    from tests.conftest import REPO

    spec = load_spec(REPO / "docs" / "forge_example_spec.yaml")
    assert set(spec.methods) == {"swap", "reenact", "dfae"}
    assert spec.perturbations.apply["downscale"] == {"factor": 0.25}
