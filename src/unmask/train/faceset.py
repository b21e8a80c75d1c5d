"""Face-crop datasets for training, cut with the scan face pipeline and cached on disk.

Every source (a video, a photo, or an existing crop such as the FF++ crops) becomes a few
*base crops*: square, axis-aligned, ``BASE_SIZE`` px, around the RetinaFace box enlarged by
``BASE_MARGIN``, with the 5 RetinaFace landmarks and (when mediapipe is installed) the
468-point mesh in base-crop pixels. Training crops for a detector (its input size and
margin) are cut from the base crop with the same geometry as ``unmask.faces.crop_face`` at
scan time, after the self-blending and degradations that need the wider context.

The cache is one ``.npz`` per source, keyed by the source's path, size, mtime and the
cropping parameters, written atomically, so an interrupted extraction resumes.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unmask._io import atomic_write_bytes
from unmask._progress import progress
from unmask.errors import DatasetError, UnmaskError
from unmask.faces import RetinaFace, crop_face, track_faces
from unmask.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, read_image, sample_frames

BASE_SIZE = 320
BASE_MARGIN = 0.8
CACHE_VERSION = 2


@dataclass(frozen=True)
class Source:
    """One file to cut faces from, with what we know about it."""

    path: Path
    label: int  # 1 = fake
    method: str  # "real" or the manipulation's name
    identity: str  # person (for identity-disjoint splits); best effort
    group: str  # where it comes from, e.g. "ffpp_crops", "real_videos"


@dataclass
class FaceSet:
    """Base crops with their labels: parallel arrays over n faces."""

    crops: np.ndarray  # (n, BASE_SIZE, BASE_SIZE, 3) uint8
    boxes: np.ndarray  # (n, 4) face box in base-crop pixels
    landmarks: np.ndarray  # (n, 5, 2) in base-crop pixels
    mesh: np.ndarray  # (n, 468, 2) in base-crop pixels, NaN where unavailable
    labels: np.ndarray  # (n,) 1 = fake
    methods: np.ndarray  # (n,) str
    identities: np.ndarray  # (n,) str
    groups: np.ndarray  # (n,) str
    sources: np.ndarray  # (n,) str: source file name, for reports

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> FaceSet:
        return FaceSet(**{k: v[index] for k, v in self.__dict__.items()})

    def save(self, path: Path, *, jpeg_quality: int | None = None) -> Path:
        """Pack the set into one ``.npz`` (atomically), e.g. to train on another machine that
        has neither the sources nor mediapipe. ``jpeg_quality`` stores the crops as JPEG
        (about 10x smaller at 95) instead of raw pixels; the mesh is stored as float16
        (under 0.25 px of error in a base crop). No pickles: strings are unicode arrays."""
        arrays: dict[str, np.ndarray] = {
            "boxes": self.boxes.astype(np.float32),
            "landmarks": self.landmarks.astype(np.float32),
            "mesh": self.mesh.astype(np.float16),
            "labels": self.labels.astype(np.int64),
            **{k: getattr(self, k).astype(str) for k in _TEXT_FIELDS},
        }
        if jpeg_quality is None:
            arrays["crops"] = self.crops
        else:
            blobs = [_encode_jpeg(c, jpeg_quality) for c in self.crops]
            arrays["jpeg"] = np.frombuffer(b"".join(blobs), np.uint8)
            arrays["jpeg_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
            arrays["crop_shape"] = np.array(self.crops.shape[1:], np.int64)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(Path(path), buf.getvalue())
        return Path(path)

    @classmethod
    def read(cls, path: Path) -> FaceSet:
        """A set written by :meth:`save`, or a folder of such sets (shards, concatenated in
        name order)."""
        path = Path(path)
        if path.is_dir():
            shards = sorted(path.glob("*.npz"))
            if not shards:
                raise DatasetError(f"{path}: a folder with no packed face sets (*.npz) in it")
            return cls.concat([cls.read(p) for p in shards])
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DatasetError(
                f"{path}: no such face set; pack one with python -m unmask.train.pack"
            ) from None
        except (OSError, ValueError) as err:
            raise DatasetError(f"{path}: not a packed face set ({err})") from None
        with z:
            if "jpeg" in z.files:
                data, offsets = z["jpeg"], z["jpeg_offsets"]
                blobs = [data[a:b] for a, b in itertools.pairwise(offsets)]
                crops = (
                    np.stack([_decode_jpeg(b) for b in blobs])
                    if blobs
                    else np.zeros((0, *z["crop_shape"]), np.uint8)
                )
            else:
                crops = z["crops"]
            return cls(
                crops=crops,
                boxes=z["boxes"],
                landmarks=z["landmarks"],
                mesh=z["mesh"].astype(np.float32),
                labels=z["labels"],
                **{k: z[k].astype(object) for k in _TEXT_FIELDS},
            )

    @classmethod
    def concat(cls, parts: Sequence[FaceSet]) -> FaceSet:
        parts = [p for p in parts if len(p)]
        if not parts:
            raise DatasetError("no faces found in any source")
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0].__dict__})


_TEXT_FIELDS = ("methods", "identities", "groups", "sources")


def _encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise UnmaskError("JPEG encoding of a face crop failed")
    return buf.tobytes()


def _decode_jpeg(data: np.ndarray) -> np.ndarray:
    import cv2

    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError("a packed face crop is not a valid JPEG")
    return np.ascontiguousarray(bgr[..., ::-1])


def identity_from_name(name: str) -> str:
    """Best-effort person id from a file name: MEAD-style speaker codes (M030, W009), FF++
    ids (``123`` or ``123_456`` -> target 123; ``01__scene`` -> actor 01), else the stem."""
    stem = Path(name).stem
    m = re.search(r"(?<![A-Za-z0-9])([MW]\d{3})(?=_|$)", stem)
    if m:
        return m.group(1)
    m = re.match(r"^(\d+)(?:_\d+)?$", stem) or re.match(r"^(\d+)__", stem)
    if m:
        return f"ffpp{m.group(1)}"
    return stem


def _cache_key(src: Source, frames: int) -> str:
    st = src.path.stat()
    raw = f"{CACHE_VERSION}|{src.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{frames}|{BASE_SIZE}|{BASE_MARGIN}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _base_geometry(box: np.ndarray) -> tuple[np.ndarray, float]:
    """The square region (x1, y1, side) of the frame that becomes the base crop."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1 + BASE_MARGIN)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - side / 2, cy - side / 2], np.float32), float(side)


