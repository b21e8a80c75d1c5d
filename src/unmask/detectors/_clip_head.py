"""A logistic-regression head on frozen CLIP features (see unmask.train.clip_head)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from unmask.detectors._base import (
    Detector,
    DetectorCfg,
    flip_averaged,
    read_cfg,
    verified_weights,
)
from unmask.detectors._clip import (
    CLIP_LAYERS,
    CLIP_PATCH,
    CLIP_SIZE,
    CLIP_WIDTH,
    LEGACY_FEATURES,
    TowerDelta,
    check_features,
    check_size,
    clip_features,
    clip_features_and_patches,
    feature_size,
)
from unmask.errors import WeightsError
from unmask.faces import Faces


class ClipHeadDetector(Detector):
    """CLIP ViT-B/16 features -> standardise -> linear -> P(fake). The weights file names
    the features its coefficients read (a file without names reads LEGACY_FEATURES) and
    the tower's input size (without one, 224); the tower runs only as deep as they need.
    A head trained with some of the tower's parameters (``clip_head.tune_layers``) carries
    their new values (``tower_names``, ``tower_sizes``, ``tower_values``), which replace the
    tower's own (see TowerDelta). A head with a patch part (``patch_*`` arrays, see
    PatchHead) adds the pooled scores of one layer's patch tokens to the logit; one with a
    mouth part (``mouth_*`` arrays, see MouthHead) adds a second view's logit, of a window
    of the crop around the mouth. The tower's size need not be the crop's: a face view
    smaller than the crop is the crop resized, so a mouth window can keep more pixels.

    Its heatmaps are exact: a ``mean<k>`` feature is the mean of layer k's patch tokens, so
    its share of the linear logit is the mean over patches of each patch's own term,
    ``coef . (token - mu) / sigma``. The map holds these terms less their mean over real
    faces at the same place (``heatmap_base``, kept in the head file), one cell per 16-pixel
    patch (10 x 10 at 160 pixels): without the baseline, the background and the face's
    outline would colour every face alike. The baseline's mean, the other features
    (``embeds``, ``cls``, ``std``, ``max``), a patch part and a mouth part are terms of the
    whole face."""

    scores_each_crop = True
    flips = True

    def __init__(
        self, cfg: DetectorCfg, *, directory: Path | None = None, threads: int = 0
    ) -> None:
        super().__init__(cfg)
        path = verified_weights(cfg, directory)
        with np.load(path) as w:
            names, self.size, self.delta = tower_settings(w, path)
            self.mu, self.sigma = w["mu"].astype(np.float64), w["sigma"].astype(np.float64)
            self.coef, self.intercept = w["coef"].astype(np.float64), float(w["intercept"])
            self.patch = PatchHead.read(w, path) if "patch_coef" in w else None
            self.mouth = MouthHead.read(w, path) if "mouth_coef" in w else None
            # the mean patch terms of real faces (unmask.train.heatmap_base)
            self.base = w["heatmap_base"].astype(np.float64) if "heatmap_base" in w else None
        self.features = tuple(names)
        check_features(self.features)
        check_size(self.size)
        grid = self.size // CLIP_PATCH
        if self.base is not None and self.base.shape != (grid, grid):
            raise WeightsError(
                f"{path}: expected a {grid}x{grid} heatmap baseline for {self.size}-pixel "
                f"crops; got shape {self.base.shape}. Re-export the head"
            )
        if not self.mu.shape == self.sigma.shape == self.coef.shape == (feature_size(names),):
            raise WeightsError(
                f"{path}: expected {feature_size(names)} coefficients for the features "
                f"{list(names)}; got {self.coef.shape}. Re-export the head"
            )
        self.threads = threads
        # load the tower now: a missing install fails before any file is scanned
        self._load_tower()

    def _load_tower(self) -> None:
        clip_features(
            np.zeros((0, self.size, self.size, 3), np.uint8),
            threads=self.threads,
            features=self.features,
            size=self.size,
            delta=self.delta,
        )
        if self.mouth is not None:
            self.mouth.logits(np.zeros((0, 8, 8, 3), np.uint8), threads=self.threads)

    def with_threads(self, threads: int) -> ClipHeadDetector:
        """The same head on a tower session with ``threads`` threads (built now, kept for
        the process like every tower session); the tower's integer matmuls make its
        features the same at any thread count."""
        wide = copy.copy(self)
        wide.threads = threads
        wide._load_tower()
        return wide

    @classmethod
    def from_export(cls, cfg_path: Path) -> ClipHeadDetector:
        return cls(read_cfg(cfg_path), directory=cfg_path.parent)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        return flip_averaged(self._logits, crops, self.cfg.test_time_flip)

    def _logits(self, crops: np.ndarray) -> np.ndarray:
        face = self._face_logits(crops)
        if self.mouth is None:
            return face
        return face + self.mouth.logits(crops, threads=self.threads)

    def _face_logits(self, crops: np.ndarray) -> np.ndarray:
        if self.patch is None:
            x = clip_features(
                crops,
                threads=self.threads,
                features=self.features,
                size=self.size,
                delta=self.delta,
            )
            return ((x.astype(np.float64) - self.mu) / self.sigma) @ self.coef + self.intercept
        x, patches = clip_features_and_patches(
            crops,
            layers=self.patch.layers,
            threads=self.threads,
            features=self.features,
            size=self.size,
            delta=self.delta,
        )
        whole = ((x.astype(np.float64) - self.mu) / self.sigma) @ self.coef + self.intercept
        return whole + self.patch.pool(self.patch.scores(patches))

    def heatmaps(self, crops: np.ndarray) -> np.ndarray | None:
        """(n, g, g) per-patch terms of the ``mean<k>`` features less the head's real-face
        baseline (see the class); None for a head without ``mean<k>`` features or without
        a baseline (one exported before baselines were kept)."""
        if self.base is None or not _mean_columns(self.features):
            return None
        # with the flip, the mirror's map mirrored back: the map of the averaged logit
        return flip_averaged(
            self._maps, crops, self.cfg.test_time_flip, mirror_back=lambda m: m[:, :, ::-1]
        )

    def _maps(self, crops: np.ndarray) -> np.ndarray:
        assert self.base is not None
        terms = patch_terms(
            crops,
            features=self.features,
            mu=self.mu,
            sigma=self.sigma,
            coef=self.coef,
            size=self.size,
            delta=self.delta,
            threads=self.threads,
        )
        assert terms is not None  # heatmaps() checked for mean<k> features
        grid = self.size // CLIP_PATCH
        return (terms - self.base.ravel()).reshape(len(crops), grid, grid).astype(np.float32)

    def score(self, faces: Faces) -> np.ndarray:
        self._check_crops(faces)
        if not len(faces):
            return np.zeros(0, np.float32)
        return (1.0 / (1.0 + np.exp(-self.logits(faces.crops)))).astype(np.float32)


def tower_settings(w: Any, path: Path) -> tuple[tuple[str, ...], int, TowerDelta | None]:
    """What a head file asks of the tower: the features its coefficients read, the input
    size and the tower delta, each with the default of files made before it was kept
    (LEGACY_FEATURES, 224 pixels, the frozen tower)."""
    names = tuple(str(n) for n in w["features"]) if "features" in w else tuple(LEGACY_FEATURES)
    size = int(w["size"]) if "size" in w else CLIP_SIZE
    return names, size, read_delta(w, path) if "tower_names" in w else None


def patch_terms(
    crops: np.ndarray,
    *,
    features: tuple[str, ...],
    mu: np.ndarray,
    sigma: np.ndarray,
    coef: np.ndarray,
    size: int,
    delta: TowerDelta | None = None,
    threads: int = 0,
) -> np.ndarray | None:
    """(n, patches) float64: each patch's share of a linear head's ``mean<k>`` terms,
    ``sum over k of coef_k . (token_k - mu_k) / sigma_k``, whose mean over the patches is
    those features' part of the logit exactly; None when ``features`` has no ``mean<k>``."""
    columns = _mean_columns(features)
    if not columns:
        return None
    layers = tuple(columns)
    _, patches = clip_features_and_patches(
        crops, layers=layers, threads=threads, features=features, size=size, delta=delta
    )
    terms = np.zeros(patches.shape[:2], np.float64)
    for j, k in enumerate(layers):
        cols = columns[k]
        tokens = patches[:, :, j * CLIP_WIDTH : (j + 1) * CLIP_WIDTH].astype(np.float64)
        terms += ((tokens - mu[cols]) / sigma[cols]) @ coef[cols]
    return terms


