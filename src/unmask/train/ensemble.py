"""Fit an ensemble of trained detectors on the validation set of a training config.

    python -m unmask.train.ensemble --config configs/effnet_sbi.yaml --name ensemble \\
        --members effnet_sbi clip_sbi --out src/unmask/detectors/weights
    python -m unmask.train.ensemble --config configs/effnet_sbi.yaml --set margin=0.15 \\
        --members runs/a/export/a.json clip_fast --name stack --out runs/stack

Members are registered detector names or exported ``<name>.json`` files. Their logits on
the config's fixed validation samples are stacked by an L2 logistic regression (one
weight per member and a bias); the ensemble then gets its own aggregation rule and
calibration from the validation pseudo-videos, exactly as a trained detector does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from unmask._io import atomic_write_json
from unmask.detectors._base import AggregationCfg, Detector, DetectorCfg, sha256_file
from unmask.detectors._ensemble import downscaled
from unmask.errors import ConfigError, UnmaskError
from unmask.train._cli import add_set_option
from unmask.train.config import TrainConfig, load_config
from unmask.train.loop import val_metrics
from unmask.train.run import choose_aggregation, prepare, validation_videos


def load_member(name: str) -> Detector:
    if name.endswith(".json"):
        from unmask.detectors._clip_head import ClipHeadDetector
        from unmask.detectors._onnx import OnnxDetector

        path = Path(name)
        return (
            ClipHeadDetector.from_export(path)
            if path.with_suffix(".npz").exists()
            else OnnxDetector.from_export(path)
        )
    from unmask.detectors import create_detector

    return create_detector(name)


def fit_ensemble(
    cfg: TrainConfig,
    members: list[Detector],
    *,
    name: str,
    out: Path,
    c: float = 1.0,
    max_faces_per_track: int | None = None,
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    too_large = [m.name for m in members if m.cfg.input_size > cfg.input_size]
    if too_large:
        raise ConfigError(
            f"{cfg.name}: its validation crops are {cfg.input_size} px, smaller than the crops of "
            f"{too_large}; stack on the validation split of a config with the largest input size"
        )
    other_crops = [
        f"{m.name} (margin {m.cfg.margin}, align {m.cfg.align})"
        for m in members
        if (m.cfg.margin, m.cfg.align) != (cfg.margin, cfg.align)
    ]
    if other_crops:  # else the stack would be fitted on crops the members never see
        raise ConfigError(
            f"{cfg.name}: its validation crops are cut with margin {cfg.margin}, align "
            f"{cfg.align}, but {', '.join(other_crops)} differ; stack on a config that crops "
            "as the members do"
        )
    _train_ds, val_ds, val_faces = prepare(cfg)
    crops = np.stack([val_ds.sample(k)[0] for k in range(len(val_ds))])
    labels = val_ds.labels().astype(np.float64)
    member_logits = np.stack(
        [m.logits(downscaled(crops, m.cfg.input_size)) for m in members], axis=1
    )
    stack = LogisticRegression(C=c, class_weight="balanced", max_iter=1000).fit(
        member_logits, labels
    )
    weights, bias = stack.coef_[0].astype(float), float(stack.intercept_[0])
    logits = member_logits @ weights + bias
    rule, calibration, rule_losses = choose_aggregation(
        validation_videos(val_ds, val_faces, logits, labels),
        cfg.aggregation_rules,
        cfg.calibration_clip,
    )
    metrics = {
        "val_frame_auc": round(val_metrics(logits, labels)["val_auc"], 4),
        "val_frame_auc_by_member": {
            m.name: round(val_metrics(member_logits[:, i], labels)["val_auc"], 4)
            for i, m in enumerate(members)
        },
        "val_video_log_loss_by_rule": rule_losses,
    }
    manifest = {m.name: m.cfg.sha256 for m in members}
    out.mkdir(parents=True, exist_ok=True)
    members_file = out / f"{name}.members.json"
    atomic_write_json(members_file, manifest)
    det_cfg = DetectorCfg(
        name=name,
        architecture="stacked ensemble (logistic regression on member logits): "
        + " + ".join(m.name for m in members),
        weights=members_file.name,
        sha256=sha256_file(members_file),
        input_size=cfg.input_size,
        margin=cfg.margin,  # every member's, checked above
        align=cfg.align,
        aggregation=AggregationCfg(rule=rule),
        calibration=calibration,
        max_faces_per_track=max_faces_per_track,
        license="see the members' model cards",
        trained_on=f"stacked on the validation split of {cfg.name}'s config",
        metrics=metrics,
        extra={
            "members": [m.name for m in members],
            "weights": [round(w, 6) for w in weights],
            "bias": round(bias, 6),
        },
    )
    atomic_write_json(out / f"{name}.json", det_cfg.to_dict())
    return det_cfg.to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config",
        type=Path,
        required=True,
        help="the training config whose validation split is used",
    )
    parser.add_argument(
        "--members", nargs="+", required=True, help="detector names or exported <name>.json files"
    )
    parser.add_argument("--name", default="ensemble")
    parser.add_argument("--out", type=Path, required=True)
    add_set_option(parser)
    parser.add_argument(
        "--max-faces-per-track",
        type=int,
        default=None,
        help="classify at most N faces per track (speed)",
    )
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, sets=args.set)
        result = fit_ensemble(
            cfg,
            [load_member(m) for m in args.members],
            name=args.name,
            out=args.out,
            max_faces_per_track=args.max_faces_per_track,
        )
    except UnmaskError as err:
        print(f"unmask: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result["metrics"], indent=2), json.dumps(result["extra"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
