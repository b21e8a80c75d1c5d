"""The scan pipeline: media -> faces -> detector -> aggregate -> calibrate -> ScanResult.

    >>> import unmask
    >>> result = unmask.scan("clip.mp4")   # doctest: +SKIP
    >>> result.status, result.label         # doctest: +SKIP
    ('ok', 'FAKE')

How the verdict is made (docs/scan.md has the long form): ``frames`` frames are sampled
evenly in time; faces are detected, linked into tracks and cropped as the detector's config
says; each crop gets a logit; each track's logits are combined by the detector's
aggregation rule; the video logit is the maximum over tracks (one fake face makes a fake
video); calibration turns it into P(fake); ``label`` is FAKE when P(fake) >= the detector's
threshold. No face is a result (status ``no_face``, P(fake) = 0.5), not an error.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from unmask import __version__
from unmask._cpus import usable_cpus
from unmask.aggregate import aggregate_track, evenly_spaced, logit, video_logit
from unmask.detectors import Detector, create_detector
from unmask.errors import UnmaskError
from unmask.faces import (
    Faces,
    FaceStream,
    FrameDetections,
    RetinaFace,
    TrackedDetection,
    crop_faces,
    faces_from_crops,
    track_faces,
)
from unmask.media import (
    DEFAULT_LIMITS,
    DecodedFrame,
    FrameSampler,
    MediaLimits,
    media_kind,
    read_image,
)

Status = Literal["ok", "no_face", "error"]
NO_VERDICT_P = 0.5  # P(fake) reported when there is no face or the file failed
_SCORE_EVERY = 8  # while decoding, faces are scored after every 8 sampled frames


@dataclass(frozen=True)
class FaceScore:
    """One face crop's evidence: where and when, and its calibrated P(fake)."""

    frame: int  # position among the sampled frames
    video_frame: int  # index of the frame in the video's decoding order
    time_s: float
    box: list[float]  # x1, y1, x2, y2 in frame pixels
    det_score: float
    p_fake: float


@dataclass(frozen=True)
class TrackResult:
    """One face track: its calibrated P(fake) and the faces it is made of."""

    track_id: int
    p_fake: float
    n_faces: int
    faces: list[FaceScore]


