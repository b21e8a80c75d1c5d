"""Fitting a stacked ensemble checks the members against the config's validation crops
before the (long) face extraction."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from unmask.detectors import create_detector
from unmask.errors import ConfigError
from unmask.train.config import TrainConfig
from unmask.train.ensemble import fit_ensemble


def test_members_must_crop_as_the_config_does(tmp_path: Path) -> None:
    member = create_detector("spectrum")
    tighter = dataclasses.replace(member.cfg, name="tight", margin=member.cfg.margin / 2)
    other = type(member)(tighter)
    cfg = TrainConfig(name="cfg", input_size=member.cfg.input_size, margin=member.cfg.margin)
    with pytest.raises(ConfigError, match=r"tight \(margin .*\) differ"):
        fit_ensemble(cfg, [member, other], name="pair", out=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written
