"""Import an actor's footage: quality filters, face track and dense landmarks, cached.

A file is accepted when, in most sampled frames, there is exactly one dominant face (a second
face, if any, is much smaller), big enough and sharp enough, and when dense landmarks are
found in most of the frames a build may use. Rejected footage is recorded in the ledger with
the reason; accepted footage is copied into the workspace and its landmarks cached::

    WORKSPACE/footage/<actor>/<footage_id>.mp4
    WORKSPACE/cache/footage/<footage_id>/{landmarks.npz, actors.json}

>>> with Ledger.open(Path("ws")) as ledger:  # doctest: +SKIP
...     record = ingest_footage(ledger, Workspace(Path("ws")), "act-3f9c2d1b", Path("clip.mp4"))
...     record.status, record.reason
('accepted', '')
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from unmask.errors import ConsentError, UnmaskError
from unmask.forge._workspace import Workspace, mark_cache
from unmask.forge.ledger import FootageRecord, Ledger, sha256_file

LANDMARKS_FILE = "landmarks.npz"
SHARPNESS_SIZE = 128  # faces are resized to this side before measuring sharpness


@dataclass(frozen=True)
class QualityFilter:
    """Thresholds a footage file must pass (defaults suit 256 px to 1080p talking heads).

    ``min_sharpness`` is the variance of the Laplacian of the face resized to 128 px: sharp
    studio faces score 30 to 1,000, the same faces blurred with a 3-pixel Gaussian 6 to 70.
    """

    min_face: int = 64
    min_sharpness: float = 25.0
    max_second_face: float = 0.25  # area of the second-largest face / the largest
    min_good_fraction: float = 0.75  # of the sampled frames
    min_landmark_fraction: float = 0.75  # of the frames a build may use
    sample_frames: int = 12

    def __post_init__(self) -> None:
        for name in ("max_second_face", "min_good_fraction", "min_landmark_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {value}")
        if self.min_face < 1 or self.sample_frames < 1:
            raise ValueError("min_face and sample_frames must be >= 1")


@dataclass(frozen=True)
class FrameQuality:
    """What the filters saw in one sampled frame; ``problem`` is None when it passes."""

    n_faces: int
    face_px: float  # shorter side of the largest face box
    sharpness: float
    second_face: float  # area ratio of the second-largest face to the largest (0 if none)
    problem: str | None


def sharpness(rgb: np.ndarray, box_xyxy: np.ndarray) -> float:
    """Variance of the Laplacian of the face region, resized to a fixed size."""
    from unmask.faces import crop_face

    crop = crop_face(rgb, box_xyxy, size=SHARPNESS_SIZE, margin=0.0, align=False)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def assess_frame(rgb: np.ndarray, boxes_xyxy: np.ndarray, filt: QualityFilter) -> FrameQuality:
    """Apply the face-count, size and sharpness filters to one frame's detections."""
    if len(boxes_xyxy) == 0:
        return FrameQuality(0, 0.0, 0.0, 0.0, "no_face")
    wh = np.stack([boxes_xyxy[:, 2] - boxes_xyxy[:, 0], boxes_xyxy[:, 3] - boxes_xyxy[:, 1]], 1)
    area = wh[:, 0] * wh[:, 1]
    order = np.argsort(-area)
    main = order[0]
    second = float(area[order[1]] / max(area[main], 1e-6)) if len(order) > 1 else 0.0
    face_px = float(wh[main].min())
    sharp = sharpness(rgb, boxes_xyxy[main])
    problem = None
    if second > filt.max_second_face:
        problem = "several_faces"
    elif face_px < filt.min_face:
        problem = "small_face"
    elif sharp < filt.min_sharpness:
        problem = "blurry"
    return FrameQuality(len(boxes_xyxy), face_px, sharp, second, problem)


def judge(qualities: Sequence[FrameQuality], filt: QualityFilter) -> tuple[str, dict[str, Any]]:
    """``(reason, stats)``: reason is "" when the footage passes, else one clear sentence."""
    n = len(qualities)
    good = [q for q in qualities if q.problem is None]
    faces = [q for q in qualities if q.n_faces]
    stats: dict[str, Any] = {
        "sampled_frames": n,
        "good_fraction": round(len(good) / n, 3) if n else 0.0,
        "face_px": round(float(np.median([q.face_px for q in faces])), 1) if faces else 0.0,
        "sharpness": round(float(np.median([q.sharpness for q in faces])), 1) if faces else 0.0,
    }
    if n and len(good) / n >= filt.min_good_fraction:
        return "", stats
    problems = Counter(q.problem for q in qualities if q.problem)
    worst, count = problems.most_common(1)[0] if problems else ("no_face", n)
    of = f"{count} of {n} sampled frames"
    if worst == "no_face":
        reason = f"no face found in {of}; forge needs one clearly visible face"
    elif worst == "several_faces":
        ratio = max(q.second_face for q in qualities)
        reason = (
            f"several faces in {of} (second face up to {ratio:.0%} of the first's area; "
            f"at most {filt.max_second_face:.0%}); forge needs one dominant face"
        )
    elif worst == "small_face":
        reason = (
            f"face too small in {of} (median {stats['face_px']:.0f} px; need >= {filt.min_face} px)"
        )
    else:
        reason = (
            f"face too blurry in {of} (median sharpness {stats['sharpness']:.0f}; "
            f"need >= {filt.min_sharpness:.0f})"
        )
    return reason, stats


