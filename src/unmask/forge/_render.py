"""Rendering one planned video: the part of a build that runs on its workers.

A build is a :class:`~unmask.scale.Job` with one task per planned video. Each worker (this
process, one of N local processes or a Dask worker) builds a :class:`Renderer` once (the
spec's methods, the accepted footage and the workspace), then renders videos one task at a
time: footage frames, the method's fake, the perturbations, the encoder. It writes the video,
and for the first fake of a method its contact sheet, into ``DIR/.forge/staging`` under a
name of its own and returns the manifest row. The build's parent process alone checks
consent, moves the files into place, journals them and writes the ledger: workers never
open the consent ledger.

    >>> job = render_job(spec, Path("ws"), footage, plan_digest="0f3a...")  # doctest: +SKIP
    >>> record = job.run(job.setup(0), RenderTask(item, "/data/bench1", sheet=False))  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from unmask import __version__
from unmask.errors import UnmaskError
from unmask.forge._index import DatasetPaths
from unmask.forge._plan import PlanItem, stable_int
from unmask.forge._workspace import Workspace, mark_cache
from unmask.forge.ingest import load_landmarks
from unmask.forge.ledger import FootageRecord, sha256_file
from unmask.forge.perturbations import VideoFrames, apply_perturbations
from unmask.forge.spec import BuildSpec
from unmask.scale import Job
from unmask.scale._jobs import Record, check_version

CONTACT_SHEET_DIR = "contact_sheets"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# Byte-identical output for the same seed: x264's output depends on its thread count, and
# with macroblock-tree rate control, on RGB input converted inside the encoder, it was measured
# to differ between runs on small frames (192 px). A fixed thread count and mbtree=0 made 5 of
# 5 encodes identical at 192 px and 720p.
ENCODER_OPTIONS = {"threads": "2", "x264-params": "mbtree=0"}


def get_method(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """The forge method registered as ``name`` (imported lazily: it may need torch)."""
    from unmask.forge.methods import create_method

    return create_method(name, **dict(params or {}))


def trains_per_pair(method: Any) -> bool:
    return bool(getattr(method.spec, "trains_per_pair", False))


def pair_key(item: PlanItem) -> str:
    """Names the work a method that trains per pair shares between the fakes of one pair."""
    return f"{item.method}-{stable_int(item.method, item.target_actor, item.source_actor):x}"


@dataclass(frozen=True)
class RenderTask:
    """One planned video for a worker: ``out`` is the dataset folder (absolute: a cluster
    worker has a working directory of its own); ``sheet`` asks for the method's contact
    sheet too."""

    item: PlanItem
    out: str
    sheet: bool = False


@dataclass
class _Clip:
    frames: list[np.ndarray]
    landmarks: np.ndarray
    fps: float


class Renderer:
    """A worker's state: the methods, the accepted footage and a few decoded clips."""

    def __init__(
        self,
        spec: BuildSpec,
        workspace: Workspace,
        footage: Iterable[FootageRecord],
        methods: Mapping[str, Any],
    ) -> None:
        self.spec = spec
        self.workspace = workspace
        self.footage = {f.footage_id: f for f in footage}
        self.methods = dict(methods)
        self.clips: OrderedDict[str, _Clip] = OrderedDict()

    # -- inputs ------------------------------------------------------------------------------

    def clip(self, footage_id: str) -> _Clip:
        """The first ``spec.frames`` frames of a footage file, at most ``max_side`` px.

        Never more frames than ingestion found landmarks for (``--max-frames``): a method
        must not meet frames it has no landmarks for.
        """
        if footage_id in self.clips:
            self.clips.move_to_end(footage_id)
            return self.clips[footage_id]
        from unmask.media import iter_frames, read_image

        record = self.footage[footage_id]
        path = self.workspace.root / str(record.path)
        landmarks = load_landmarks(self.workspace, footage_id)[: self.spec.frames]
        if record.kind == "image":
            frames = [read_image(path)]
        else:
            frames = [rgb for _i, rgb in iter_frames(path, max_frames=len(landmarks))]
        if len(frames) != len(landmarks):
            raise UnmaskError(
                f"footage {footage_id} gave {len(frames)} frames but has landmarks for "
                f"{len(landmarks)}; the workspace copy may be damaged: re-import it"
            )
        frames, landmarks = _fit(frames, landmarks, self.spec.max_side)
        clip = _Clip(frames, landmarks, record.fps if record.fps > 0 else 25.0)
        self.clips[footage_id] = clip
        while len(self.clips) > 4:
            self.clips.popitem(last=False)
        return clip

    def _method_clip(self, footage: FootageRecord, clip: _Clip) -> Any:
        from unmask.forge.methods import Clip

        return Clip(
            frames=list(clip.frames),
            landmarks=clip.landmarks.copy(),
            fps=clip.fps,
            actor_id=footage.actor_id,
            video_id=footage.footage_id,
        )

    # -- one video ---------------------------------------------------------------------------

    def frames_for(
        self, item: PlanItem, paths: DatasetPaths
    ) -> tuple[list[np.ndarray], float, dict[str, Any], _Clip]:
        target = self.clip(item.target_footage)
        if item.label == "REAL":
            return target.frames, target.fps, {}, target
        method = self.methods[item.method]
        source = None
        if item.source_footage:
            source = self._method_clip(
                self.footage[item.source_footage], self.clip(item.source_footage)
            )
        workdir = self.workdir(item, method, paths)
        try:
            result = method.generate(
                self._method_clip(self.footage[item.target_footage], target),
                source,
                rng=np.random.default_rng(item.seed),
                workdir=workdir,
            )
        finally:
            if workdir.is_relative_to(paths.work):
                shutil.rmtree(workdir, ignore_errors=True)
        frames = list(result.frames)
        shapes = {f.shape for f in frames}
        if len(frames) != len(target.frames) or shapes != {target.frames[0].shape}:
            raise UnmaskError(
                f"forge method {item.method!r} returned {len(frames)} frames of {sorted(shapes)}; "
                f"expected {len(target.frames)} frames of {target.frames[0].shape}"
            )
        return frames, target.fps, dict(result.params), target

    def workdir(self, item: PlanItem, method: Any, paths: DatasetPaths) -> Path:
        if trains_per_pair(method):
            return mark_cache(self.workspace.pair_cache(pair_key(item)), item.actors)
        folder = paths.work / item.video_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def render(self, task: RenderTask) -> Record:
        """Render one video into the staging folder; returns its manifest row and staged files.

        A full disk is a result (``{"disk_full": reason}``), not an error to retry: the
        parent stops the build.
        """
        try:
            return self._render(task)
        except OSError as err:
            if err.errno in DISK_FULL:
                return {"disk_full": err.strerror or os.strerror(err.errno)}
            raise

    def _render(self, task: RenderTask) -> Record:
        from unmask.media import VideoWriter

        item, paths = task.item, DatasetPaths(Path(task.out))
        frames, fps, method_params, target = self.frames_for(item, paths)
        video = apply_perturbations(VideoFrames(frames, fps, self.spec.crf), item.perturbations)
        # a name of its own: a task that Dask runs twice at once must not share a file
        stem = f"{item.video_id}-{uuid.uuid4().hex[:12]}"
        staged = paths.staging / f"{stem}.mp4"
        with VideoWriter(staged, fps=video.fps, crf=video.crf, options=ENCODER_OPTIONS) as writer:
            for frame in video.frames:
                writer.write(frame)
        _fsync(staged)
        sheet = None
        if task.sheet:
            from unmask.forge.methods import write_contact_sheet

            staged_sheet = write_contact_sheet(
                target.frames, frames, paths.staging / f"{stem}.png", n=4
            )
            sheet = {"staged": staged_sheet.name, "sha256": sha256_file(staged_sheet)}
        h, w = video.frames[0].shape[:2]
        row = {
            "kind": "video",
            "file": item.file,
            "label": item.label,
            "video_id": item.video_id,
            "split": item.split,
            "method": item.method,
            "source_actor": item.source_actor,
            "target_actor": item.target_actor,
            "actors": item.actors,
            "original": item.original,
            "perturbations": list(item.perturbations),
            "sha256": sha256_file(staged),
            "seed": item.seed,
            "target_footage": item.target_footage,
            "source_footage": item.source_footage,
            "method_params": method_params,
            "frames": len(video.frames),
            "fps": round(float(video.fps), 3),
            "width": w,
            "height": h,
        }
        return {"row": row, "staged": staged.name, "sheet": sheet}


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fit(
    frames: list[np.ndarray], landmarks: np.ndarray, max_side: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Shrink frames whose longer side exceeds ``max_side`` (even sizes), landmarks alike."""
    h, w = frames[0].shape[:2]
    if max(h, w) <= max_side:
        return frames, landmarks
    scale = max_side / max(h, w)
    size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
    small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    factor = np.array([size[0] / w, size[1] / h], np.float32)
    return small, landmarks * factor


# -- the job -----------------------------------------------------------------------------------


def _setup(
    threads: int,
    *,
    spec: BuildSpec,
    workspace: str,
    footage: tuple[FootageRecord, ...],
    version: str,
) -> Renderer:
    check_version(version)
    if threads > 0:
        cv2.setNumThreads(threads)
    methods = {m: get_method(m, plan.params) for m, plan in spec.methods.items()}
    return Renderer(spec, Workspace(Path(workspace)), footage, methods)


def _render(renderer: Renderer, task: RenderTask) -> Record:
    return renderer.render(task)


def _failed(task: RenderTask, message: str) -> Record:
    return {"error": message}


def _check_shared(task: RenderTask, *, workspace: str) -> str | None:
    """A cluster worker must write the dataset folder and read the workspace, at the same paths."""
    host = socket.gethostname()
    staging = DatasetPaths(Path(task.out)).staging
    if not os.access(staging, os.W_OK):
        return f"{staging} is not writable on worker {host}"
    footage = Workspace(Path(workspace)).footage_dir(task.item.target_actor)
    if not os.access(footage, os.R_OK | os.X_OK):
        return f"the forge workspace's {footage} is not readable on worker {host}"
    return None


def job_name(plan_digest: str) -> str:
    return f"forge build plan={plan_digest} unmask={__version__}"


def render_job(
    spec: BuildSpec, workspace: Path, footage: Iterable[FootageRecord], *, plan_digest: str
) -> Job[Renderer, RenderTask]:
    """The picklable job that renders one planned video per task.

    ``plan_digest`` (the fingerprint of the spec and its plan) names the job, with the unmask
    version: a worker keeps one Renderer per name. ``workspace`` should be absolute.
    """
    root = str(workspace)
    return Job(
        job_name(plan_digest),
        setup=partial(
            _setup, spec=spec, workspace=root, footage=tuple(footage), version=__version__
        ),
        run=_render,
        failure=_failed,
        check=partial(_check_shared, workspace=root),
    )
