"""``unmask forge build``: consented footage in, a DFDC-format benchmark out.

The build plans every video first (deterministic from the spec's seed), then makes the ones
the journal does not list yet, one task per video, in this process, on N local processes or
on a Dask cluster (:mod:`unmask.scale`; the rendering is in :mod:`~unmask.forge._render`).
A worker encodes each video into ``DIR/.forge/staging``; this process then checks the
actors' consent, moves it into place, journals it, records it in the ledger, and only then
lists it in the index files. A killed or failed build is resumed by running the same
command again; the finished dataset is the same either way, whatever the number of workers.

>>> report = build_dataset(load_spec("spec.yaml"), Path("out"), workspace=Path("ws"))  # doctest: +SKIP
>>> report.made, report.contact_sheets  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from unmask._io import atomic_write_json
from unmask.errors import ConfigError, DatasetError, TasksFailedError
from unmask.forge._index import (
    DatasetPaths,
    append_journal,
    build_environment,
    complete,
    count_videos,
    dataset_lock,
    read_journal,
    write_indexes,
    write_summary,
)
from unmask.forge._plan import ActorPool, Plan, PlanItem, fingerprint, make_plan
from unmask.forge._render import (
    CONTACT_SHEET_DIR,
    DISK_FULL,
    Renderer,
    RenderTask,
    get_method,
    pair_key,
    render_job,
    trains_per_pair,
)
from unmask.forge._workspace import Workspace
from unmask.forge.ledger import ROLES, Ledger
from unmask.forge.spec import BuildSpec
from unmask.scale import Outcome, ResultStore, Task, run_options_problem, run_tasks
from unmask.scale._jobs import install, uninstall

INDEX_EVERY_S = 5.0  # rewrite the index files at most this often while building


@dataclass(frozen=True)
class BuildReport:
    """What a build run did. ``made`` counts videos made in this run, ``skipped`` those
    found complete from an earlier run, ``failures`` those that failed in this run."""

    out: Path
    planned: int
    made: int
    skipped: int
    elapsed_s: float
    counts: Mapping[str, Mapping[str, int]]  # split -> method -> videos
    contact_sheets: Mapping[str, str]  # method -> path relative to out
    notes: tuple[str, ...] = field(default=())
    failures: Mapping[str, str] = field(default_factory=dict)  # file -> last error (not listed)

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
            "failures": dict(self.failures),
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


class _Lister:
    """The parent's side of a build: each rendered video is checked against the ledger (the
    actors' consent must still be valid), moved into place, journaled, recorded in the ledger
    and listed, in that order; a failed one is noted and left for the next run."""

    def __init__(
        self,
        spec: BuildSpec,
        paths: DatasetPaths,
        ledger: Ledger,
        rows: dict[str, dict[str, Any]],
        sheets: dict[str, str],
        now: datetime | None,
    ) -> None:
        self.spec, self.paths, self.ledger, self.now = spec, paths, ledger, now
        self.rows, self.sheets = rows, sheets
        self.dataset_id = ledger.register_dataset(paths.root)
        self.failures: dict[str, str] = {}
        self.made = 0
        self.last_index = time.monotonic()

    def check_consent(self, item: PlanItem) -> None:
        uses, now = self.spec.uses, self.now
        self.ledger.check_consent(item.target_actor, role="target", uses=uses, now=now)
        if item.source_actor:
            self.ledger.check_consent(item.source_actor, role="source", uses=uses, now=now)

    def __call__(self, outcome: Outcome[RenderTask]) -> None:
        item, record = outcome.task.payload.item, outcome.record
        if outcome.error is not None:
            self.failures[item.file] = outcome.error
            return
        if "disk_full" in record:
            raise OSError(errno.ENOSPC, record["disk_full"])
        self.check_consent(item)  # a revocation since the build started stops it here
        staged = self.paths.staging / record["staged"]
        if not staged.is_file():
            self.failures[item.file] = (
                f"the worker's file is not in {self.paths.staging} here: DIR must be on "
                "storage that every worker mounts at the same path"
            )
            return
        if record["sheet"]:  # before the video: a listed video implies its sheet is listed
            rel = f"{CONTACT_SHEET_DIR}/{item.method}.png"
            self.place(record["sheet"]["staged"], rel)
            self.list_file(
                {
                    "kind": "sheet",
                    "file": rel,
                    "method": item.method,
                    "actors": item.actors,
                    "sha256": record["sheet"]["sha256"],
                }
            )
            self.sheets[item.method] = rel
        self.place(record["staged"], item.file)
        self.list_file(record["row"])
        self.rows[item.file] = record["row"]
        self.made += 1
        if time.monotonic() - self.last_index > INDEX_EVERY_S:
            write_indexes(self.paths.root, self.rows.values())
            self.last_index = time.monotonic()

    def place(self, staged: str, rel: str) -> None:
        final = self.paths.root / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.paths.staging / staged, final)

    def list_file(self, entry: dict[str, Any]) -> None:
        append_journal(self.paths.journal, entry)
        self.ledger.record_derived(self.dataset_id, entry["file"], entry["sha256"], entry["actors"])


def _tasks(
    todo: list[PlanItem], out: Path, methods: Mapping[str, Any], sheets: Mapping[str, str]
) -> list[list[Task[RenderTask]]]:
    """The videos to make as tasks, in one round or two.

    The first fake of each method without a contact sheet also makes the sheet. A method
    that trains per pair trains in the pair's first fake; the pair's other fakes wait for
    round two and reuse that model, so no pair is trained twice at once and the videos do
    not depend on the number of workers.
    """
    root = str(out.absolute())
    with_sheet: set[str] = set()
    trained: set[str] = set()
    rounds: tuple[list[Task[RenderTask]], list[Task[RenderTask]]] = ([], [])
    for item in todo:
        sheet = item.label == "FAKE" and item.method not in sheets and item.method not in with_sheet
        if sheet:
            with_sheet.add(item.method)
        later = False
        if item.label == "FAKE" and trains_per_pair(methods[item.method]):
            later = pair_key(item) in trained
            trained.add(pair_key(item))
        rounds[1 if later else 0].append(Task(item.file, RenderTask(item, root, sheet)))
    return [r for r in rounds if r]


def _load_or_save_plan(paths: DatasetPaths, spec: BuildSpec, plan: Plan) -> str:
    """The plan's fingerprint, after checking that ``paths`` holds no other plan."""
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
        return digest
    atomic_write_json(paths.plan, {"fingerprint": digest, **stored_plan})
    return digest