def _copy_atomic(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_landmarks(workspace: Workspace, footage_id: str) -> np.ndarray:
    """Cached (T, 468, 2) float32 landmarks of accepted footage (NaN rows: no face)."""
    path = workspace.footage_cache(footage_id) / LANDMARKS_FILE
    try:
        with np.load(path) as data:
            return np.asarray(data["landmarks"], np.float32)
    except (OSError, KeyError, ValueError) as err:
        raise UnmaskError(
            f"landmark cache of footage {footage_id} is missing or damaged ({err}); "
            "re-import the footage with `unmask forge ingest`"
        ) from None


def ingest_footage(
    ledger: Ledger,
    workspace: Workspace,
    actor_id: str,
    path: Path,
    *,
    filt: QualityFilter | None = None,
    max_frames: int = 300,
) -> FootageRecord:
    """Check one file of ``actor_id`` and import it; returns the ledger record.

    Footage already imported for this actor is returned as it is; footage registered to a
    different actor, or an actor without any valid consent, is an error.
    """
    from unmask.faces import FaceDetector
    from unmask.media import media_kind, probe, read_image, sample_frames

    filt = filt or QualityFilter()
    path = Path(path)
    ledger.require_actor(actor_id)
    if not ledger.consent(actor_id).valid:
        ledger.check_consent(actor_id, role="target", uses=())  # raises with the reason
    if not path.is_file():
        raise UnmaskError(f"{path}: no such file")
    digest = sha256_file(path)
    existing = ledger.footage_by_sha(digest)
    if existing is not None:
        if existing.actor_id != actor_id:
            raise ConsentError(
                f"{path} is already registered as footage {existing.footage_id} of actor "
                f"{existing.actor_id}; one file belongs to one actor"
            )
        return existing
    footage_id = f"ftg-{digest[:12]}"
    kind = media_kind(path)
    if kind == "image":
        frames = [read_image(path)]
        height, width = frames[0].shape[:2]
        fps, n_frames = 0.0, 1
    else:
        sampled = sample_frames(path, n=filt.sample_frames)
        frames = sampled.images
        width, height, fps = sampled.info.width, sampled.info.height, sampled.info.fps
        n_frames = min(probe(path).n_frames or max_frames, max_frames)
    detections = FaceDetector().detect(frames)
    qualities = [
        assess_frame(f, d.boxes_xyxy, filt) for f, d in zip(frames, detections, strict=True)
    ]
    reason, stats = judge(qualities, filt)
    landmarks = None
    if not reason:
        landmarks = _dense_landmarks(path, kind, frames, max_frames)
        n_frames = len(landmarks)
        found = float(np.isfinite(landmarks[:, 0, 0]).mean()) if n_frames else 0.0
        stats["landmark_fraction"] = round(found, 3)
        if found < filt.min_landmark_fraction:
            reason = (
                f"dense landmarks found in only {found:.0%} of the first {n_frames} frames "
                f"(need {filt.min_landmark_fraction:.0%}); the face may be turned away or cut off"
            )
    record = FootageRecord(
        footage_id=footage_id,
        actor_id=actor_id,
        path=None,
        sha256=digest,
        kind=kind,
        status="rejected" if reason else "accepted",
        reason=reason,
        width=width,
        height=height,
        fps=fps,
        n_frames=n_frames,
        stats=stats,
    )
    if reason:
        return ledger.add_footage(record)
    assert landmarks is not None
    target = workspace.footage_dir(actor_id) / f"{footage_id}{path.suffix.lower()}"
    _copy_atomic(path, target)
    cache = mark_cache(workspace.footage_cache(footage_id), [actor_id])
    tmp = cache / f".{LANDMARKS_FILE}.tmp.npz"
    np.savez_compressed(tmp, landmarks=landmarks.astype(np.float32))
    os.replace(tmp, cache / LANDMARKS_FILE)
    return ledger.add_footage(replace(record, path=target.relative_to(workspace.root).as_posix()))


def _dense_landmarks(
    path: Path, kind: str, frames: list[np.ndarray], max_frames: int
) -> np.ndarray:
    from unmask.forge.landmarks import FaceMesh
    from unmask.media import iter_frames

    if kind == "image":
        with FaceMesh(video=False) as mesh:
            return mesh.landmarks(frames)
    with FaceMesh(video=True) as mesh:
        return mesh.landmarks(rgb for _i, rgb in iter_frames(path, max_frames=max_frames))
