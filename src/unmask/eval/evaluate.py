"""Join labelled files with predictions (read from a CSV or made by scanning) and summarise.

    >>> from unmask.eval.datasets import read_dataset                      # doctest: +SKIP
    >>> items = read_dataset("ffpp_c40/")                                  # doctest: +SKIP
    >>> preds = read_predictions("preds.csv")                              # doctest: +SKIP
    >>> result = evaluate(*match_predictions(items, preds))                # doctest: +SKIP
    >>> result.summary["level"], result.summary["auc"]                     # doctest: +SKIP
    ('video', 0.93)

The summary's top-level numbers are video-level: one score per labelled file. When the
predictions are per frame, the frames are scored on their own under ``frame_level`` and
turned into video scores with a named rule (``video_rule``) for the top level.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from unmask.errors import (
    ConfigError,
    DatasetError,
    InvalidSubmissionError,
    MetricInputError,
    UnknownNameError,
)
from unmask.eval import metrics as M
from unmask.eval._csv import SHOWN, quote
from unmask.eval._registry import LabeledFile
from unmask.eval.submission import (
    DEFAULT_MAX_BYTES,
    ParsedPredictions,
    parse_predictions,
    unknown_filename_problems,
)

if TYPE_CHECKING:
    from unmask.scale import ResultStore

__all__ = [
    "CI_METRICS",
    "SCHEMA_VERSION",
    "EvalSettings",
    "Evaluation",
    "FrameScores",
    "Matched",
    "ScanOutcome",
    "ScanResultLike",
    "ScannerLike",
    "evaluate",
    "frame_scores",
    "match_predictions",
    "matched_from_scans",
    "read_predictions",
    "scan_items",
    "submission_csv",
]

SCHEMA_VERSION = 1
MatchBy = Literal["path", "basename"]

#: The metrics that get a bootstrap confidence interval in the summary, and how.
CI_METRICS: dict[str, str] = {
    "log_loss": "log_loss",
    "auc": "roc_auc",
    "ap": "average_precision",
    "eer": "eer",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "weighted_precision": "weighted_precision",
    "ece": "expected_calibration_error",
}


@dataclass(frozen=True)
class EvalSettings:
    """Every number that changes a metric; all of them are written into the summary."""

    threshold: float = 0.5
    eps: float = M.DFDC_EPS
    n_bins: int = 15
    recall_level: float = 0.5
    prevalence: float = 0.01
    n_boot: int = 1000
    alpha: float = 0.05
    random_state: int = 0
    n_worst: int = 20

    def __post_init__(self) -> None:
        checks = {
            "threshold": 0.0 <= self.threshold <= 1.0,
            "eps": 0.0 < self.eps < 0.5,
            "n_bins": self.n_bins >= 1,
            "recall_level": 0.0 < self.recall_level <= 1.0,
            "prevalence": 0.0 < self.prevalence < 1.0,
            "n_boot": self.n_boot >= 0,
            "alpha": 0.0 < self.alpha < 1.0,
            "n_worst": self.n_worst >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"{name} is out of range: {getattr(self, name)!r}")

    def metric_kwargs(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "eps": self.eps,
            "n_bins": self.n_bins,
            "recall_level": self.recall_level,
            "prevalence": self.prevalence,
        }


@dataclass(frozen=True)
class FrameScores:
    """Frame-level predictions: ``video[i]`` indexes the matched file frame ``i`` belongs to."""

    video: np.ndarray
    frame: np.ndarray
    p_fake: np.ndarray


@dataclass(frozen=True)
class ScanOutcome:
    """What scanning one file gave: P(FAKE), the scanner's status ("ok", "no_face", "error")
    and per-frame scores ``(video frame index, P(FAKE))``: the highest face score in each
    frame the scanner looked at (a frame with one fake face is a fake frame)."""

    p_fake: float
    status: str
    error: str | None = None
    frames: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Matched:
    """Labelled files with one video-level prediction each (and frames when given)."""

    items: list[LabeledFile]
    p_fake: np.ndarray
    frames: FrameScores | None = None
    n_missing: int = 0
    n_ignored: int = 0
    #: How the video-level scores were made from frames: a rule of ``VIDEO_RULES``,
    #: "scanner" (the detector's own aggregation and calibration), None without frames.
    video_rule: str | None = None


@dataclass
class Evaluation:
    """The matched files, their scores and the JSON-ready summary."""

    items: list[LabeledFile]
    y: np.ndarray
    p_fake: np.ndarray
    summary: dict[str, Any]
    frames: FrameScores | None = None
    statuses: list[ScanOutcome] | None = None
    settings: EvalSettings = field(default_factory=EvalSettings)


# --------------------------------------------------------------------------- predictions


def read_predictions(
    path: str | Path, *, max_bytes: int = 10 * DEFAULT_MAX_BYTES
) -> ParsedPredictions:
    """Parse a prediction CSV (``filename,label`` or ``filename,frame,label``).

    Problems are raised together, the first one prefixed with the file's name.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise InvalidSubmissionError(
            [f"predictions file {str(path)!r} {what}; expected a CSV filename,label"]
        )
    parsed = parse_predictions(path.read_bytes(), max_bytes=max_bytes, allow_frames=True)
    if parsed.problems:
        raise InvalidSubmissionError(_named(path, parsed.problems))
    return parsed


