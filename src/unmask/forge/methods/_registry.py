"""The forge method contract (spec, clip, result) and the registry that names the methods."""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from unmask.errors import ConfigError, FaceNotFoundError, UnknownNameError
from unmask.forge.landmarks import N_LANDMARKS
from unmask.forge.methods._mesh import smooth_landmarks
from unmask.forge.methods._sheet import write_contact_sheet


@dataclass(frozen=True)
class MethodSpec:
    """What a method needs, so that drivers never branch on method names."""

    name: str
    needs_source: (
        bool  # a second actor: the source identity (swap, dfae) or driving actor (reenact)
    )
    needs_landmarks: bool = True  # 468-point mesh landmarks in Clip.landmarks
    needs_torch: bool = False
    trains_per_pair: bool = False  # trains a model per (source, target) pair, cached in workdir
    description: str = ""


@dataclass
class Clip:
    """Frames of one actor in one video with their mesh landmarks.

    ``landmarks`` is (T, 468, 2) float32 in pixels, with rows of NaN where no face was found
    (``FaceMesh.landmarks`` gives exactly that; ``Clip.from_frames`` runs it for you).
    """

    frames: list[np.ndarray]
    landmarks: np.ndarray
    fps: float
    actor_id: str
    video_id: str

    def __post_init__(self) -> None:
        self.frames = list(self.frames)
        if not self.frames:
            raise ValueError(f"clip {self.video_id!r} has no frames")
        first = self.frames[0]
        if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
            raise ValueError(f"frames must be RGB uint8 (H, W, 3); got {first.dtype} {first.shape}")
        for i, frame in enumerate(self.frames):
            if frame.shape != first.shape or frame.dtype != np.uint8:
                raise ValueError(
                    f"frame {i} of clip {self.video_id!r} is {frame.dtype} {frame.shape}; "
                    f"every frame must be uint8 {first.shape} like frame 0"
                )
        self.landmarks = np.asarray(self.landmarks, np.float32)
        want = (len(self.frames), N_LANDMARKS, 2)
        if self.landmarks.shape != want:
            raise ValueError(f"landmarks must have shape {want}; got {self.landmarks.shape}")
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise ValueError(f"fps must be a positive number; got {self.fps}")

    @classmethod
    def from_frames(
        cls, frames: Sequence[np.ndarray], *, fps: float, actor_id: str, video_id: str
    ) -> Clip:
        """Run the face mesh over ``frames`` (largest face per frame) and build a clip.

        >>> clip = Clip.from_frames(frames, fps=25.0, actor_id="a01", video_id="v001")  # doctest: +SKIP
        """
        from unmask.forge.landmarks import FaceMesh

        frames = list(frames)
        with FaceMesh(video=True) as mesh:
            landmarks = mesh.landmarks(frames)
        return cls(frames, landmarks, float(fps), actor_id, video_id)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        h, w = self.frames[0].shape[:2]
        return h, w

    @property
    def has_face(self) -> np.ndarray:
        """(T,) bool: frames with a complete set of landmarks."""
        return np.isfinite(self.landmarks).all(axis=(1, 2))

    def require_faces(self, needed: int, *, role: str) -> np.ndarray:
        """Indices of frames with a face; a clear error when there are fewer than ``needed``."""
        found = np.flatnonzero(self.has_face)
        if len(found) < needed:
            raise FaceNotFoundError(
                f"{role} clip {self.video_id!r} of actor {self.actor_id!r} has a face in "
                f"{len(found)} of {len(self.frames)} frames; at least {needed} needed "
                "(use a longer clip, or footage where the actor's face is visible)"
            )
        return found


@dataclass
class ForgeResult:
    """Fake frames, the masks of changed pixels and the parameters that made them."""

    frames: list[np.ndarray]  # same length and size as target.frames
    masks: list[np.ndarray]  # (H, W) float32 in [0, 1]: where pixels were changed
    params: dict[str, Any]  # JSON-serialisable; recorded in the dataset manifest
    contact_sheet: Path | None = field(default=None)  # original | fake | difference PNG


class ForgeMethod(Protocol):
    spec: MethodSpec

    def generate(
        self, target: Clip, source: Clip | None, *, rng: np.random.Generator, workdir: Path
    ) -> ForgeResult: ...


F = TypeVar("F", bound=Callable[..., ForgeMethod])
_FACTORIES: dict[str, Callable[..., ForgeMethod]] = {}