def _mean_columns(features: tuple[str, ...]) -> dict[int, slice]:
    """Layer k -> the columns of feature ``mean<k>`` among ``features``."""
    out, start = {}, 0
    for name in features:
        width = feature_size([name])
        if name.startswith("mean"):
            out[int(name[len("mean") :])] = slice(start, start + width)
        start += width
    return out


def delta_arrays(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A tower delta as the arrays a head file stores (read back by read_delta)."""
    names = sorted(values)
    return {
        "tower_names": np.array(names),
        "tower_sizes": np.array([values[n].size for n in names], np.int64),
        "tower_values": np.concatenate([values[n].ravel() for n in names]).astype(np.float32),
    }


def read_delta(w: Any, path: Path) -> TowerDelta:
    """The tower delta a head file stores (see delta_arrays); shapes are the tower's, so a
    vector of the wrong length fails when the tower is loaded."""
    names = [str(n) for n in w["tower_names"]]
    sizes, flat = w["tower_sizes"].astype(np.int64), w["tower_values"].astype(np.float32)
    if len(sizes) != len(names) or int(sizes.sum()) != len(flat):
        raise WeightsError(
            f"{path}: its tower delta names {len(names)} parameters of {int(sizes.sum())} values "
            f"in all but holds {len(flat)}; re-export the head"
        )
    ends = np.cumsum(sizes)
    return TowerDelta.of({n: flat[e - k : e] for n, k, e in zip(names, sizes, ends, strict=True)})


@dataclass(frozen=True)
class PatchHead:
    """The patch part of a CLIP head: every patch of the face, described by its tokens
    after the layers ``layers`` (concatenated, standardised by ``mu`` and ``sigma``), gets
    a logit of where the face looks manipulated: ``coef . t + intercept``, or with a hidden
    layer (``w1``, ``b1``) ``coef . gelu(t @ w1 + b1) + intercept``. A face's patch logits
    are pooled by a soft maximum, ``tau * log(mean(exp(s / tau)))``: one strongly
    suspicious patch counts, as a blend boundary or a re-rendered mouth shows in a few
    patches only (unmask.train.patch_head trains it)."""

    layers: tuple[int, ...]
    mu: np.ndarray
    sigma: np.ndarray
    coef: np.ndarray
    intercept: float
    tau: float
    w1: np.ndarray | None = None
    b1: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.layers or not all(1 <= k <= CLIP_LAYERS for k in self.layers):
            raise WeightsError(
                f"CLIP patch head: expected layers from 1 to {CLIP_LAYERS}; got {list(self.layers)}"
            )
        width = CLIP_WIDTH * len(self.layers)
        hidden = width if self.w1 is None else self.w1.shape[1]
        shapes_ok = self.mu.shape == self.sigma.shape == (width,) and self.coef.shape == (hidden,)
        if self.w1 is not None:
            shapes_ok &= (
                self.w1.shape[0] == width and self.b1 is not None and self.b1.shape == (hidden,)
            )
        if not shapes_ok:
            raise WeightsError(
                f"CLIP patch head: expected {width} means and scales for layers {list(self.layers)} "
                f"and matching weights; got {self.mu.shape}, {self.sigma.shape}, "
                f"{None if self.w1 is None else self.w1.shape}, {self.coef.shape}. Re-export the head"
            )
        if not self.tau > 0:
            raise WeightsError(
                f"CLIP patch head: expected a pooling temperature > 0; got {self.tau}"
            )

    @classmethod
    def read(cls, w: Any, path: Path) -> PatchHead:
        # NpzFile's KeyError names the whole archive; name the missing array instead
        keys = ("layers", "mu", "sigma", "coef", "intercept", "tau")
        hidden = "patch_w1" in w
        needed = [f"patch_{k}" for k in keys] + (["patch_b1"] if hidden else [])
        missing = [k for k in needed if k not in w]
        if missing:
            raise WeightsError(f"{path}: its patch head lacks {missing[0]!r}; re-export the head")
        return cls(
            layers=tuple(int(k) for k in np.atleast_1d(w["patch_layers"])),
            mu=w["patch_mu"].astype(np.float64),
            sigma=w["patch_sigma"].astype(np.float64),
            coef=w["patch_coef"].astype(np.float64),
            intercept=float(w["patch_intercept"]),
            tau=float(w["patch_tau"]),
            w1=w["patch_w1"].astype(np.float64) if hidden else None,
            b1=w["patch_b1"].astype(np.float64) if hidden else None,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The head file's arrays for this part (read back by :meth:`read`)."""
        out: dict[str, np.ndarray] = {
            "patch_layers": np.array(self.layers, np.int64),
            "patch_mu": self.mu.astype(np.float32),
            "patch_sigma": self.sigma.astype(np.float32),
            "patch_coef": self.coef.astype(np.float32),
            "patch_intercept": np.array(self.intercept, np.float32),
            "patch_tau": np.array(self.tau, np.float32),
        }
        if self.w1 is not None and self.b1 is not None:
            out |= {"patch_w1": self.w1.astype(np.float32), "patch_b1": self.b1.astype(np.float32)}
        return out

    def scores(self, patches: np.ndarray) -> np.ndarray:
        """(n, patches) logits of (n, patches, width) patch tokens (the layers' tokens of
        each patch side by side, in the order of ``layers``)."""
        z = (patches.astype(np.float64) - self.mu) / self.sigma
        if self.w1 is not None and self.b1 is not None:
            z = gelu(z @ self.w1 + self.b1)
        return z @ self.coef + self.intercept

    def pool(self, scores: np.ndarray) -> np.ndarray:
        """(n,) soft maximum of (n, patches) patch logits."""
        s = scores / self.tau
        top = s.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
        return self.tau * (lse - np.log(scores.shape[1]))


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU in its tanh form (torch's ``gelu(approximate="tanh")``)."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


# Where the mouth lies in a face crop of unmask's geometry (centred on the detector's box,
# its side 1.15 of the box's longer side, eyes level): the mean of the two mouth-corner
# landmarks at x 0.49 +- 0.03, y 0.70 +- 0.014 of the side, the corners 0.26 apart (204
# ffpp_crops test faces). A square of 0.48 of the side on (0.5, 0.70), 0.55 of the box
# side, holds the lips and chin with room for a turned head, and is its own mirror image.
MOUTH_BOX = (0.26, 0.46, 0.74, 0.94)
MOUTH_SIZE = 112


def cut_window(crops: np.ndarray, box: Sequence[float], size: int) -> np.ndarray:
    """(n, size, size, 3) uint8: the part of each (n, H, W, 3) crop inside ``box`` (x0, y0,
    x1, y1 as fractions of the crop's width and height), resized to ``size``."""
    n, h, w = len(crops), int(crops.shape[1]), int(crops.shape[2])
    x0, x1 = round(box[0] * w), round(box[2] * w)
    y0, y1 = round(box[1] * h), round(box[3] * h)
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        part = crops[k, y0:y1, x0:x1]
        interp = cv2.INTER_AREA if max(part.shape[:2]) > size else cv2.INTER_LINEAR
        out[k] = cv2.resize(part, (size, size), interpolation=interp)
    return out


@dataclass(frozen=True)
class MouthHead:
    """The mouth part of a CLIP head: a window of the face crop around the mouth (``box``,
    fractions of the crop, see MOUTH_BOX) resized to ``size`` pixels through the frozen
    tower, and a linear head on its ``features``, ``weight`` times the head's logit added
    to the face view's. Face2Face and NeuralTextures change the mouth alone, which a face
    view of 10 x 10 patches sees in a few of them (unmask.train: ``clip_head.mouth_view``)."""

    box: tuple[float, float, float, float]
    size: int
    features: tuple[str, ...]
    mu: np.ndarray
    sigma: np.ndarray
    coef: np.ndarray
    intercept: float
    weight: float

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box
        if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
            raise WeightsError(
                f"CLIP mouth head: expected a box x0 < x1, y0 < y1 within [0, 1] of the crop; "
                f"got {list(self.box)}. Re-export the head"
            )
        check_size(self.size)
        check_features(self.features)
        width = feature_size(self.features)
        if not self.mu.shape == self.sigma.shape == self.coef.shape == (width,):
            raise WeightsError(
                f"CLIP mouth head: expected {width} coefficients for the features "
                f"{list(self.features)}; got {self.coef.shape}. Re-export the head"
            )

    @classmethod
    def read(cls, w: Any, path: Path) -> MouthHead:
        keys = ("box", "size", "features", "mu", "sigma", "coef", "intercept", "weight")
        missing = [f"mouth_{k}" for k in keys if f"mouth_{k}" not in w]
        if missing:
            raise WeightsError(f"{path}: its mouth head lacks {missing[0]!r}; re-export the head")
        return cls(
            box=tuple(float(v) for v in w["mouth_box"]),  # type: ignore[arg-type]
            size=int(w["mouth_size"]),
            features=tuple(str(n) for n in w["mouth_features"]),
            mu=w["mouth_mu"].astype(np.float64),
            sigma=w["mouth_sigma"].astype(np.float64),
            coef=w["mouth_coef"].astype(np.float64),
            intercept=float(w["mouth_intercept"]),
            weight=float(w["mouth_weight"]),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The head file's arrays for this part (read back by :meth:`read`)."""
        return {
            "mouth_box": np.array(self.box, np.float32),
            "mouth_size": np.array(self.size, np.int64),
            "mouth_features": np.array(self.features),
            "mouth_mu": self.mu.astype(np.float32),
            "mouth_sigma": self.sigma.astype(np.float32),
            "mouth_coef": self.coef.astype(np.float32),
            "mouth_intercept": np.array(self.intercept, np.float32),
            "mouth_weight": np.array(self.weight, np.float32),
        }

    def windows(self, crops: np.ndarray) -> np.ndarray:
        return cut_window(crops, self.box, self.size)

    def logits(self, crops: np.ndarray, *, threads: int = 0) -> np.ndarray:
        """(n,) float64: ``weight`` times the mouth head's logit of each crop's window."""
        x = clip_features(
            self.windows(crops), threads=threads, features=self.features, size=self.size
        )
        z = ((x.astype(np.float64) - self.mu) / self.sigma) @ self.coef + self.intercept
        return self.weight * z
