"""Packed face sets (train where the sources are not) and the GPU/worker options of training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from tests._media import astronaut_photos  # noqa: E402
from unmask.errors import DatasetError, UnmaskError  # noqa: E402
from unmask.train import pack  # noqa: E402
from unmask.train.config import load_config  # noqa: E402
from unmask.train.faceset import FaceSet  # noqa: E402
from unmask.train.loop import resolve_device  # noqa: E402
from unmask.train.run import _loader, _serial_opencv, prepare  # noqa: E402


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config over six generated photos of the astronaut."""
    root = tmp_path_factory.mktemp("pack")
    photos = astronaut_photos(root / "photos", name="person{i}.jpg")
    cfg = {
        "name": "tiny",
        "input_size": 64,
        "out_dir": str(root / "runs"),
        "data": {
            "real_photos": [str(photos)],
            "cache_dir": str(root / "cache"),
            "val_fraction": 0.34,
        },
        "augment": {"p_h264": 0.0},
    }
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _faces(config: Path) -> FaceSet:
    from unmask.train.faceset import FaceExtractor
    from unmask.train.run import collect_sources

    cfg = load_config(config)
    return FaceExtractor(cfg.data.cache_dir).load(collect_sources(cfg))


def test_save_and_read_raw_and_jpeg(config: Path, tmp_path: Path) -> None:
    faces = _faces(config)
    assert len(faces) == 6
    raw = FaceSet.read(faces.save(tmp_path / "raw.npz"))
    np.testing.assert_array_equal(raw.crops, faces.crops)
    np.testing.assert_array_equal(raw.labels, faces.labels)
    assert list(raw.sources) == list(faces.sources) and raw.identities.dtype == object
    finite = np.isfinite(faces.mesh)
    np.testing.assert_array_equal(np.isfinite(raw.mesh), finite)
    assert np.abs(raw.mesh[finite] - faces.mesh[finite]).max() <= 0.25
    small = FaceSet.read(faces.save(tmp_path / "q95.npz", jpeg_quality=95))
    assert (tmp_path / "q95.npz").stat().st_size < (tmp_path / "raw.npz").stat().st_size / 3
    assert np.abs(small.crops.astype(int) - faces.crops).mean() < 3


def test_pack_in_shards_and_bad_files(config: Path, tmp_path: Path) -> None:
    assert pack.main([str(config), str(tmp_path / "shards"), "--shards", "3"]) == 0
    shards = sorted((tmp_path / "shards").glob("*.npz"))
    assert len(shards) == 3
    whole = FaceSet.read(tmp_path / "shards")
    np.testing.assert_array_equal(whole.crops, _faces(config).crops)
    assert pack.main([str(config), str(tmp_path / "x.npz"), "--jpeg-quality", "0"]) == 2
    with pytest.raises(DatasetError, match="no such face set"):
        FaceSet.read(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(DatasetError, match="not a packed face set"):
        FaceSet.read(tmp_path / "junk.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no packed face sets"):
        FaceSet.read(tmp_path / "empty")


def test_training_from_a_packed_set_sees_the_same_split(config: Path, tmp_path: Path) -> None:
    _faces(config).save(tmp_path / "faces.npz")
    _, val_a, faces_a = prepare(load_config(config))
    data = {**yaml.safe_load(config.read_text())["data"], "faceset": str(tmp_path / "faces.npz")}
    _, val_b, faces_b = prepare(load_config(config, data=data))
    assert list(faces_a.sources) == list(faces_b.sources)
    np.testing.assert_array_equal(val_a.labels(), val_b.labels())
    for k, (_, blended) in enumerate(val_a.items):
        a, b = val_a.sample(k)[0].astype(int), val_b.sample(k)[0].astype(int)
        if blended:  # the mesh is stored as float16: the blend's mask may move by a pixel
            assert np.abs(a - b).mean() < 1.0
        else:
            np.testing.assert_array_equal(a, b)


def test_loading_processes_give_the_same_batches(config: Path) -> None:
    train_ds, _, _ = prepare(load_config(config))
    train_ds.set_epoch(1)
    one = [(x.clone(), y.clone()) for x, y in _loader(train_ds, batch_size=4, shuffle=True, seed=3)]
    with _serial_opencv(True):  # as training does around forked loaders
        two = list(_loader(train_ds, batch_size=4, shuffle=True, seed=3, workers=2))
    assert len(one) == len(two) > 1
    for (x1, y1), (x2, y2) in zip(one, two, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UnmaskError, match="cpu, cuda or auto"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(UnmaskError, match="torch sees no GPU"):
            resolve_device("cuda")
