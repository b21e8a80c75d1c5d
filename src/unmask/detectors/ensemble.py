"""The stacked ensemble of effnet_sbi and clip_sbi (``python -m unmask.train.ensemble``):
a weighted sum of their logits on the same crops, with its own aggregation and calibration.
Its weights file lists the sha256 of each member's weights, checked at load. Model card:
weights/ensemble.md."""

from __future__ import annotations

import json

from unmask.detectors._base import load_cfg, verified_weights
from unmask.detectors._ensemble import EnsembleDetector
from unmask.detectors._registry import create_detector, register_detector
from unmask.errors import WeightsError


@register_detector("ensemble")
def ensemble(*, threads: int = 0) -> EnsembleDetector:
    cfg = load_cfg("ensemble")
    expected = json.loads(verified_weights(cfg).read_text(encoding="utf-8"))
    members = [create_detector(name, threads=threads) for name in cfg.extra["members"]]
    for m in members:
        if expected.get(m.name) != m.cfg.sha256:
            raise WeightsError(
                f"ensemble was fitted on {m.name} weights {str(expected.get(m.name))[:12]}..., "
                f"but {m.cfg.sha256[:12]}... are installed; refit it (python -m unmask.train.ensemble)"
            )
    return EnsembleDetector(cfg, members)
