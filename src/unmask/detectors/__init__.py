"""Deepfake detectors: one file per detector, registered by name.

Adding a detector is a one-file change: a module here with a ``@register_detector`` factory
and, if it has weights, ``weights/<name>.json`` (a DetectorCfg) beside the weights file.
"""

from unmask.detectors._base import AggregationCfg, Detector, DetectorCfg, load_cfg, verified_weights
from unmask.detectors._registry import (
    DEFAULT_DETECTOR,
    create_detector,
    default_detector,
    list_detectors,
    register_detector,
    resolve_detector_name,
)

__all__ = [
    "DEFAULT_DETECTOR",
    "AggregationCfg",
    "Detector",
    "DetectorCfg",
    "create_detector",
    "default_detector",
    "list_detectors",
    "load_cfg",
    "register_detector",
    "resolve_detector_name",
    "verified_weights",
]
