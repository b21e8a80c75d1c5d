"""EfficientNet-Lite0 trained on self-blended pseudo-fakes from real faces plus labelled
FaceForensics++ fakes (``configs/effnet_sbi.yaml``); ONNX on onnxruntime. Model card:
weights/effnet_sbi.md."""

from __future__ import annotations

from unmask.detectors._base import load_cfg
from unmask.detectors._onnx import OnnxDetector
from unmask.detectors._registry import register_detector


@register_detector("effnet_sbi")
def effnet_sbi(*, threads: int = 0) -> OnnxDetector:
    return OnnxDetector(load_cfg("effnet_sbi"), threads=threads)
