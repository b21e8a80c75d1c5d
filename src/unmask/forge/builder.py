"""``unmask forge build``: consented footage in, a DFDC-format benchmark out.

The build plans every video first (deterministic from the spec's seed), then makes the ones
the journal does not list yet. Each video is encoded into ``DIR/.forge/staging``, moved into
place, journaled, and only then listed in the index files. A killed or failed build is
resumed by running the same command again; the finished dataset is the same either way.

>>> report = build_dataset(load_spec("spec.yaml"), Path("out"), workspace=Path("ws"))  # doctest: +SKIP
>>> report.made, report.contact_sheets  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from unmask._io import atomic_write_json
from unmask._progress import progress
from unmask.errors import ConfigError, DatasetError, UnmaskError
from unmask.forge._index import (
    DatasetPaths,
    append_journal,
    complete,
    count_videos,
    dataset_lock,
    read_journal,
    write_indexes,
    write_summary,
)
from unmask.forge._plan import ActorPool, Plan, PlanItem, fingerprint, make_plan, stable_int
from unmask.forge._workspace import Workspace, mark_cache
from unmask.forge.ingest import load_landmarks
from unmask.forge.ledger import ROLES, FootageRecord, Ledger, sha256_file
from unmask.forge.perturbations import VideoFrames, apply_perturbations
from unmask.forge.spec import BuildSpec

CONTACT_SHEET_DIR = "contact_sheets"
INDEX_EVERY_S = 5.0  # rewrite the index files at most this often while building
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# Byte-identical output for the same seed: x264's output depends on its thread count, and
# with macroblock-tree rate control, on RGB input converted inside the encoder, it was measured
# to differ between runs on small frames (192 px). A fixed thread count and mbtree=0 made 5 of
# 5 encodes identical at 192 px and 720p.
ENCODER_OPTIONS = {"threads": "2", "x264-params": "mbtree=0"}


def _get_method(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """The forge method registered as ``name`` (imported lazily: it may need torch)."""
    from unmask.forge.methods import create_method

    return create_method(name, **dict(params or {}))


@dataclass(frozen=True)
class BuildReport:
    """What a build run did. ``made`` counts videos made in this run, ``skipped`` those
    found complete from an earlier run."""

    out: Path
    planned: int
    made: int
    skipped: int
    elapsed_s: float
    counts: Mapping[str, Mapping[str, int]]  # split -> method -> videos
    contact_sheets: Mapping[str, str]  # method -> path relative to out
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "planned": self.planned,
            "made": self.made,
            "skipped": self.skipped,
            "elapsed_s": round(self.elapsed_s, 3),
            "counts": {k: dict(v) for k, v in self.counts.items()},
            "contact_sheets": dict(self.contact_sheets),
            "notes": list(self.notes),
        }


def resolve_actors(
    ledger: Ledger, spec: BuildSpec, *, now: datetime | None = None
) -> tuple[dict[str, ActorPool], list[str]]:
    """The actors a build may use, with their valid roles and accepted footage.

    An actor the spec names explicitly must have valid consent for the spec's uses and
    accepted footage (else an error says why); with ``actors: all`` the others are left
    out and noted.
    """
    explicit = spec.actors is not None
    ids = list(spec.actors) if spec.actors is not None else ledger.actor_ids()
    pools: dict[str, ActorPool] = {}
    notes: list[str] = []
    for actor in ids:
        ledger.require_actor(actor)
        state = ledger.consent(actor, now=now)
        roles = frozenset(r for r in ROLES if state.allows(r, spec.uses))
        if not roles:
            if explicit:
                ledger.check_consent(actor, role="target", uses=spec.uses, now=now)  # raises
            notes.append(f"{actor} left out: no valid consent for {', '.join(spec.uses)}")
            continue
        accepted = ledger.footage(actor, status="accepted")
        videos = tuple(f.footage_id for f in accepted if f.kind == "video")
        if not accepted or ("source" not in roles and not videos):
            missing = "accepted footage" if not accepted else "accepted video (photos only)"
            if explicit:
                raise ConfigError(
                    f"actor {actor} has no {missing}; import some with "
                    f"`unmask forge ingest {actor} FILE`"
                )
            notes.append(f"{actor} left out: no {missing}")
            continue
        pools[actor] = ActorPool(actor, roles, videos, tuple(f.footage_id for f in accepted))
    if not pools:
        raise ConfigError(
            "no actor has valid consent and accepted footage for this build"
            + (f" ({'; '.join(notes)})" if notes else "")
        )
    return pools, notes


@dataclass
class _Clip:
    frames: list[np.ndarray]
    landmarks: np.ndarray
    fps: float


class _Builder:
    def __init__(
        self,
        spec: BuildSpec,
        out: Path,
        workspace: Workspace,
        ledger: Ledger,
        plan: Plan,
        methods: Mapping[str, Any],
        now: datetime | None,
    ) -> None:
        self.spec = spec
        self.now = now
        self.paths = DatasetPaths(out)
        self.workspace = workspace
        self.ledger = ledger
        self.plan = plan
        self.footage = {f.footage_id: f for f in ledger.footage(status="accepted")}
        self.methods = dict(methods)
        self.clips: OrderedDict[str, _Clip] = OrderedDict()
        self.dataset_id = ledger.register_dataset(out)

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

    def check_consent(self, item: PlanItem) -> None:
        uses, now = self.spec.uses, self.now
        self.ledger.check_consent(item.target_actor, role="target", uses=uses, now=now)
        if item.source_actor:
            self.ledger.check_consent(item.source_actor, role="source", uses=uses, now=now)

    def frames_for(self, item: PlanItem) -> tuple[list[np.ndarray], float, dict[str, Any], _Clip]:
        target = self.clip(item.target_footage)
        if item.label == "REAL":
            return target.frames, target.fps, {}, target
        method = self.methods[item.method]
        source = None
        if item.source_footage:
            source = self._method_clip(
                self.footage[item.source_footage], self.clip(item.source_footage)
            )
        workdir = self.workdir(item, method)
        try:
            result = method.generate(
                self._method_clip(self.footage[item.target_footage], target),
                source,
                rng=np.random.default_rng(item.seed),
                workdir=workdir,
            )
        finally:
            if workdir.is_relative_to(self.paths.work):
                shutil.rmtree(workdir, ignore_errors=True)
        frames = list(result.frames)
        shapes = {f.shape for f in frames}
        if len(frames) != len(target.frames) or shapes != {target.frames[0].shape}:
            raise UnmaskError(
                f"forge method {item.method!r} returned {len(frames)} frames of {sorted(shapes)}; "
                f"expected {len(target.frames)} frames of {target.frames[0].shape}"
            )
        return frames, target.fps, dict(result.params), target

    def workdir(self, item: PlanItem, method: Any) -> Path:
        if getattr(method.spec, "trains_per_pair", False):
            key = f"{item.method}-{stable_int(item.method, item.target_actor, item.source_actor):x}"
            return mark_cache(self.workspace.pair_cache(key), item.actors)
        folder = self.paths.work / item.video_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def make(self, item: PlanItem, sheets: dict[str, str]) -> dict[str, Any]:
        """Make one video; returns its journal entry (after the file is in place)."""
        from unmask.media import VideoWriter

        self.check_consent(item)
        frames, fps, method_params, target = self.frames_for(item)
        video = apply_perturbations(VideoFrames(frames, fps, self.spec.crf), item.perturbations)
        staged = self.paths.staging / item.name
        with VideoWriter(staged, fps=video.fps, crf=video.crf, options=ENCODER_OPTIONS) as writer:
            for frame in video.frames:
                writer.write(frame)
        digest = sha256_file(staged)
        final = self.paths.root / item.file
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        h, w = video.frames[0].shape[:2]
        entry = {
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
            "sha256": digest,
            "seed": item.seed,
            "target_footage": item.target_footage,
            "source_footage": item.source_footage,
            "method_params": method_params,
            "frames": len(video.frames),
            "fps": round(float(video.fps), 3),
            "width": w,
            "height": h,
        }
        append_journal(self.paths.journal, entry)
        self.ledger.record_derived(self.dataset_id, item.file, digest, item.actors)
        if item.label == "FAKE" and item.method not in sheets:
            sheets[item.method] = self.contact_sheet(item, target.frames, frames)
        return entry

    def contact_sheet(
        self, item: PlanItem, original: list[np.ndarray], fake: list[np.ndarray]
    ) -> str:
        from unmask.forge.methods import write_contact_sheet

        rel = f"{CONTACT_SHEET_DIR}/{item.method}.png"
        write_contact_sheet(original, fake, self.paths.root / rel, n=4)
        digest = sha256_file(self.paths.root / rel)
        append_journal(
            self.paths.journal,
            {
                "kind": "sheet",
                "file": rel,
                "method": item.method,
                "actors": item.actors,
                "sha256": digest,
            },
        )
        self.ledger.record_derived(self.dataset_id, rel, digest, item.actors)
        return rel


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


def _load_or_save_plan(paths: DatasetPaths, spec: BuildSpec, plan: Plan) -> None:
    stored_plan = {"spec": spec.to_dict(), "plan": plan.to_dict()}
    digest = fingerprint(stored_plan["spec"], stored_plan["plan"])
    if paths.plan.exists():
        try:
            stored = json.loads(paths.plan.read_text(encoding="utf-8"))
        except ValueError:
            stored = {}
        if stored.get("fingerprint") != digest:
            raise DatasetError(
                f"{paths.root} holds a build of a different plan (the spec, the actors or their "
                "consent changed since it started, or a purge removed actors); build into a new "
                "folder, or delete this one to start over"
            )
        return
    atomic_write_json(paths.plan, {"fingerprint": digest, **stored_plan})


def build_dataset(
    spec: BuildSpec,
    out: Path,
    *,
    workspace: Path | Workspace,
    show_progress: bool | None = None,
    now: datetime | None = None,
) -> BuildReport:
    """Build (or resume building) the dataset ``spec`` describes into ``out``.

    Raises :class:`ConsentError` for a named actor without valid consent,
    :class:`UnknownNameError` for an unknown method, and :class:`DatasetError` when the
    disk fills up (free space and run again: the build resumes).
    """
    started = time.monotonic()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(Path(workspace))
    out = Path(out)
    paths = DatasetPaths(out)
    with Ledger.open(ws) as ledger:
        pending = ledger.pending_purges()
        if pending:
            raise DatasetError(
                f"a purge of actor {pending[0][1]} is unfinished; run `unmask forge purge` first"
            )
        pools, notes = resolve_actors(ledger, spec, now=now)
        methods = {m: _get_method(m, mp.params) for m, mp in spec.methods.items()}
        plan = make_plan(spec, pools, {m: bool(f.spec.needs_source) for m, f in methods.items()})
        notes += plan.notes
        with dataset_lock(paths):
            _load_or_save_plan(paths, spec, plan)
            shutil.rmtree(paths.staging, ignore_errors=True)
            shutil.rmtree(paths.work, ignore_errors=True)
            builder = _Builder(spec, out, ws, ledger, plan, methods, now)
            entries = read_journal(paths.journal)
            rows = complete(out, entries, "video")
            sheets = {e["method"]: f for f, e in complete(out, entries, "sheet").items()}
            for r in rows.values():
                ledger.record_derived(builder.dataset_id, r["file"], r["sha256"], r["actors"])
            todo = [i for i in plan.items if i.file not in rows]
            skipped = len(plan.items) - len(todo)
            last_index = time.monotonic()
            try:
                write_indexes(out, rows.values())
                for item in progress(
                    todo, total=len(todo), desc="forge build", unit="video", enabled=show_progress
                ):
                    rows[item.file] = builder.make(item, sheets)
                    if time.monotonic() - last_index > INDEX_EVERY_S:
                        write_indexes(out, rows.values())
                        last_index = time.monotonic()
            except OSError as err:
                if err.errno in DISK_FULL:
                    raise DatasetError(
                        f"the disk is full while building {out} ({err.strerror}); "
                        f"{len(rows)} of {len(plan.items)} videos are complete and listed. "
                        "Free some space and run the same command again to resume"
                    ) from None
                raise
            finally:
                shutil.rmtree(paths.staging, ignore_errors=True)
                shutil.rmtree(paths.work, ignore_errors=True)
                try:
                    write_indexes(out, rows.values())
                except OSError as err:
                    if err.errno not in DISK_FULL:
                        raise
    report = BuildReport(
        out=out,
        planned=len(plan.items),
        made=len(todo),
        skipped=skipped,
        elapsed_s=time.monotonic() - started,
        counts=count_videos(rows.values()),
        contact_sheets=dict(sorted(sheets.items())),
        notes=tuple(notes),
    )
    write_summary(
        out,
        name=spec.name,
        seed=spec.seed,
        planned=report.planned,
        rows=rows.values(),
        sheets=report.contact_sheets,
    )
    return report
