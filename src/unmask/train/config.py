"""Typed training configuration, loaded once from YAML; unknown keys are rejected with the
nearest valid key suggested."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unmask.errors import ConfigError, closest_names

# which training samples a mouth view's head learns from (ClipHeadCfg.mouth_samples)
MOUTH_SAMPLES = ("all", "labelled")


@dataclass(frozen=True)
class DataCfg:
    real_videos: list[Path] = field(
        default_factory=list
    )  # folders of real videos (self-blending sources)
    real_photos: list[Path] = field(default_factory=list)  # folders of real photos
    crop_folders: list[Path] = field(
        default_factory=list
    )  # <root>/<split>/<method>/*.jpg (youtube = real)
    crop_split: str = "train"
    use_labelled_fakes: bool = True  # mix in the fake crops of crop_folders
    frames_per_video: int = 16
    cache_dir: Path = Path("runs/cache")
    # a packed FaceSet (python -m unmask.train.pack), file or folder, instead of the sources
    faceset: Path | None = None
    val_fraction: float = 0.15  # of identities, for checkpoint selection and calibration


@dataclass(frozen=True)
class SbiCfg:
    enabled: bool = True
    p_fake_from_real: float = 1.0  # each real face also yields a pseudo-fake with this probability
    # the share of those pseudo-fakes that are self-reenacted (the expression warped,
    # unmask.train.warp) instead of self-blended; 0 is the SBI recipe as published
    p_warp: float = 0.0
    # of the rest, the share given the mouth of another frame of the same video
    # (unmask.train.mouth: Face2Face's mouth retrieval from real footage); 0: none
    p_mouth: float = 0.0


@dataclass(frozen=True)
class AugmentCfg:
    p_jpeg: float = 0.5
    p_h264: float = 0.3
    p_rescale: float = 0.3
    p_blur: float = 0.2
    p_noise: float = 0.2
    p_colour: float = 0.3
    p_flip: float = 0.5
    box_jitter: float = 0.05  # random scale/shift of the face box, as a fraction of its size


@dataclass(frozen=True)
class OptimCfg:
    epochs: int = 8
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    max_steps: int | None = None  # stop early (tests, quick runs)
    freeze_blocks: int = 0  # EfficientNet: keep the stem and the first N blocks frozen
    threads: int = 2
    workers: int = 0  # data-loading processes (self-blending and degradations run there)
    device: str = "cpu"  # cpu, cuda, or auto (cuda when available); cuda trains in bf16 autocast


@dataclass(frozen=True)
class ClipHeadCfg:
    """``backbone: clip_vitb16``: the candidate feature sets (names as in
    unmask.detectors._clip.FEATURES) and L2 strengths; the pair with the best validation
    AUC is kept. ``views``: each training sample is drawn this many times, every draw a
    fresh augmentation and pseudo-fake (the dataset's epochs 0..views-1); validation is
    drawn once.

    ``tune_layers`` > 0 adapts the tower too (``unmask.train.clip_tune``): the LayerNorms of
    its last ``tune_layers`` layers and of its output (with ``tune_biases``, those layers'
    biases as well) are trained together with the fitted head for ``tune_epochs`` epochs
    of Adam at ``tune_lr``, on that layer's cached input tokens; the head ships their new
    values and the int8 weights stay as they are.

    ``patch_layers`` (layer numbers, e.g. ``[9]``) adds a patch head
    (``unmask.train.patch_head``): every patch token of those layers (side by side) gets a
    logit, supervised where the pseudo-fake's mask says the face was blended
    (``patch_target``: ``boundary``, Face X-ray's 4M(1-M), or ``inside``, M itself;
    weight ``patch_weight``), and their soft maximum (temperature ``patch_tau``) is added
    to the linear head's logit; both parts are trained together for ``patch_epochs``
    epochs of AdamW (``patch_lr``, ``patch_decay``, ``patch_batch``), the epoch with the
    best validation AUC kept. ``patch_hidden`` > 0 puts a hidden layer of that width in
    the patch scorer.

    ``tower_size`` runs the tower on the crop resized to that many pixels (default:
    ``input_size``). ``mouth_view`` adds a second view (unmask.detectors._clip_head.MouthHead):
    the window ``mouth_box`` of the crop (x0, y0, x1, y1 as fractions of its side) through
    the tower at ``mouth_size`` pixels, a linear head of its own on ``mouth_features``
    (strength chosen from ``strengths`` by validation AUC), and ``mouth_weight`` times its
    logit added to the face view's. A crop larger than the face view (``input_size`` 224,
    ``tower_size`` 160) keeps the mouth window near its own resolution. ``mouth_samples``
    picks the mouth head's training samples: ``all``, or ``labelled`` (the real faces and
    the labelled fakes, leaving the pseudo-fakes out: a self-blend's trace is its boundary,
    which the face view sees). ``face_head`` keeps the face part of an existing linear head
    file (``.npz``, trained at the face view's size) instead of fitting one, so a mouth view
    can be added to a shipped head without changing it."""

    feature_sets: list[list[str]] = field(default_factory=lambda: [["embeds", "mean12"]])
    strengths: list[float] = field(default_factory=lambda: [0.001, 0.003, 0.01, 0.03, 0.1])
    views: int = 1
    tune_layers: int = 0
    tune_biases: bool = False
    tune_epochs: int = 2
    tune_lr: float = 3e-4
    tune_batch: int = 64
    patch_layers: list[int] = field(default_factory=list)
    patch_target: str = "boundary"
    patch_weight: float = 1.0
    patch_tau: float = 1.0
    patch_hidden: int = 0
    patch_epochs: int = 12
    patch_lr: float = 1e-3
    patch_decay: float = 1e-3
    patch_batch: int = 128
    tower_size: int | None = None
    mouth_view: bool = False
    mouth_box: list[float] = field(default_factory=lambda: [0.26, 0.46, 0.74, 0.94])
    mouth_size: int = 112
    mouth_weight: float = 0.5
    mouth_features: list[str] = field(default_factory=lambda: ["embeds", "mean12"])
    mouth_samples: str = "all"
    face_head: Path | None = None


@dataclass(frozen=True)
class TrainConfig:
    name: str
    backbone: str = "efficientnet_lite0"
    input_size: int = 224
    margin: float = 0.3
    align: bool = True
    out_dir: Path = Path("runs")
    weights_dir: Path | None = None  # where the exported detector goes; default: runs/<name>/export
    seed: int = 0
    data: DataCfg = field(default_factory=DataCfg)
    sbi: SbiCfg = field(default_factory=SbiCfg)
    augment: AugmentCfg = field(default_factory=AugmentCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    clip_head: ClipHeadCfg = field(default_factory=ClipHeadCfg)
    calibration_clip: float = 0.01
    # the exported detector scores at most this many faces of a track, evenly spaced in
    # time (a slow detector's budget); validation pseudo-videos are thinned alike
    max_faces_per_track: int | None = None
    aggregation_rules: list[str] = field(default_factory=lambda: ["mean", "topk_mean", "confident"])
    precision: str = "fp32"  # exported ONNX: fp32, or fp16 (half-size weights, fp32 compute)

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.name


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping; got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        if key not in names:
            close = closest_names(str(key), names)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f" (valid: {', '.join(sorted(names))})"
            )
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
        values[key] = _convert(hints[key], value, f"{where}.{key}")
    try:
        return cls(**values)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _convert(args[0], value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list; got {value!r}")
        return [_convert(typing.get_args(hint)[0], v, where) for v in value]
    if hint is Path:
        return Path(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}; got {value!r}")
    return value


def parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` overrides (dotted keys, YAML values) as a nested dict.

    >>> parse_sets(["name=x", "sbi.p_warp=0.3", "optim.epochs=2"])
    {'name': 'x', 'sbi': {'p_warp': 0.3}, 'optim': {'epochs': 2}}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. --set optim.epochs=2); got {pair!r}")
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {pair!r}: {part} was already set to a value")
            node = child
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {pair!r}: the value is not valid YAML ({err})") from None
    return out


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        both = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = _deep_merge(out[k], v) if both else v
    return out


def load_config(path: str | Path, *, sets: Sequence[str] = (), **overrides: Any) -> TrainConfig:
    """Read a training config from YAML; relative data paths are relative to the YAML file.

    ``overrides`` replace whole top-level keys; ``sets`` are ``KEY=VALUE`` strings (the
    CLIs' ``--set``) merged into the sections they name, after ``overrides``.

    >>> cfg = load_config("configs/effnet_sbi.yaml", sets=["margin=0.15"])  # doctest: +SKIP
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    data = _deep_merge({**(data or {}), **overrides}, parse_sets(sets))
    try:
        return _from_dict(data, path)
    except ConfigError as err:
        if not sets:
            raise
        given = " ".join(f"--set {s}" for s in sets)
        raise ConfigError(f"{err} (the file with {given})") from None


def _from_dict(data: dict[str, Any], path: Path) -> TrainConfig:
    cfg: TrainConfig = _build(TrainConfig, data, str(path))
    base = path.resolve().parent

    def rel(p: Path) -> Path:
        return p if p.is_absolute() else (base / p)

    d = cfg.data
    data_cfg = dataclasses.replace(
        d,
        real_videos=[rel(p) for p in d.real_videos],
        real_photos=[rel(p) for p in d.real_photos],
        crop_folders=[rel(p) for p in d.crop_folders],
        cache_dir=rel(d.cache_dir),
        faceset=rel(d.faceset) if d.faceset else None,
    )
    if cfg.backbone == "clip_vitb16":
        _check_clip_size(cfg.input_size, str(path))
    _check_clip_head(cfg.clip_head, str(path))
    _check_views(cfg, str(path))
    _check_probabilities(cfg, str(path))
    if cfg.max_faces_per_track is not None and cfg.max_faces_per_track < 1:
        raise ConfigError(
            f"{path}: max_faces_per_track is a number of faces; got {cfg.max_faces_per_track}, "
            "give 1 or more, or leave it out to score every face"
        )
    weights_dir = rel(cfg.weights_dir) if cfg.weights_dir else None
    face_head = cfg.clip_head.face_head
    clip_head = dataclasses.replace(cfg.clip_head, face_head=rel(face_head) if face_head else None)
    return dataclasses.replace(
        cfg,
        data=data_cfg,
        out_dir=rel(cfg.out_dir),
        weights_dir=weights_dir,
        clip_head=clip_head,
    )


def _check_probabilities(cfg: TrainConfig, where: str) -> None:
    for name, section in (("sbi", cfg.sbi), ("augment", cfg.augment)):
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if f.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"{where}: {name}.{f.name} is a probability; got {value}, give one in [0, 1]"
                )


def _check_clip_size(size: int, where: str, *, key: str = "input_size") -> None:
    from unmask.detectors._clip import check_size
    from unmask.errors import WeightsError

    try:
        check_size(size)
    except WeightsError as err:
        raise ConfigError(f"{where}: {key}: {err}") from None


def _check_clip_head(head: ClipHeadCfg, where: str) -> None:
    from unmask.detectors._clip import check_features
    from unmask.errors import WeightsError

    if not head.feature_sets or not head.strengths:
        raise ConfigError(f"{where}: clip_head needs at least one feature set and one strength")
    if head.views < 1:
        raise ConfigError(
            f"{where}: clip_head.views: expected a whole number >= 1 (draws of each training"
            f" sample); got {head.views}"
        )
    for names in head.feature_sets:
        try:
            check_features(names)
        except WeightsError as err:
            raise ConfigError(f"{where}: clip_head.feature_sets: {err}") from None
    _check_tuning(head, where)
    _check_patch(head, where)


def _check_views(cfg: TrainConfig, where: str) -> None:
    """The face view's size and the mouth view's settings (ClipHeadCfg)."""
    head = cfg.clip_head
    if head.tower_size is not None:
        _check_clip_size(head.tower_size, where, key="clip_head.tower_size")
        if head.tower_size > cfg.input_size:
            raise ConfigError(
                f"{where}: clip_head.tower_size {head.tower_size} is larger than input_size "
                f"{cfg.input_size}: the face view is the crop made smaller; give at most "
                f"{cfg.input_size}, or leave it out"
            )
    if head.mouth_samples not in MOUTH_SAMPLES:
        raise ConfigError(
            f"{where}: clip_head.mouth_samples: expected one of {list(MOUTH_SAMPLES)}; got "
            f"{head.mouth_samples!r}"
        )
    if not head.mouth_view:
        if head.face_head is not None:
            raise ConfigError(
                f"{where}: clip_head.face_head keeps an existing face head beside a mouth view "
                "it trains; got face_head without mouth_view: set mouth_view: true, or leave "
                "face_head out"
            )
        return
    from unmask.detectors._clip import check_features
    from unmask.errors import WeightsError

    box = head.mouth_box
    if len(box) != 4 or not (0.0 <= box[0] < box[2] <= 1.0 and 0.0 <= box[1] < box[3] <= 1.0):
        raise ConfigError(
            f"{where}: clip_head.mouth_box: expected [x0, y0, x1, y1] with x0 < x1 and "
            f"y0 < y1, fractions of the crop in [0, 1]; got {box}"
        )
    _check_clip_size(head.mouth_size, where, key="clip_head.mouth_size")
    if not head.mouth_weight > 0:
        raise ConfigError(
            f"{where}: clip_head.mouth_weight: expected a weight > 0 for the mouth logit; got "
            f"{head.mouth_weight} (set mouth_view: false to leave the view out)"
        )
    try:
        check_features(head.mouth_features)
    except WeightsError as err:
        raise ConfigError(f"{where}: clip_head.mouth_features: {err}") from None
    if head.tune_layers or head.patch_layers:
        raise ConfigError(
            f"{where}: clip_head.mouth_view goes with a linear face head on the frozen tower; "
            "it cannot be combined with tune_layers or patch_layers: set one of them"
        )


def _check_patch(head: ClipHeadCfg, where: str) -> None:
    from unmask.detectors._clip import CLIP_LAYERS

    if not head.patch_layers:
        return
    if not all(1 <= k <= CLIP_LAYERS for k in head.patch_layers) or len(
        set(head.patch_layers)
    ) != len(head.patch_layers):
        raise ConfigError(
            f"{where}: clip_head.patch_layers: expected distinct layer numbers from 1 to "
            f"{CLIP_LAYERS}; got {head.patch_layers}"
        )
    if head.tune_layers:
        raise ConfigError(
            f"{where}: clip_head.patch_layers and tune_layers cannot be combined (the patch "
            "head reads the frozen tower's tokens); set one of them"
        )
    if head.patch_target not in ("boundary", "inside"):
        raise ConfigError(
            f"{where}: clip_head.patch_target: expected 'boundary' or 'inside'; got "
            f"{head.patch_target!r}"
        )
    positive = {
        "patch_tau": head.patch_tau,
        "patch_epochs": head.patch_epochs,
        "patch_lr": head.patch_lr,
        "patch_batch": head.patch_batch,
    }
    bad = {k: v for k, v in positive.items() if not v > 0}
    if bad or head.patch_weight < 0 or head.patch_decay < 0 or head.patch_hidden < 0:
        raise ConfigError(
            f"{where}: clip_head.patch_*: expected patch_tau, patch_epochs, patch_lr and "
            f"patch_batch > 0 and patch_weight, patch_decay and patch_hidden >= 0; got "
            f"{bad or {'patch_weight': head.patch_weight, 'patch_decay': head.patch_decay, 'patch_hidden': head.patch_hidden}}"
        )


def _check_tuning(head: ClipHeadCfg, where: str) -> None:
    from unmask.detectors._clip import CLIP_LAYERS, _layer

    if not 0 <= head.tune_layers < CLIP_LAYERS:
        raise ConfigError(
            f"{where}: clip_head.tune_layers: expected 0 (a frozen tower) to {CLIP_LAYERS - 1} "
            f"(the tower's layers after the first); got {head.tune_layers}"
        )
    if head.tune_layers == 0:
        return
    if head.tune_epochs < 1 or head.tune_batch < 1 or not head.tune_lr > 0:
        raise ConfigError(
            f"{where}: clip_head.tune_epochs, tune_batch and tune_lr: expected positive "
            f"numbers; got {head.tune_epochs}, {head.tune_batch} and {head.tune_lr}"
        )
    cut = CLIP_LAYERS - head.tune_layers
    shallow = sorted({n for names in head.feature_sets for n in names if _layer(n) <= cut})
    if shallow:
        raise ConfigError(
            f"{where}: clip_head.feature_sets: {shallow} come from layers the tuning does not "
            f"reach (tune_layers {head.tune_layers} adapts layers {cut + 1}..{CLIP_LAYERS}); "
            f"use features of those layers or embeds, or raise tune_layers"
        )