def _to_base(points: np.ndarray, origin: np.ndarray, side: float) -> np.ndarray:
    return (points - origin) * (BASE_SIZE / side)


class FaceExtractor:
    """Cut base crops from sources with the scan face pipeline (and the mesh if available)."""

    def __init__(self, cache_dir: Path, *, frames_per_video: int = 16, mesh: bool = True) -> None:
        self.cache_dir = Path(cache_dir)
        self.frames_per_video = frames_per_video
        self.detector = RetinaFace()
        self._mesh = None
        if mesh:
            try:
                from unmask.forge.landmarks import FaceMesh

                self._mesh = FaceMesh(video=False).__enter__()
            except UnmaskError:
                self._mesh = None

    def _frames(self, src: Source) -> list[np.ndarray]:
        suffix = src.path.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            return [read_image(src.path)]
        if suffix in VIDEO_EXTENSIONS:
            return sample_frames(src.path, self.frames_per_video).images
        raise DatasetError(f"{src.path}: not a video or image")

    def extract(self, src: Source) -> FaceSet:
        frames = self._frames(src)
        dets = self.detector.detect(frames)
        tracked = track_faces(dets, max_tracks=1)  # training sources: one dominant face
        crops, boxes, lms, meshes = [], [], [], []
        for t in tracked:
            d = dets[t.frame]
            box, pts = d.boxes_xyxy[t.det], d.landmarks[t.det]
            origin, side = _base_geometry(box)
            full = np.array([origin[0], origin[1], origin[0] + side, origin[1] + side], np.float32)
            crop = crop_face(frames[t.frame], full, None, size=BASE_SIZE, margin=0.0, align=False)
            crops.append(crop)
            boxes.append(_to_base(box.reshape(2, 2), origin, side).ravel())
            lms.append(_to_base(pts, origin, side))
            mesh = self._mesh.landmarks_one(crop) if self._mesh is not None else None
            meshes.append(mesh if mesh is not None else np.full((468, 2), np.nan, np.float32))
        n = len(crops)
        return FaceSet(
            crops=np.stack(crops) if n else np.zeros((0, BASE_SIZE, BASE_SIZE, 3), np.uint8),
            boxes=np.asarray(boxes, np.float32).reshape(n, 4),
            landmarks=np.asarray(lms, np.float32).reshape(n, 5, 2),
            mesh=np.asarray(meshes, np.float32).reshape(n, 468, 2),
            labels=np.full(n, src.label, np.int64),
            methods=np.array([src.method] * n, dtype=object),
            identities=np.array([src.identity] * n, dtype=object),
            groups=np.array([src.group] * n, dtype=object),
            sources=np.array([src.path.name] * n, dtype=object),
        )

    def load(self, sources: Sequence[Source], *, desc: str = "faces") -> FaceSet:
        """Extract (or read from the cache) every source; sources without a face are skipped."""
        parts = []
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for src in progress(sources, total=len(sources), desc=desc, unit="src"):
            path = self.cache_dir / f"{_cache_key(src, self.frames_per_video)}.npz"
            if path.exists():
                with np.load(path, allow_pickle=True) as z:
                    part = FaceSet(**{k: z[k] for k in z.files})
            else:
                part = self.extract(src)
                buf = io.BytesIO()
                np.savez(buf, **part.__dict__)
                atomic_write_bytes(path, buf.getvalue())
            parts.append(part)
        return FaceSet.concat(parts)


def final_crop(
    base: np.ndarray,
    box: np.ndarray,
    landmarks: np.ndarray,
    *,
    size: int,
    margin: float,
    align: bool,
) -> np.ndarray:
    """The detector's input crop from a base crop, with scan-time geometry."""
    return crop_face(base, box, landmarks, size=size, margin=margin, align=align)
