"""A CLIP head exported as a detector (clip_sbi's config with the head's weights), for
tests that load heads they made up."""

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