def register_method(name: str) -> Callable[[F], F]:
    """Register a factory under ``name``; registering a name twice is an error.

    >>> @register_method("my_method")  # doctest: +SKIP
    ... def _my_method(**kwargs) -> MyMethod:
    ...     return MyMethod(**kwargs)
    """

    def decorator(factory: F) -> F:
        if name in _FACTORIES:
            raise ValueError(f"forge method {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return decorator


def list_methods(pattern: str = "*") -> list[str]:
    """Sorted names of the registered methods matching a shell-style ``pattern``.

    >>> list_methods()  # doctest: +SKIP
    ['dfae', 'reenact', 'swap']
    """
    return sorted(n for n in _FACTORIES if fnmatch.fnmatchcase(n, pattern))


def create_method(name: str, **kwargs: Any) -> ForgeMethod:
    """Build the method registered as ``name``; unknown names and parameters suggest the closest.

    >>> method = create_method("swap", smooth_window=9)  # doctest: +SKIP
    >>> result = method.generate(target, source, rng=np.random.default_rng(0), workdir=tmp)  # doctest: +SKIP
    """
    if name not in _FACTORIES:
        raise UnknownNameError("forge method", name, _FACTORIES)
    factory = _FACTORIES[name]
    params = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for key in kwargs:
            if key not in params:
                raise UnknownNameError(f"parameter of forge method {name!r}", key, params)
    return factory(**kwargs)


def slug(text: str) -> str:
    """A file-name-safe form of an id (letters, digits, ``-``, ``_``, ``.``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"


def contact_sheet_path(workdir: Path, spec: MethodSpec, target: Clip) -> Path:
    """Where a method writes the contact sheet for one target clip."""
    return Path(workdir) / "contact_sheets" / f"{spec.name}__{slug(target.video_id)}.png"


_ZEROS: dict[tuple[int, int], np.ndarray] = {}


def zero_mask(size: tuple[int, int]) -> np.ndarray:
    """A shared, read-only all-zero (H, W) float32 mask for frames a method leaves alone."""
    if size not in _ZEROS:
        mask = np.zeros(size, np.float32)
        mask.setflags(write=False)
        _ZEROS[size] = mask
    return _ZEROS[size]


def finish(
    spec: MethodSpec,
    target: Clip,
    changed: dict[int, tuple[np.ndarray, np.ndarray]],
    params: dict[str, Any],
    *,
    workdir: Path,
    contact_sheet: bool,
) -> ForgeResult:
    """Assemble a result from the frames a method changed; the others pass through unchanged.

    Also writes the contact sheet (rows taken from the changed frames when there are any).
    """
    frames, masks = [], []
    for i, frame in enumerate(target.frames):
        new, mask = changed.get(i, (frame, zero_mask(target.size)))
        frames.append(new)
        masks.append(mask)
    params = {"method": spec.name, **params, "frames_changed": len(changed)}
    sheet = None
    if contact_sheet:
        rows = sorted(changed) or list(range(len(frames)))
        pick = [
            rows[k] for k in np.linspace(0, len(rows) - 1, min(4, len(rows))).round().astype(int)
        ]
        sheet = write_contact_sheet(
            target.frames, frames, contact_sheet_path(workdir, spec, target), frames=pick
        )
    return ForgeResult(frames=frames, masks=masks, params=params, contact_sheet=sheet)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_range(name: str, value: float, lo: float, hi: float) -> None:
    """ConfigError unless ``lo <= value <= hi``."""
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be in [{lo}, {hi}]; got {value}")


def method_params(method: object) -> dict[str, Any]:
    """The constructor arguments of a dataclass method, for ``ForgeResult.params``."""
    return {
        f.name: getattr(method, f.name)
        for f in dataclasses.fields(method)  # type: ignore[arg-type]
        if f.init and f.name != "contact_sheet"
    }


@dataclass(frozen=True)
class PairTracks:
    """Smoothed landmark tracks of a target clip and of its source clip, and the indices of
    their frames with a face; ``source_clip`` is the (checked) source clip."""

    source_clip: Clip
    target: np.ndarray
    source: np.ndarray
    target_faces: np.ndarray
    source_faces: np.ndarray


def pair_tracks(
    spec: MethodSpec,
    target: Clip,
    source: Clip | None,
    *,
    window: int,
    min_source_faces: int,
    role: str = "source",
) -> PairTracks:
    """Check the source clip (present, enough faces) and smooth both landmark tracks.

    ``role`` names the source actor in errors ("source", "driving").
    """
    if source is None:
        raise ConfigError(f"{spec.name} needs a source clip (the {role} actor's footage)")
    source_faces = source.require_faces(min_source_faces, role=role)
    return PairTracks(
        source_clip=source,
        target=smooth_landmarks(target.landmarks, window=window),
        source=smooth_landmarks(source.landmarks, window=window),
        target_faces=np.flatnonzero(target.has_face),
        source_faces=source_faces,
    )
