"""ONNX export of a trained FaceClassifier (uint8 NHWC in, logits out) and its checks."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from unmask.errors import UnmaskError
from unmask.train.models import FaceClassifier

INPUT_NAME, OUTPUT_NAME = "faces", "logits"


def _exportable_activations(model: FaceClassifier) -> None:
    """Swap EfficientNet's autograd-function swish (which does not export) for the plain,
    numerically identical one. EfficientNet-Lite uses ReLU6 and is left as it is: calling
    ``set_swish`` on it would replace ReLU6 by swish and silently change the network."""
    uses_custom_swish = any(type(m).__name__ == "MemoryEfficientSwish" for m in model.modules())
    set_swish = getattr(model.backbone, "set_swish", None)
    if uses_custom_swish and callable(set_swish):
        set_swish(memory_efficient=False)


def export_onnx(model: FaceClassifier, path: Path, *, input_size: int, opset: int = 17) -> Path:
    """Write ``model`` as ONNX with a dynamic batch axis; the file is written atomically."""
    model.eval()
    _exportable_activations(model)
    dummy = torch.zeros(2, input_size, input_size, 3, dtype=torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".onnx.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    tmp.replace(path)
    return path


def onnx_logits(path: Path, crops: np.ndarray, *, threads: int = 0) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    return sess.run([OUTPUT_NAME], {INPUT_NAME: crops})[0].reshape(-1)


def check_roundtrip(
    model: FaceClassifier, path: Path, crops: np.ndarray, *, atol: float = 1e-4
) -> float:
    """Max |onnxruntime - torch| over ``crops``; raises if it exceeds ``atol``."""
    model.eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(crops)).numpy()
    got = onnx_logits(path, crops)
    diff = float(np.max(np.abs(ref - got)))
    if diff > atol:
        raise UnmaskError(
            f"{path}: onnxruntime output differs from torch by {diff:.2e} (> {atol:.0e})"
        )
    return diff


def quantize_int8(src: Path, dst: Path, calibration_crops: np.ndarray) -> Path:
    """Static int8 quantisation (QDQ, per-channel) calibrated on real crops."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                [
                    {INPUT_NAME: calibration_crops[i : i + 8]}
                    for i in range(0, len(calibration_crops), 8)
                ]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
    )
    return dst


def fp16_storage(src: Path, dst: Path) -> Path:
    """Store the float32 weights as float16 (half the file) with a Cast back to float32
    in front of each; onnxruntime folds the casts when it loads the model, so inference
    still runs in float32 and only the weights' rounding changes."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and np.prod(init.dims) >= 16:
            half = numpy_helper.from_array(
                numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16"
            )
            kept.append(half)
            casts.append(
                helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT)
            )
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    tmp = dst.with_suffix(".onnx.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    return dst
