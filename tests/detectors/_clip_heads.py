"""A CLIP head exported as a detector (clip_sbi's config with the head's weights), for
tests that load heads they made up; a tiny CLIP training config, for tests that train one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from unmask.detectors._base import sha256_file
from unmask.train.clip_head import save_head

SHIPPED_CFG = Path(__file__).resolve().parents[2] / "src/unmask/detectors/weights/clip_sbi.json"


def exported_head(folder: Path, head: dict[str, np.ndarray], **cfg: Any) -> Path:
    """``folder/head.json`` beside ``folder/head.npz``; ``cfg`` overrides config keys."""
    data = json.loads(SHIPPED_CFG.read_text())
    npz = save_head(head, folder / "head.npz")
    data.update(name="head", weights=npz.name, sha256=sha256_file(npz), **cfg)
    (folder / "head.json").write_text(json.dumps(data))
    return folder / "head.json"


def tiny_clip_config(
    folder: Path, name: str, clip_head: dict[str, Any], *, input_size: int = 160
) -> dict[str, Any]:
    """A CLIP training config on the test photos (a third of them for validation), its
    runs under ``folder/runs``; write it with yaml and train it with ``unmask train``."""
    from tests._media import astronaut_photos

    return {
        "name": name,
        "backbone": "clip_vitb16",
        "input_size": input_size,
        "out_dir": str(folder / "runs"),
        "data": {
            "real_photos": [str(astronaut_photos(folder / "photos"))],
            "cache_dir": str(folder / "cache"),
            "val_fraction": 0.34,
        },
        "augment": {"p_h264": 0.0},
        "clip_head": clip_head,
        "max_faces_per_track": 2,
    }
