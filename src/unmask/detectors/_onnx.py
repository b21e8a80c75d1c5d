"""Detectors whose network is an ONNX file taking uint8 (N, H, W, 3) crops, giving logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from unmask.detectors._base import (
    Detector,
    DetectorCfg,
    flip_averaged,
    read_cfg,
    verified_weights,
)
from unmask.faces import Faces


class OnnxDetector(Detector):
    """Runs ``cfg.weights`` with onnxruntime in batches; P(fake) = sigmoid(logit).

    >>> det = OnnxDetector.from_export(Path("runs/effnet_sbi/export/effnet_sbi.json"))  # doctest: +SKIP
    """

    scores_each_crop = True
    flips = True

    @classmethod
    def from_export(cls, cfg_path: Path) -> OnnxDetector:
        """A detector straight from a training export (its JSON beside its ONNX file)."""
        return cls(read_cfg(cfg_path), directory=cfg_path.parent)

    def __init__(
        self,
        cfg: DetectorCfg,
        *,
        batch_size: int = 32,
        threads: int = 0,
        directory: Path | None = None,
    ) -> None:
        import onnxruntime as ort

        super().__init__(cfg)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session: Any = ort.InferenceSession(
            str(verified_weights(cfg, directory)),
            sess_options=opts,
            providers=["CPUExecutionProvider"],
        )
        self.input_name = self.session.get_inputs()[0].name
        self.batch_size = batch_size
        self.directory = directory

    def with_threads(self, threads: int) -> OnnxDetector:
        """The same network in a second session with ``threads`` threads (its weights
        checked and loaded again)."""
        return type(self)(
            self.cfg, batch_size=self.batch_size, threads=threads, directory=self.directory
        )

    def logits(self, crops: np.ndarray) -> np.ndarray:
        return flip_averaged(self._logits, crops, self.cfg.test_time_flip)

    def _logits(self, crops: np.ndarray) -> np.ndarray:
        if not len(crops):
            return np.zeros(0, np.float64)
        out = [
            self.session.run(
                None, {self.input_name: np.ascontiguousarray(crops[i : i + self.batch_size])}
            )[0]
            for i in range(0, len(crops), self.batch_size)
        ]
        return np.concatenate(out).reshape(-1).astype(np.float64)

    def score(self, faces: Faces) -> np.ndarray:
        self._check_crops(faces)
        if not len(faces):
            return np.zeros(0, np.float32)
        return (1.0 / (1.0 + np.exp(-self.logits(faces.crops)))).astype(np.float32)