def build_dataset(
    spec: BuildSpec,
    out: Path,
    *,
    workspace: Path | Workspace,
    workers: int = 1,
    cluster: str | None = None,
    retries: int = 2,
    show_progress: bool | None = None,
    now: datetime | None = None,
) -> BuildReport:
    """Build (or resume building) the dataset ``spec`` describes into ``out``.

    Videos are made in this process, on ``workers`` local processes, or on the Dask
    ``cluster`` at ``tcp://host:8786`` (whose workers must see ``out`` and the workspace at
    the same absolute paths); the dataset is the same either way. A video that fails
    ``retries`` + 1 times is left out of the index files and the build ends with a
    :class:`TasksFailedError` naming the first failures (its ``result`` is the report);
    the same call again makes only the videos still missing.

    Raises :class:`ConsentError` for a named actor without valid consent (also when consent
    is revoked during the build), :class:`UnknownNameError` for an unknown method, and
    :class:`DatasetError` when the disk fills up (free space and run again: the build resumes).

    >>> build_dataset(load_spec("spec.yaml"), Path("out"), workspace=Path("ws"), workers=4)  # doctest: +SKIP
    """
    problem = run_options_problem(workers=workers, cluster=cluster, retries=retries)
    if problem:
        raise ConfigError(problem)
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
        methods = {m: get_method(m, mp.params) for m, mp in spec.methods.items()}
        plan = make_plan(spec, pools, {m: bool(f.spec.needs_source) for m, f in methods.items()})
        notes += plan.notes
        footage = ledger.footage(status="accepted")
        with dataset_lock(paths):
            digest = _load_or_save_plan(paths, spec, plan)
            shutil.rmtree(paths.staging, ignore_errors=True)
            shutil.rmtree(paths.work, ignore_errors=True)
            entries = read_journal(paths.journal)
            rows = complete(out, entries, "video")
            sheets = {e["method"]: f for f, e in complete(out, entries, "sheet").items()}
            lister = _Lister(spec, paths, ledger, rows, sheets, now)
            for r in rows.values():
                ledger.record_derived(lister.dataset_id, r["file"], r["sha256"], r["actors"])
            todo = [i for i in plan.items if i.file not in rows]
            job = render_job(spec, ws.root.absolute(), footage, plan_digest=digest)
            if workers == 1 and cluster is None:  # here, with the methods made above
                install(job, Renderer(spec, ws, footage, methods))
            try:
                write_indexes(out, rows.values())
                paths.staging.mkdir(parents=True, exist_ok=True)
                rounds = _tasks(todo, out, methods, sheets)
                for n, tasks in enumerate(rounds, 1):
                    run_tasks(
                        job,
                        tasks,
                        ResultStore(None),  # the journal is the build's record
                        workers=workers,
                        cluster=cluster,
                        retries=retries,
                        desc="forge build" + (f" ({n}/{len(rounds)})" if len(rounds) > 1 else ""),
                        unit="video",
                        show_progress=show_progress,
                        on_outcome=lister,
                    )
            except OSError as err:
                if err.errno in DISK_FULL:
                    raise DatasetError(
                        f"the disk is full while building {out} ({err.strerror}); "
                        f"{len(rows)} of {len(plan.items)} videos are complete and listed. "
                        "Free some space and run the same command again to resume"
                    ) from None
                raise
            finally:
                uninstall(job.name)
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
        made=lister.made,
        skipped=len(plan.items) - len(todo),
        elapsed_s=time.monotonic() - started,
        counts=count_videos(rows.values()),
        contact_sheets=dict(sorted(sheets.items())),
        notes=tuple(notes),
        failures=dict(sorted(lister.failures.items())),
    )
    write_summary(
        out,
        name=spec.name,
        seed=spec.seed,
        planned=report.planned,
        rows=rows.values(),
        sheets=report.contact_sheets,
        environment=build_environment() if report.made else None,
    )
    if report.failures:
        raise TasksFailedError("videos", report.failures, total=len(todo), result=report)
    return report
