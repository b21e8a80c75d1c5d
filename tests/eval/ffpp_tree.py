"""Helpers: a small synthetic FaceForensics++-style tree and predictions for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

METHODS = ("Deepfakes", "FaceSwap")
IDS = ("101", "102", "103", "104", "105", "106")


def build_ffpp(root: Path) -> list[tuple[str, int, str]]:
    """Empty files in the official layout; returns (file, label, method) per video."""
    out = []
    for vid in IDS:
        out.append((f"original_sequences/youtube/c23/videos/{vid}.mp4", 0, "real"))
    for method in METHODS:
        for a, b in zip(IDS[::2], IDS[1::2], strict=True):
            out.append((f"manipulated_sequences/{method}/c23/videos/{a}_{b}.mp4", 1, method))
    for file, _, _ in out:
        path = root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return out


def scores_for(rows: list[tuple[str, int, str]], seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {
        file: float(np.clip(0.3 + 0.4 * label + rng.normal(0, 0.2), 0.01, 0.99).round(4))
        for file, label, _ in rows
    }


def write_csv(path: Path, scores: dict[str, float]) -> Path:
    path.write_text("filename,label\n" + "".join(f"{f},{p}\n" for f, p in scores.items()))
    return path
