"""The detector contract and the frozen config that travels with each set of weights."""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from unmask.calibration import CalibrationCfg
from unmask.errors import ConfigError, WeightsError, closest_names
from unmask.faces import Faces


@dataclass(frozen=True)
class AggregationCfg:
    """Which rule combines a track's face logits (see unmask.aggregate.RULES)."""

    rule: str = "mean"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectorCfg:
    """Everything needed to use one set of weights, stored beside them as ``<name>.json``.

    Transforms are built from this (crop size, margin, mean/std), never from constants in
    scripts. ``sha256`` is checked when the weights are loaded.
    """

    name: str
    architecture: str
    weights: str
    sha256: str
    input_size: int
    margin: float = 0.3
    align: bool = True
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    aggregation: AggregationCfg = field(default_factory=AggregationCfg)
    calibration: CalibrationCfg = field(default_factory=CalibrationCfg)
    threshold: float = 0.5
    # classify at most this many faces per track, evenly spaced in time (slow detectors)
    max_faces_per_track: int | None = None
    # score each crop and its mirror image and average the two logits (twice the work)
    test_time_flip: bool = False
    license: str = ""
    trained_on: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> DetectorCfg:
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                close = closest_names(key, known)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"{source}: unknown key {key!r}{hint}")
        values = dict(data)
        values["aggregation"] = AggregationCfg(**values.get("aggregation", {}))
        values["calibration"] = CalibrationCfg(**values.get("calibration", {}))
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        try:
            return cls(**values)
        except TypeError as err:
            raise ConfigError(f"{source}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _as_faces(crops: np.ndarray) -> Faces:
    n = len(crops)
    return Faces(
        crops=crops,
        boxes_xyxy=np.zeros((n, 4)),
        frame_index=np.arange(n),
        track_id=np.zeros(n),
        score=np.ones(n),
        landmarks=np.zeros((n, 5, 2)),
    )


def flip_averaged(
    fn: Callable[[np.ndarray], np.ndarray],
    crops: np.ndarray,
    flip: bool,
    *,
    mirror_back: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``fn(crops)``, or with ``flip`` the mean of ``fn`` of each crop and of its mirror
    image (left and right swapped), both run in one call. ``mirror_back`` puts an output
    of a mirror image back onto its crop (a map over the crop has its columns reversed);
    per-crop numbers such as logits need none."""
    if not flip or not len(crops):
        return fn(crops)
    n = len(crops)
    both = fn(np.concatenate([crops, crops[:, :, ::-1]]))
    mirrored = both[n:] if mirror_back is None else mirror_back(both[n:])
    return (both[:n] + mirrored) / 2


def weights_dir() -> Path:
    return Path(str(resources.files("unmask.detectors") / "weights"))


@cache
def load_cfg(name: str) -> DetectorCfg:
    """Read ``weights/<name>.json``."""
    return read_cfg(weights_dir() / f"{name}.json")


def read_cfg(path: Path) -> DetectorCfg:
    """Read a DetectorCfg JSON file (e.g. a freshly trained export)."""
    name = path.stem
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(
            f"no config for detector {name!r} at {path}; reinstall unmask or retrain it"
        ) from None
    except json.JSONDecodeError as err:
        raise WeightsError(f"{path}: not valid JSON ({err})") from None
    return DetectorCfg.from_dict(data, source=str(path))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_weights(cfg: DetectorCfg, directory: Path | None = None) -> Path:
    """Path of the weights file (in ``directory``, default the package's weights folder)
    after checking it exists and matches ``cfg.sha256``."""
    path = (directory or weights_dir()) / cfg.weights
    if not path.is_file():
        raise WeightsError(f"weights for detector {cfg.name!r} missing at {path}; reinstall unmask")
    digest = sha256_file(path)
    if digest != cfg.sha256:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}... does not match the config's {cfg.sha256[:12]}...; "
            "the file is corrupt or from another training run"
        )
    return path


class Detector(abc.ABC):
    """A deepfake detector: ``score(faces)`` gives P(fake) per face crop, before calibration.

    It owns its preprocessing (from ``cfg``); it does not compute metrics or keep state
    between calls. Crops arrive at ``cfg.input_size`` with ``cfg.margin``.

    ``flips`` is True for detectors that average each crop's logit with its mirror image's
    when ``cfg.test_time_flip`` is set; the others refuse that setting.

    ``scores_each_crop`` is True for detectors whose score for a crop depends on that crop
    alone (not on ``track_id``, nor on the other crops in the call): the scanner then
    scores faces while the video is still being decoded, before tracks are known, in
    groups of its choosing and sometimes from two threads at once. Leave it False
    otherwise.
    """

    scores_each_crop: bool = False
    # True for detectors that honour ``cfg.test_time_flip`` (see flip_averaged)
    flips: bool = False

    def __init__(self, cfg: DetectorCfg) -> None:
        if cfg.test_time_flip and not self.flips:
            raise ConfigError(
                f"detector {cfg.name!r} ({type(self).__name__}): test_time_flip is for "
                "detectors that score crops with one network (ONNX or CLIP heads); "
                "set it on an ensemble's members, or remove it"
            )
        self.cfg = cfg

    @property
    def name(self) -> str:
        return self.cfg.name

    @abc.abstractmethod
    def score(self, faces: Faces) -> np.ndarray:
        """(n,) float32 P(fake) for the n crops."""

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """(n,) float64 log-odds for uint8 (n, H, W, 3) crops; detectors with a native logit
        override this (it is what ensembles combine)."""
        p = np.clip(self.score(_as_faces(crops)).astype(np.float64), 1e-7, 1 - 1e-7)
        return np.log(p) - np.log1p(-p)

    def with_threads(self, threads: int) -> Detector | None:
        """This detector running its networks on ``threads`` onnxruntime threads: the same
        weights and the same scores, bit for bit, for when more cores are free (the
        scanner's tail, once decoding has ended). None for a detector that cannot, which
        is the default."""
        del threads
        return None

    def heatmaps(self, crops: np.ndarray) -> np.ndarray | None:
        """Where in each crop the logit comes from, or None for a detector that cannot say.

        A (n, rows, cols) float32 map of log-odds terms on a grid laid over the crop, the
        part of each crop's logit that is a mean over regions of the crop:
        ``logits(crops) == rest + maps.mean(axis=(1, 2))`` holds up to rounding, ``rest`` being
        what no region owns (a term of the whole image). A positive cell pushes the crop
        towards FAKE, a negative one towards REAL. Detectors that can decompose their logit
        this way override it.
        """
        return None

    def _check_crops(self, faces: Faces) -> None:
        size = self.cfg.input_size
        if len(faces) and faces.crop_size != (size, size):
            raise ValueError(
                f"{self.name} expects {size}x{size} crops; got {faces.crop_size[0]}x{faces.crop_size[1]}"
            )