@dataclass
class ScanResult:
    """The verdict for one file; JSON-serialisable through ``to_dict()``."""

    path: str
    kind: str
    status: Status
    p_fake: float
    label: str | None
    threshold: float
    detector: str
    weights_sha256: str
    error: str | None = None
    frames_sampled: int = 0
    media: dict[str, Any] = field(default_factory=dict)
    tracks: list[TrackResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    version: str = __version__
    # Face thumbnails per track for reports; never serialised.
    evidence: dict[int, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(dataclasses.replace(self, evidence=None))
        d.pop("evidence")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScanResult:
        tracks = [
            TrackResult(**{**t, "faces": [FaceScore(**f) for f in t.get("faces", [])]})
            for t in d.get("tracks", [])
        ]
        return cls(**{**d, "tracks": tracks})


def default_threads() -> int:
    """Half the CPU cores this process may use, at least one: the models' share."""
    return max(1, usable_cpus() // 2)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


class Scanner:
    """Scan many files with the models loaded once.

    >>> scanner = Scanner(detector="spectrum", frames=16)  # doctest: +SKIP
    >>> [scanner.scan(p).p_fake for p in ["a.mp4", "b.jpg"]]  # doctest: +SKIP
    [0.83, 0.12]

    ``fast_decode`` skips non-reference frames while decoding (the nearest reference frame
    is sampled instead); ``keep_evidence`` keeps a few face thumbnails per track for
    reports. ``threads`` is the onnxruntime threads of the models the scanner builds itself
    (a face detector or detector passed in keeps its own); the default, half the CPU cores,
    leaves the other half to FFmpeg, which decodes while the models run (measured on 2
    cores: one thread each used a third less CPU time than two, and finished sooner).
    Once decoding has ended, the faces still to score go to a copy of a detector it built
    running on all the cores (``Detector.with_threads``: the same scores; measured on 2
    cores, the wait after the last frame fell from 0.13 s to 0.08 s).
    In videos, faces are looked for in the whole frame every ``full_detect_every``-th
    sampled frame and near the faces just found in between (``unmask.faces.FaceStream``;
    1 searches every whole frame).
    """

    def __init__(
        self,
        detector: str | Detector = "default",
        *,
        frames: int = 32,
        face_detector: RetinaFace | None = None,
        limits: MediaLimits = DEFAULT_LIMITS,
        fast_decode: bool = True,
        keep_evidence: bool = False,
        threads: int | None = None,
        full_detect_every: int = 4,
    ) -> None:
        if frames < 1:
            raise UnmaskError(f"frames must be at least 1; got {frames}")
        if threads is None:
            threads = default_threads()
        self.detector = (
            create_detector(detector, threads=threads) if isinstance(detector, str) else detector
        )
        self.frames = frames
        self.face_detector = face_detector or RetinaFace(threads=threads)
        # scoring uses all the cores when nothing else needs them: on the detector widened
        # to them (one call, the same scores), or, for one that cannot widen or was passed
        # in (its threads are its own), in calls side by side
        self._tail_parallel = max(1, usable_cpus() // threads) if threads else 1
        self._wide: Detector | None = None
        if isinstance(detector, str) and self._tail_parallel > 1:
            self._wide = self.detector.with_threads(threads * self._tail_parallel)
        self.limits = limits
        self.fast_decode = fast_decode
        self.full_detect_every = full_detect_every
        self.keep_evidence = keep_evidence

    def _result(self, path: Path, kind: str, **kw: Any) -> ScanResult:
        cfg = self.detector.cfg
        return ScanResult(
            path=str(path),
            kind=kind,
            threshold=cfg.threshold,
            detector=cfg.name,
            weights_sha256=cfg.sha256,
            **kw,
        )

    def scan(self, path: str | Path) -> ScanResult:
        """Scan one video or image. Unreadable files give ``status="error"``, not an exception."""
        path = Path(path)
        kind = media_kind(path)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        try:
            result = self._scan(path, kind, timings)
        except UnmaskError as err:
            result = self._result(
                path, kind, status="error", p_fake=NO_VERDICT_P, label=None, error=str(err)
            )
        timings["total"] = time.perf_counter() - start
        result.timings = {k: round(v, 4) for k, v in timings.items()}
        return result

    def _scan(self, path: Path, kind: str, timings: dict[str, float]) -> ScanResult:
        cfg = self.detector.cfg
        warnings: list[str] = []
        scored: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
        if kind == "image":
            with _timed(timings, "decode"):
                rgb = read_image(path, limits=self.limits)
            images, video_index, times = [rgb], np.zeros(1, np.int64), np.zeros(1)
            media: dict[str, Any] = {"width": rgb.shape[1], "height": rgb.shape[0]}
            with _timed(timings, "detect"):
                detections = self.face_detector.detect(images)
        else:
            images, video_index, times, detections, media = self._stream(
                path, timings, warnings, scored
            )
        with _timed(timings, "track"):
            tracked = _thin_tracks(track_faces(detections), cfg.max_faces_per_track)
        common = {"frames_sampled": len(images), "media": media, "warnings": warnings}
        if not tracked:
            return self._result(
                path, kind, status="no_face", p_fake=NO_VERDICT_P, label=None, **common
            )
        missing = [t for t in tracked if (t.frame, t.det) not in scored]
        self._score_faces(
            images, detections, missing, scored, timings, parallel=self._tail_parallel
        )
        faces = faces_from_crops(
            [scored[t.frame, t.det][0] for t in tracked], detections, tracked, size=cfg.input_size
        )
        if self.detector.scores_each_crop:
            face_p = np.asarray([scored[t.frame, t.det][1] for t in tracked], np.float64)
        else:  # the detector may look at tracks: score the assembled faces in one call
            with _timed(timings, "classify"):
                face_p = self._checked_scores(faces)
        with _timed(timings, "aggregate"):
            tracks, v_logit = self._aggregate(faces, face_p, video_index, times)
            p_fake = float(cfg.calibration.apply(v_logit))
        result = self._result(
            path,
            kind,
            status="ok",
            p_fake=p_fake,
            label="FAKE" if p_fake >= cfg.threshold else "REAL",
            tracks=tracks,
            **common,
        )
        if self.keep_evidence:
            result.evidence = _thumbnails(faces)
        return result

    def _checked_scores(self, faces: Faces, detector: Detector | None = None) -> np.ndarray:
        face_p = np.asarray((detector or self.detector).score(faces), dtype=np.float64)
        if face_p.shape != (len(faces),) or not np.all(np.isfinite(face_p)):
            raise UnmaskError(
                f"detector {self.detector.name!r} returned scores of shape {face_p.shape} "
                f"for {len(faces)} faces"
            )
        return face_p

    def _score_faces(
        self,
        images: list[np.ndarray],
        detections: list[FrameDetections],
        todo: list[TrackedDetection],
        scored: dict[tuple[int, int], tuple[np.ndarray, float]],
        timings: dict[str, float],
        *,
        parallel: int = 1,
    ) -> None:
        """Crop the faces ``todo`` into ``scored`` (keyed by frame and detection), with
        their P(fake) when the detector scores each crop on its own (NaN otherwise). With
        ``parallel`` > 1 the cores are free: one call on the widened detector where there
        is one, else ``parallel`` calls on as many threads (such a detector's scores do not
        depend on which crops share a call, nor on its thread count)."""
        if not todo:
            return
        cfg = self.detector.cfg
        with _timed(timings, "crop"):
            faces = crop_faces(
                images, detections, todo, size=cfg.input_size, margin=cfg.margin, align=cfg.align
            )
        p = np.full(len(todo), np.nan)
        if self.detector.scores_each_crop:
            wide = self._wide if parallel > 1 else None
            parts = np.array_split(np.arange(len(todo)), 1 if wide else min(parallel, len(todo)))
            with _timed(timings, "classify"):
                if len(parts) == 1:
                    p = self._checked_scores(faces, wide)
                else:
                    with ThreadPoolExecutor(len(parts)) as pool:
                        p = np.concatenate(
                            list(pool.map(lambda idx: self._checked_scores(faces[idx]), parts))
                        )
        for t, crop, value in zip(todo, faces.crops, p, strict=True):
            scored[t.frame, t.det] = (crop, float(value))

    def _stream(
        self,
        path: Path,
        timings: dict[str, float],
        warnings: list[str],
        scored: dict[tuple[int, int], tuple[np.ndarray, float]],
    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[FrameDetections], dict[str, Any]]:
        """Decode the sampled frames on this thread while a second thread detects faces in
        the frames decoded so far and crops and scores the faces that will be needed, so
        that the models run while FFmpeg decodes. Faces are found frame by frame with a
        ``FaceStream`` (mostly in windows around the faces just found) and scored after
        every ``_SCORE_EVERY`` frames, in groups that do not depend on timing.

        Detections are kept in frame order. Which faces are scored early: every face for
        detectors without ``max_faces_per_track``; otherwise the faces in the frames that
        thinning keeps for a track spanning the whole video (the common case), and
        ``_scan`` scores whatever else thinning picks afterwards. ``timings``: ``decode`` is
        the decoding loop; ``detect``, ``crop`` and ``classify`` are the worker's own time
        (they overlap decoding); ``after_decode`` is the wait for the worker to finish.
        """
        sampler = FrameSampler(path, self.frames, skip_nonref=self.fast_decode, limits=self.limits)
        fd = self.face_detector
        limit = self.detector.cfg.max_faces_per_track
        early = (
            None
            if not limit
            else set(np.linspace(0, self.frames - 1, min(limit, self.frames)).round().astype(int))
        )
        images: list[np.ndarray] = []
        indices: list[int] = []
        times: list[float] = []
        detections: list[FrameDetections] = []
        worker_timings: dict[str, float] = {}
        inbox: queue.SimpleQueue[DecodedFrame | None] = queue.SimpleQueue()
        failure: list[BaseException] = []
        decoded = threading.Event()

        def work() -> None:
            stream = FaceStream(fd, full_every=self.full_detect_every)
            pending: list[TrackedDetection] = []
            try:
                while (frame := inbox.get()) is not None:
                    position = len(detections)
                    with _timed(worker_timings, "detect"):
                        (found,) = stream.push([frame], [images[position]])
                    detections.append(found)
                    if early is None or position in early:  # track ids come later
                        pending += [TrackedDetection(position, d, -1) for d in range(len(found))]
                    # faces are scored in groups fixed by frame position, never by timing,
                    # so that the same video always gives the same numbers
                    if (position + 1) % _SCORE_EVERY == 0:
                        # once decoding has ended the cores FFmpeg used are free
                        parallel = self._tail_parallel if decoded.is_set() else 1
                        self._score_faces(
                            images, detections, pending, scored, worker_timings, parallel=parallel
                        )
                        pending = []
                self._score_faces(
                    images,
                    detections,
                    pending,
                    scored,
                    worker_timings,
                    parallel=self._tail_parallel,
                )
            except BaseException as err:  # re-raised on the decoding thread
                failure.append(err)

        worker = threading.Thread(target=work, name="unmask-scan-worker", daemon=True)
        worker.start()
        try:
            with _timed(timings, "decode"):
                for frame in sampler.decoded():
                    images.append(frame.rgb())
                    indices.append(frame.index)
                    times.append(frame.time_s)
                    if failure:
                        break
                    inbox.put(frame)
        finally:
            decoded.set()
            inbox.put(None)
            with _timed(timings, "after_decode"):
                worker.join()
        if failure:
            raise failure[0]
        for stage, seconds in worker_timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        if not any(len(d) for d in detections):
            with _timed(timings, "detect"):
                detections = fd.detect_fallback(images) or detections
        assert sampler.info is not None
        warnings += sampler.warnings
        media = {k: v for k, v in sampler.info.to_dict().items() if k != "path"}
        return images, np.asarray(indices, np.int64), np.asarray(times), detections, media

    def _aggregate(
        self, faces: Faces, face_p: np.ndarray, video_index: np.ndarray, times: np.ndarray
    ) -> tuple[list[TrackResult], float]:
        cfg = self.detector.cfg
        face_logits = logit(face_p)
        face_cal = cfg.calibration.apply(face_logits)
        tracks, track_logits = [], []
        for tid in np.unique(faces.track_id):
            idx = np.flatnonzero(faces.track_id == tid)
            t_logit = aggregate_track(
                face_logits[idx], cfg.aggregation.rule, **cfg.aggregation.params
            )
            track_logits.append(t_logit)
            tracks.append(
                TrackResult(
                    track_id=int(tid),
                    p_fake=round(float(cfg.calibration.apply(t_logit)), 6),
                    n_faces=len(idx),
                    faces=[
                        FaceScore(
                            frame=int(faces.frame_index[i]),
                            video_frame=int(video_index[faces.frame_index[i]]),
                            time_s=round(float(times[faces.frame_index[i]]), 4),
                            box=[round(float(v), 1) for v in faces.boxes_xyxy[i]],
                            det_score=round(float(faces.score[i]), 4),
                            p_fake=round(float(face_cal[i]), 6),
                        )
                        for i in idx
                    ],
                )
            )
        return tracks, video_logit(np.asarray(track_logits))


def _thin_tracks(tracked: list[TrackedDetection], limit: int | None) -> list[TrackedDetection]:
    """At most ``limit`` detections per track, evenly spaced in time (slow detectors)."""
    if not limit:
        return tracked
    out = []
    for tid in sorted({t.track_id for t in tracked}):
        members = [t for t in tracked if t.track_id == tid]
        out += [members[i] for i in evenly_spaced(len(members), limit)]
    return sorted(out, key=lambda t: (t.frame, t.track_id))


def _thumbnails(faces: Faces, per_track: int = 4, size: int = 96) -> dict[int, np.ndarray]:
    import cv2

    out = {}
    for tid in np.unique(faces.track_id):
        idx = np.flatnonzero(faces.track_id == tid)
        pick = idx[np.unique(np.linspace(0, len(idx) - 1, min(per_track, len(idx))).astype(int))]
        out[int(tid)] = np.stack(
            [cv2.resize(faces.crops[i], (size, size), interpolation=cv2.INTER_AREA) for i in pick]
        )
    return out


@cache
def _default_scanner(detector: str, frames: int) -> Scanner:
    return Scanner(detector, frames=frames)


def scan(path: str | Path, *, detector: str = "default", frames: int = 32) -> ScanResult:
    """Scan one video or image and return its calibrated verdict.

    Models are loaded on the first call and reused by later calls with the same arguments.

    >>> result = scan("clip.mp4", frames=16)  # doctest: +SKIP
    >>> result.to_dict()["p_fake"]             # doctest: +SKIP
    0.91
    """
    return _default_scanner(detector, frames).scan(path)
