"""Adapting the CLIP tower on a CPU (``clip_head.tune_layers``): the LayerNorms of its last
layers and of its output (and, with ``tune_biases``, those layers' biases) trained together
with the linear head, as parameter-efficient LayerNorm tuning does for CLIP.

The tower's int8 weights stay frozen, so only the layers being adapted need to run:
their input tokens are cached by the feature extraction (one pass of the ONNX tower), and
a float copy of those layers (:class:`TowerTail`, weights dequantised from the int8 graph)
runs forwards and backwards in torch. What is trained ships as new values for the graph's
float initializers (see ``unmask.detectors._clip.TowerDelta``), so the scanner still runs
the int8 ONNX tower through onnxruntime, and nothing of torch.

Each epoch is checkpointed (atomically); an interrupted run resumes from the last one.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unmask._io import atomic_write_bytes
from unmask._progress import progress
from unmask.detectors._clip import CLIP_LAYERS, _layer, _pool, check_features

_HEADS = 12  # ViT-B/16 attention heads of 64 channels
_EPS = 1e-5  # the graph's LayerNorm epsilon
_LAYER = "/vision_model/encoder/layers.{}/"
_PARAM = "vision_model.encoder.layers.{}."
_NORMS = ("layer_norm1.weight", "layer_norm1.bias", "layer_norm2.weight", "layer_norm2.bias")
_BIASES = (
    "self_attn.q_proj.bias",
    "self_attn.k_proj.bias",
    "self_attn.v_proj.bias",
    "self_attn.out_proj.bias",
    "mlp.fc1.bias",
    "mlp.fc2.bias",
)
_OUTPUT_NORM = ("vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias")


def _dequantised(model: Any) -> tuple[dict[str, np.ndarray], Any]:
    """The graph's initializers by name, and a function giving a quantised MatMul's float
    weight (in, out) from its node-name prefix: (q - zero point) * scale, per output
    channel."""
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}

    def weight(prefix: str) -> torch.Tensor:
        matmul = nodes[prefix + "MatMul_quant"]
        scale = values[nodes[prefix + "MatMul_quant_scales_mul"].input[1]].astype(np.float32)
        q = values[matmul.input[1]].astype(np.float32)
        zero = values[matmul.input[3]].astype(np.float32)
        return torch.from_numpy((q - zero) * scale)

    return values, weight


class TowerTail(nn.Module):
    """Layers ``first``..12 of the tower, its output LayerNorm and projection, in torch.

    Takes the (batch, tokens, 768) output of layer ``first - 1`` and returns the features
    ``names`` (FEATURES of those layers, or ``embeds``) in that order. The LayerNorm
    parameters (and with ``tune_biases`` the biases) are trainable; every matrix is frozen.
    Against the int8 graph the float copy differs only by the graph's activation
    quantisation (features agree to a cosine of about 0.999).
    """

    def __init__(
        self, model: Any, first: int, names: Sequence[str], *, tune_biases: bool = False
    ) -> None:
        super().__init__()
        check_features(names)
        if not 1 <= first <= CLIP_LAYERS:
            raise ValueError(f"TowerTail: expected a first layer of 1..{CLIP_LAYERS}; got {first}")
        shallow = [n for n in names if _layer(n) < first]
        if shallow:
            raise ValueError(f"TowerTail from layer {first} cannot compute {shallow}")
        self.first, self.names = first, list(names)
        values, weight = _dequantised(model)
        self.trained = nn.ParameterDict()
        self.onnx_names: dict[str, str] = {}
        matrices: dict[str, torch.Tensor] = {}
        fixed: dict[str, torch.Tensor] = {}
        for i in range(first - 1, CLIP_LAYERS):
            for part in ("q_proj", "k_proj", "v_proj", "out_proj"):
                matrices[f"{i}.{part}"] = weight(_LAYER.format(i) + f"self_attn/{part}/")
            for part in ("fc1", "fc2"):
                matrices[f"{i}.{part}"] = weight(_LAYER.format(i) + f"mlp/{part}/")
            for name in _NORMS + _BIASES:
                key, onnx_name = self._key(i, name), _PARAM.format(i) + name
                tensor = torch.from_numpy(values[onnx_name].astype(np.float32))
                if name in _NORMS or tune_biases:
                    self.trained[key] = nn.Parameter(tensor)
                    self.onnx_names[key] = onnx_name
                else:
                    fixed[key] = tensor
        for onnx_name in _OUTPUT_NORM:
            key = onnx_name.replace(".", "_")
            self.trained[key] = nn.Parameter(torch.from_numpy(values[onnx_name].astype(np.float32)))
            self.onnx_names[key] = onnx_name
        matrices["projection"] = weight("/visual_projection/")
        self.matrices, self.fixed = matrices, fixed

    @staticmethod
    def _key(layer: int, name: str) -> str:
        return f"l{layer}_" + name.replace(".", "_")

    def _p(self, layer: int, name: str) -> torch.Tensor:
        key = self._key(layer, name)
        return self.trained[key] if key in self.trained else self.fixed[key]

    def _layer_forward(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Layer ``i + 1`` (0-based ``i``) of the tower on the residual stream ``h``."""
        b, t, d = h.shape
        m = self.matrices
        a = nn.functional.layer_norm(
            h, (d,), self._p(i, "layer_norm1.weight"), self._p(i, "layer_norm1.bias"), _EPS
        )
        q, k, v = (
            (a @ m[f"{i}.{p}"] + self._p(i, f"self_attn.{p}.bias"))
            .view(b, t, _HEADS, d // _HEADS)
            .transpose(1, 2)
            for p in ("q_proj", "k_proj", "v_proj")
        )
        o = nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        h = h + o @ m[f"{i}.out_proj"] + self._p(i, "self_attn.out_proj.bias")
        a = nn.functional.layer_norm(
            h, (d,), self._p(i, "layer_norm2.weight"), self._p(i, "layer_norm2.bias"), _EPS
        )
        f = a @ m[f"{i}.fc1"] + self._p(i, "mlp.fc1.bias")
        f = f * torch.sigmoid(1.702 * f)  # the graph's quick GELU
        return h + f @ m[f"{i}.fc2"] + self._p(i, "mlp.fc2.bias")

    def hidden(self, tokens: torch.Tensor, last: int) -> torch.Tensor:
        """The residual stream after layer ``last``, from the output of layer first - 1."""
        h = tokens
        for i in range(self.first - 1, last):
            h = self._layer_forward(i, h)
        return h

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        d = hidden.shape[2]
        h, states = hidden, {}
        for i in range(self.first - 1, CLIP_LAYERS):
            h = self._layer_forward(i, h)
            states[i + 1] = h
        out = []
        for name in self.names:
            if name == "embeds":
                w, bias = (self.trained[n.replace(".", "_")] for n in _OUTPUT_NORM)
                cls = nn.functional.layer_norm(states[CLIP_LAYERS][:, 0], (d,), w, bias, _EPS)
                out.append(cls @ self.matrices["projection"])
                continue
            tokens, pool = states[_layer(name)], _pool(name)
            patches = tokens[:, 1:]
            if pool == "cls":
                out.append(tokens[:, 0])
            elif pool == "mean":
                out.append(patches.mean(1))
            elif pool == "std":
                out.append(patches.std(1, unbiased=False))
            else:
                out.append(patches.amax(1))
        return torch.cat(out, 1)

    def delta(self) -> dict[str, np.ndarray]:
        """The trained parameters, by the graph's initializer names (a TowerDelta's values)."""
        return {
            self.onnx_names[k]: v.detach().numpy().astype(np.float32)
            for k, v in self.trained.items()
        }


def advance(model: Any, tokens: np.ndarray, layer: int, to: int) -> np.ndarray:
    """Tokens after layer ``layer`` carried through the frozen layers up to ``to``
    (float16 in and out, batches of 128): tokens cached for a deeper tuning serve a
    shallower one."""
    if to == layer:
        return tokens
    tail = TowerTail(model, layer + 1, ["embeds"])
    out = []
    with torch.no_grad():
        for start in range(0, len(tokens), 128):
            x = torch.from_numpy(np.asarray(tokens[start : start + 128], np.float32))
            out.append(tail.hidden(x, to).numpy().astype(np.float16))
    return np.concatenate(out) if out else tokens


def _head_logits(
    tail: TowerTail, head: nn.Linear, mu: torch.Tensor, sigma: torch.Tensor, tokens: Any
) -> torch.Tensor:
    return head((tail(tokens) - mu) / sigma)[:, 0]


def logits(
    tail: TowerTail, head: nn.Linear, mu: np.ndarray, sigma: np.ndarray, tokens: np.ndarray
) -> np.ndarray:
    """The tuned head's logits of cached tokens, in batches of 128 (no gradients)."""
    m, s = torch.from_numpy(mu), torch.from_numpy(sigma)
    out = []
    with torch.no_grad():
        for start in range(0, len(tokens), 128):
            x = torch.from_numpy(np.asarray(tokens[start : start + 128], np.float32))
            out.append(_head_logits(tail, head, m, s, x).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def tune(
    model: Any,
    head: dict[str, np.ndarray],
    tokens: np.ndarray,
    labels: np.ndarray,
    *,
    layers: int,
    biases: bool,
    epochs: int,
    lr: float,
    batch: int,
    seed: int,
    checkpoints: Path,
    on_epoch: Any = None,
) -> tuple[dict[str, np.ndarray], TowerTail, nn.Linear, list[dict[str, float]]]:
    """Train the LayerNorms (and ``biases``) of the tower's last ``layers`` layers and the
    head together, from ``head`` (as fit_head returned it) on the tokens of layer
    ``12 - layers`` and their labels. The loss is the head's own: class-weighted binary
    cross-entropy plus its L2 penalty (``head["strength"]``, as in the logistic
    regression); the features stay standardised with the frozen tower's mean and scale.

    Returns the new head (with the tower delta's arrays, ready for save_head), the tail
    and linear head (for :func:`logits`), and each epoch's mean training loss.
    ``on_epoch(epoch, tail, linear)`` is called after every epoch (validation, say) and
    its return value, a dict of numbers, joins that epoch's entry of the history.
    """
    from unmask.detectors._clip_head import delta_arrays

    names = [str(n) for n in head["features"]]
    tail = TowerTail(model, CLIP_LAYERS - layers + 1, names, tune_biases=biases)
    mu, sigma = head["mu"].astype(np.float32), head["sigma"].astype(np.float32)
    linear = nn.Linear(len(mu), 1)
    with torch.no_grad():
        linear.weight[0] = torch.from_numpy(head["coef"].astype(np.float32))
        linear.bias[0] = float(head["intercept"])
    params = [*tail.trained.values(), *linear.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    n = len(labels)
    strength = float(head.get("strength", 1.0))
    fake_weight = float((labels == 0).sum() / max((labels == 1).sum(), 1))
    m, s = torch.from_numpy(mu), torch.from_numpy(sigma)
    history: list[dict[str, float]] = []
    done = 0
    # a checkpoint is resumed only by the same run: settings, samples and starting head
    shape = [layers, biases, n, lr, batch, seed, hashlib.sha256(head["coef"].tobytes()).hexdigest()]
    state_path = checkpoints / "tune_state.pt"
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        if state["shape"] == shape:
            tail.trained.load_state_dict(state["tail"])
            linear.load_state_dict(state["linear"])
            opt.load_state_dict(state["opt"])
            done, history = state["epoch"], state["history"]
    rng = np.random.default_rng([seed, 1])
    for _ in range(done):  # the same shuffles as an uninterrupted run
        rng.permutation(n)
    for epoch in range(done, epochs):
        order, total = rng.permutation(n), 0.0
        starts = range(0, n, batch)
        for start in progress(
            starts, total=len(starts), desc=f"tune epoch {epoch + 1}", unit="batch"
        ):
            idx = np.sort(order[start : start + batch])
            x = torch.from_numpy(np.asarray(tokens[idx], np.float32))
            y = torch.from_numpy(labels[idx].astype(np.float32))
            z = _head_logits(tail, linear, m, s, x)
            w = torch.where(y > 0, torch.tensor(fake_weight), torch.tensor(1.0))
            loss = (
                nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none") * w
            ).mean()
            loss = loss + (linear.weight**2).sum() / (2 * strength * n)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        entry = {"epoch": epoch + 1, "train_loss": round(total / n, 5)}
        if on_epoch is not None:
            entry.update(on_epoch(epoch + 1, tail, linear))
        history.append(entry)
        buf = io.BytesIO()
        torch.save(
            {
                "shape": shape,
                "tail": tail.trained.state_dict(),
                "linear": linear.state_dict(),
                "opt": opt.state_dict(),
                "epoch": epoch + 1,
                "history": history,
            },
            buf,
        )
        atomic_write_bytes(state_path, buf.getvalue())
    tuned = {
        **head,
        "coef": linear.weight.detach().numpy()[0].astype(np.float32),
        "intercept": np.float32(linear.bias.item()),
        **delta_arrays(tail.delta()),
    }
    return tuned, tail, linear, history