def _named(path: str | Path, problems: list[str]) -> list[str]:
    return [f"{Path(path).name}: {problems[0]}", *problems[1:]]


def _norm(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _keyer(
    items: Sequence[LabeledFile], match: MatchBy
) -> tuple[dict[str, int], Callable[[str], str]]:
    if match == "path":
        return {_norm(it.file): i for i, it in enumerate(items)}, _norm
    if match != "basename":
        raise ConfigError(f"match must be 'path' or 'basename'; got {match!r}")

    def base(name: str) -> str:
        return PurePosixPath(_norm(name)).name

    index: dict[str, int] = {}
    for i, it in enumerate(items):
        key = base(it.file)
        if key in index:
            raise DatasetError(
                f"--match basename needs unique file names, but {items[index[key]].file!r} and "
                f"{it.file!r} share {key!r}; use --match path with paths as in the label set"
            )
        index[key] = i
    return index, base


def match_predictions(
    items: Sequence[LabeledFile],
    predictions: ParsedPredictions,
    *,
    match: MatchBy = "path",
    allow_missing: bool = False,
    video_rule: str = "mean",
    excluded: Sequence[LabeledFile] = (),
    source: str = "predictions",
) -> Matched:
    """Pair every labelled file with its prediction.

    A prediction for a file the label set does not have is an error (with its line); so is
    a labelled file without a prediction unless ``allow_missing`` (then only the files with
    a prediction are scored and ``n_missing`` says how many were left out). Predictions for
    ``excluded`` files (e.g. another split) are ignored and counted. Frame-level rows are
    collapsed per file with ``video_rule`` for the video-level score.
    """
    if video_rule not in M.VIDEO_RULES:
        raise UnknownNameError("video rule", video_rule, M.VIDEO_RULES)
    index, key_of = _keyer(items, match)
    skip = {key_of(it.file) for it in excluded} - set(index)
    rows = [(line, key_of(name), value) for line, name, value in predictions.rows]
    n_ignored = sum(1 for _, k, _ in rows if k in skip)
    rows_frames = predictions.frames or [0] * len(rows)
    problems = unknown_filename_problems(
        ((line, k) for line, k, _ in rows if k not in skip), index.keys()
    )
    if problems:
        unknown = [k for _, k, _ in rows if k not in index and k not in skip]
        if match == "path" and _names_would_match(items, unknown):
            problems.insert(
                0, "every unknown filename names a labelled file: pass --match basename"
            )
        raise InvalidSubmissionError(_named(source, problems))
    per_file: dict[int, list[tuple[int, float]]] = {}
    for (_, k, value), frame in zip(rows, rows_frames, strict=True):
        if k in index:
            per_file.setdefault(index[k], []).append((frame, value))
    missing = [it for i, it in enumerate(items) if i not in per_file]
    if missing and (not allow_missing or len(missing) == len(items)):
        shown = ", ".join(quote(it.file) for it in missing[:SHOWN])
        fix = (
            "no prediction matches a labelled file"
            if len(missing) == len(items)
            else ("predict every file or pass --allow-missing")
        )
        raise InvalidSubmissionError(
            _named(
                source,
                [f"missing {len(missing)} of {len(items)} labelled files, e.g. {shown}; {fix}"],
            )
        )
    kept = sorted(per_file)
    if predictions.frames is None:
        p = np.array([per_file[i][0][1] for i in kept])
        frames = None
    else:
        vid = np.concatenate([np.full(len(per_file[i]), n) for n, i in enumerate(kept)])
        fr = np.array([f for i in kept for f, _ in per_file[i]])
        fp = np.array([v for i in kept for _, v in per_file[i]])
        _, p = M.video_level_from_frames(fp, vid, rule=video_rule)
        frames = FrameScores(video=vid, frame=fr, p_fake=fp)
    return Matched(
        items=[items[i] for i in kept],
        p_fake=p,
        frames=frames,
        n_missing=len(missing),
        n_ignored=n_ignored,
        video_rule=video_rule if frames is not None else None,
    )


def _names_would_match(items: Sequence[LabeledFile], keys: Sequence[str]) -> bool:
    """Whether matching by bare file name would pair every one of ``keys`` unambiguously."""
    names = [PurePosixPath(_norm(it.file)).name for it in items]
    known = set(names)
    return len(known) == len(names) and all(PurePosixPath(k).name in known for k in keys)


# --------------------------------------------------------------------------- scanning


class ScanResultLike(Protocol):
    """What evaluation reads from a scan result (``unmask.scanner.ScanResult`` has it)."""

    @property
    def p_fake(self) -> float: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def tracks(self) -> Sequence[Any]: ...


class ScannerLike(Protocol):
    """Anything that scans one path (``unmask.scanner.Scanner`` is one)."""

    def scan(self, path: str) -> ScanResultLike: ...


def _default_scanner(detector: str, frames: int) -> ScannerLike:
    from unmask.scanner import Scanner

    return Scanner(detector=detector, frames=frames)


def scan_items(
    items: Sequence[LabeledFile],
    *,
    detector: str = "default",
    frames: int = 32,
    scanner: ScannerLike | None = None,
    progress_enabled: bool | None = None,
    workers: int = 1,
    cluster: str | None = None,
    store: ResultStore | None = None,
) -> list[ScanOutcome]:
    """Scan every labelled file with ``unmask.scanner.Scanner(detector, frames=frames)``.

    ``scanner`` replaces the real one (anything with ``scan(path)`` returning an object with
    ``p_fake``, ``status`` and ``error``). The scanner reports unreadable files and files
    without faces by status with P(FAKE) = 0.5; the summary counts them. ``workers``,
    ``cluster`` (a Dask scheduler address) and ``store`` (a ``unmask.scale.ResultStore``,
    which makes the scan resumable) run it through ``unmask.scale`` (docs/scale.md).
    """
    from unmask._progress import progress

    no_path = [it.file for it in items if it.path is None]
    if no_path:
        raise DatasetError(f"cannot scan {no_path[0]!r}: the label set does not say where it is")
    if scanner is None and (workers != 1 or cluster is not None or store is not None):
        return _scan_items_at_scale(
            items,
            detector=detector,
            frames=frames,
            workers=workers,
            cluster=cluster,
            store=store,
            progress_enabled=progress_enabled,
        )
    active = scanner if scanner is not None else _default_scanner(detector, frames)
    bar = progress(
        items,
        total=len(items),
        desc=f"scanning ({detector})",
        unit="file",
        enabled=progress_enabled,
    )
    return [_outcome(it, active.scan(str(it.path))) for it in bar]


def _outcome(it: LabeledFile, result: ScanResultLike) -> ScanOutcome:
    p = float(result.p_fake)
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise MetricInputError(f"the scanner gave p_fake={p!r} for {it.file!r}; expected [0, 1]")
    return ScanOutcome(p, str(result.status), result.error, frame_scores(result.tracks))


def _scan_items_at_scale(
    items: Sequence[LabeledFile],
    *,
    detector: str,
    frames: int,
    workers: int,
    cluster: str | None,
    store: ResultStore | None,
    progress_enabled: bool | None,
) -> list[ScanOutcome]:
    from unmask.batch import ScanInput
    from unmask.scale import ResultStore
    from unmask.scale.scan import scan_inputs

    inputs = [ScanInput(Path(str(it.path)), it.file) for it in items]
    run = scan_inputs(
        inputs,
        store if store is not None else ResultStore(None),
        detector=detector,
        frames=frames,
        workers=workers,
        cluster=cluster,
        show_progress=progress_enabled,
    )
    return [_outcome(it, row.result) for it, row in zip(items, run.rows, strict=True)]


def frame_scores(tracks: Sequence[Any]) -> tuple[tuple[int, float], ...]:
    """``(video frame, P(FAKE))`` per frame from a ScanResult's tracks: the highest face
    score in each frame, in frame order.

    >>> from types import SimpleNamespace as NS
    >>> t = [NS(faces=[NS(video_frame=0, p_fake=0.2), NS(video_frame=9, p_fake=0.4)]),
    ...      NS(faces=[NS(video_frame=9, p_fake=0.7)])]
    >>> frame_scores(t)
    ((0, 0.2), (9, 0.7))
    """
    best: dict[int, float] = {}
    for track in tracks:
        for face in track.faces:
            frame, p = int(face.video_frame), float(face.p_fake)
            best[frame] = max(p, best.get(frame, p))
    return tuple(sorted(best.items()))


def submission_csv(items: Sequence[LabeledFile], outcomes: Sequence[ScanOutcome]) -> str:
    """The scores as a DFDC submission ``filename,label`` keyed like the label set."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["filename", "label"])
    writer.writerows([it.file, f"{o.p_fake:.6f}"] for it, o in zip(items, outcomes, strict=True))
    return buf.getvalue()


def matched_from_scans(items: Sequence[LabeledFile], outcomes: Sequence[ScanOutcome]) -> Matched:
    """Video-level scores straight from the scanner, frame-level ones from its face evidence."""
    if len(items) != len(outcomes):
        raise MetricInputError(f"{len(items)} labelled files but {len(outcomes)} scan outcomes")
    with_frames = [(n, o) for n, o in enumerate(outcomes) if o.frames]
    frames = None
    if with_frames:
        frames = FrameScores(
            video=np.concatenate([np.full(len(o.frames), n) for n, o in with_frames]),
            frame=np.array([f for _, o in with_frames for f, _ in o.frames]),
            p_fake=np.array([p for _, o in with_frames for _, p in o.frames]),
        )
    return Matched(
        items=list(items),
        p_fake=np.array([o.p_fake for o in outcomes]),
        frames=frames,
        video_rule="scanner" if frames is not None else None,
    )


# --------------------------------------------------------------------------- summary


def _intervals(y: np.ndarray, p: np.ndarray, s: EvalSettings) -> dict[str, list[float] | None]:
    kwargs = s.metric_kwargs()
    fns: dict[str, Callable[..., float]] = {
        "log_loss": partial(M.log_loss, eps=s.eps),
        "auc": M.roc_auc,
        "ap": M.average_precision,
        "eer": M.eer,
        "accuracy": partial(M.accuracy, threshold=s.threshold),
        "precision": partial(M.precision, threshold=s.threshold),
        "recall": partial(M.recall, threshold=s.threshold),
        "weighted_precision": partial(
            M.weighted_precision, recall_level=kwargs["recall_level"], prevalence=s.prevalence
        ),
        "ece": partial(M.expected_calibration_error, n_bins=s.n_bins),
    }
    out: dict[str, list[float] | None] = {}
    for name, fn in fns.items():
        if s.n_boot == 0:
            out[name] = None
            continue
        try:
            low, high = M.bootstrap_ci(
                fn,
                y,
                p,
                n_boot=s.n_boot,
                alpha=s.alpha,
                random_state=s.random_state,
                stratified=True,
            )
            out[name] = [low, high]
        except MetricInputError:
            out[name] = None  # undefined here (one class), like the metric itself
    return out


def _groups(items: Sequence[LabeledFile], y: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    method = np.array([it.method for it in items], dtype=object)
    reals = y == 0
    by_method = {m: (method == m) | reals for m in sorted(set(method[~reals]))}
    if reals.any():
        by_method = {"real": reals, **by_method}

    def split_by(values: list[str | None]) -> dict[str, np.ndarray]:
        arr = np.array(values, dtype=object)
        return {v: arr == v for v in sorted({v for v in values if v is not None})}

    return {
        "by_method": by_method,
        "by_perturbation": split_by([it.perturbation for it in items]),
        "by_dataset": split_by([it.dataset for it in items]),
        "by_split": split_by([it.split for it in items]),
    }


def _worst(
    items: Sequence[LabeledFile],
    y: np.ndarray,
    p: np.ndarray,
    s: EvalSettings,
    statuses: Sequence[ScanOutcome] | None,
) -> list[dict[str, Any]]:
    clipped = np.clip(p, s.eps, 1 - s.eps)
    loss = -(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))
    order = np.argsort(-loss, kind="mergesort")[: s.n_worst]
    out = []
    for i in order:
        row = {
            "file": items[i].file,
            "label": int(y[i]),
            "p_fake": float(p[i]),
            "log_loss": float(loss[i]),
            "method": items[i].method,
        }
        if statuses is not None:
            row["status"] = statuses[i].status
        out.append(row)
    return out


def evaluate(
    matched: Matched,
    *,
    settings: EvalSettings | None = None,
    statuses: Sequence[ScanOutcome] | None = None,
    inputs: dict[str, Any] | None = None,
) -> Evaluation:
    """Score matched predictions: headline metrics with bootstrap 95% intervals, the same
    metrics per method (that method's fakes against every REAL), per perturbation, per
    source dataset and per split, the worst-scored files, and frame-level metrics when
    the predictions are per frame.
    """
    s = settings or EvalSettings()
    items = matched.items
    y = np.array([it.label for it in items], dtype=np.int64)
    p = np.asarray(matched.p_fake, dtype=np.float64)
    kwargs = s.metric_kwargs()
    summary: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    summary.update(M.summarize(y, p, level="video", **kwargs))
    summary["ci"] = _intervals(y, p, s)
    summary["ci_level"] = 1.0 - s.alpha
    for name, groups in _groups(items, y).items():
        summary[name] = {
            k: M.summarize(y[m], p[m], level="video", **kwargs) for k, m in groups.items()
        }
    frames = matched.frames
    if frames is not None:
        fy = y[frames.video]
        summary["frame_level"] = {
            **M.summarize(fy, frames.p_fake, level="frame", **kwargs),
            "n_videos": len(np.unique(frames.video)),
            "video_rule": matched.video_rule,
        }
    else:
        summary["frame_level"] = None
    if statuses is not None:
        counts: dict[str, int] = {}
        for st in statuses:
            counts[st.status] = counts.get(st.status, 0) + 1
        summary["scan"] = {
            "statuses": counts,
            "errors": [
                {"file": it.file, "status": st.status, "error": st.error}
                for it, st in zip(items, statuses, strict=True)
                if st.status != "ok"
            ][:50],
        }
    else:
        summary["scan"] = None
    summary["worst"] = _worst(items, y, p, s, statuses)
    summary["settings"] = {
        **kwargs,
        "n_boot": s.n_boot,
        "alpha": s.alpha,
        "random_state": s.random_state,
        "bootstrap": "percentile, stratified by class",
        "video_rule": matched.video_rule,
        "by_method_rule": "fakes of the method against every REAL",
    }
    summary["inputs"] = {
        **(inputs or {}),
        "n_scored": len(items),
        "n_missing": matched.n_missing,
        "n_ignored": matched.n_ignored,
    }
    return Evaluation(
        items=list(items),
        y=y,
        p_fake=p,
        summary=summary,
        frames=frames,
        statuses=list(statuses) if statuses is not None else None,
        settings=s,
    )
