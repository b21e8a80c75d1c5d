"""``--set KEY=VALUE`` overrides, shared by `unmask train`, `unmask.train.pack` and
`unmask.train.ensemble`: merged into the section they name, checked like the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from unmask.errors import ConfigError
from unmask.train import ensemble, pack
from unmask.train.config import load_config, parse_sets


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "margin": 0.3,
                "sbi": {"enabled": True, "p_fake_from_real": 0.5},
                "optim": {"epochs": 3, "lr": 0.001},
            }
        )
    )
    return path


def test_sets_merge_into_their_section(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path), sets=["sbi.p_warp=0.3", "optim.epochs=5", "margin=0.15"])
    assert cfg.sbi.p_warp == 0.3 and cfg.optim.epochs == 5 and cfg.margin == 0.15
    # the rest of each section stays as the file has it
    assert cfg.sbi.p_fake_from_real == 0.5 and cfg.optim.lr == 0.001 and cfg.sbi.enabled
    # a path set on the command line is relative to the config, as in the file
    assert load_config(_config(tmp_path), sets=["out_dir=r"]).out_dir == tmp_path / "r"


def test_sets_are_checked_like_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path)
    with pytest.raises(
        ConfigError, match=r"did you mean 'epochs'.*\(the file with --set optim.epoch=5\)"
    ):
        load_config(path, sets=["optim.epoch=5"])
    with pytest.raises(ConfigError, match="probability"):
        load_config(path, sets=["sbi.p_warp=3"])
    with pytest.raises(ConfigError, match="expects KEY=VALUE"):
        load_config(path, sets=["margin"])


def test_parse_sets() -> None:
    assert parse_sets(["a.b=1", "a.c=[x, y]", "d=no"]) == {
        "a": {"b": 1, "c": ["x", "y"]},
        "d": False,
    }
    with pytest.raises(ConfigError, match="already set"):
        parse_sets(["a=1", "a.b=2"])
    with pytest.raises(ConfigError, match="expects KEY=VALUE"):
        parse_sets(["=1"])
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_sets(["a=[1"])


@pytest.mark.parametrize("tool", ["pack", "ensemble"])
def test_module_clis_take_set_and_fail_on_one_line(
    tool: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(_config(tmp_path))
    if tool == "pack":
        rc = pack.main([path, str(tmp_path / "faces.npz"), "--set", "optim.epoch=2"])
    else:
        argv = ["--config", path, "--members", "spectrum", "--out", str(tmp_path / "o")]
        rc = ensemble.main([*argv, "--set", "optim.epoch=2"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "did you mean 'epochs'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # nothing written


def test_ensemble_set_reaches_the_margin_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spectrum member crops at its own margin: the config's 0.3 is refused, and the
    same margin given with --set gets past the check (to the data, absent here)."""
    from unmask.detectors import create_detector

    member = create_detector("spectrum").cfg
    path = str(_config(tmp_path))
    argv = ["--config", path, "--members", "spectrum", "spectrum", "--out", str(tmp_path / "o")]
    size = f"input_size={member.input_size}"
    assert ensemble.main([*argv, "--set", size, "--set", "margin=0.9"]) == 2
    assert "differ" in capsys.readouterr().err
    fixed = [
        *argv,
        "--set",
        size,
        "--set",
        f"margin={member.margin}",
        "--set",
        f"align={member.align}",
    ]
    rc = ensemble.main(fixed)
    assert rc == 2 and "the config names no data" in capsys.readouterr().err
