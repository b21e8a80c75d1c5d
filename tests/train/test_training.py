from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

from tests._media import astronaut, astronaut_photos  # noqa: E402
from unmask.errors import ConfigError  # noqa: E402
from unmask.train.config import load_config  # noqa: E402
from unmask.train.export import check_roundtrip, export_onnx, onnx_logits  # noqa: E402
from unmask.train.loop import balanced_bce, train_one_epoch  # noqa: E402
from unmask.train.models import build_model  # noqa: E402


def tiny_batches(n: int = 16, size: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Real astronaut crops (label 0) and the same crops with a blended, blurred face (1)."""
    import cv2

    rng = np.random.default_rng(0)
    img = astronaut()
    xs, ys = [], []
    for i in range(n):
        x, y = int(rng.integers(150, 190)), int(rng.integers(40, 80))
        crop = cv2.resize(img[y : y + 140, x : x + 140], (size, size))
        if i % 2:
            blurred = cv2.GaussianBlur(crop, (0, 0), 2.0)
            crop = crop.copy()
            crop[16:48, 16:48] = blurred[16:48, 16:48]
        xs.append(crop)
        ys.append(float(i % 2))
    x_t, y_t = torch.from_numpy(np.stack(xs)), torch.tensor(ys)
    return [(x_t[i : i + 8], y_t[i : i + 8]) for i in range(0, n, 8)]


def test_training_loop_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", image_size=64)
    batches = tiny_batches()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss_fn = balanced_bce(np.array([0, 1] * 8))
    first = train_one_epoch(model, batches, opt, loss_fn)  # type: ignore[arg-type]
    for _ in range(6):
        last = train_one_epoch(model, batches, opt, loss_fn)  # type: ignore[arg-type]
    assert last.loss < first.loss * 0.7
    assert last.steps == 2 and last.n == 16


def test_freeze_blocks_keeps_early_weights(tmp_path: Path) -> None:
    model = build_model("efficientnet_lite0", image_size=64, freeze_blocks=3)
    stem_before = model.backbone._conv_stem.weight.detach().clone()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    train_one_epoch(model, tiny_batches(8), opt, balanced_bce(np.array([0, 1] * 4)))  # type: ignore[arg-type]
    assert torch.equal(stem_before, model.backbone._conv_stem.weight)
    assert not model.backbone._bn0.training  # frozen batch norm keeps its statistics


def test_onnx_export_round_trip(tmp_path: Path) -> None:
    model = build_model("efficientnet_lite0", image_size=64)
    path = export_onnx(model, tmp_path / "m.onnx", input_size=64)
    crops = np.stack([b.numpy() for b, _ in tiny_batches(8)]).reshape(-1, 64, 64, 3)
    assert check_roundtrip(model, path, crops) <= 1e-4
    assert onnx_logits(path, crops[:3]).shape == (3,)


def test_config_unknown_key_and_relative_paths(tmp_path: Path) -> None:
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(
        yaml.safe_dump({"name": "x", "data": {"real_photos": ["photos"]}, "optim": {"epochs": 2}})
    )
    cfg = load_config(cfg_path)
    assert cfg.data.real_photos == [tmp_path / "photos"] and cfg.optim.epochs == 2
    cfg_path.write_text(yaml.safe_dump({"name": "x", "optim": {"epoch": 2}}))
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        load_config(cfg_path)
    cfg_path.write_text(yaml.safe_dump({"name": "x", "optim": {"epochs": "many"}}))
    with pytest.raises(ConfigError, match="expected int"):
        load_config(cfg_path)


@pytest.mark.slow
def test_unmask_train_end_to_end(tmp_path: Path) -> None:
    """`unmask train` on a folder of generated photos: extracts, trains, exports, calibrates."""
    from unmask.cli import main

    photos = astronaut_photos(tmp_path / "photos")
    cfg = {
        "name": "tiny",
        "input_size": 64,
        "out_dir": str(tmp_path / "runs"),
        "data": {
            "real_photos": [str(photos)],
            "cache_dir": str(tmp_path / "cache"),
            "val_fraction": 0.34,
        },
        "augment": {"p_h264": 0.0},
        "sbi": {"p_warp": 0.5},  # both kinds of pseudo-fake
        "optim": {"epochs": 2, "batch_size": 4, "max_steps": 2, "warmup_steps": 1},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "tiny.yaml")]) == 0
    export = tmp_path / "runs" / "tiny" / "export"
    det = yaml.safe_load((export / "tiny.json").read_text())
    assert det["input_size"] == 64 and det["aggregation"]["rule"] in (
        "mean",
        "topk_mean",
        "confident",
    )
    assert det["calibration"]["method"] == "platt" and len(det["sha256"]) == 64
    assert (export / "tiny.onnx").stat().st_size > 1_000_000
    # a re-run resumes: nothing left to train
    assert main(["train", str(tmp_path / "tiny.yaml")]) == 0


def test_export_keeps_the_network_unchanged(tmp_path: Path) -> None:
    """Exporting must not alter the model (EfficientNet-Lite's ReLU6 must stay ReLU6)."""
    model = build_model("efficientnet_lite0", image_size=64).eval()
    crops = np.stack([b.numpy() for b, _ in tiny_batches(8)]).reshape(-1, 64, 64, 3)
    with torch.no_grad():
        before = model(torch.from_numpy(crops)).numpy()
    path = export_onnx(model, tmp_path / "m.onnx", input_size=64)
    np.testing.assert_allclose(onnx_logits(path, crops), before, atol=1e-4)
