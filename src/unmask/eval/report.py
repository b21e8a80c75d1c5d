"""A self-contained HTML report of an evaluation: tables, ROC/PR curves, reliability, histograms.

    >>> html = render_report(evaluation, title="default detector on FF++ c40")   # doctest: +SKIP
    >>> write_report(evaluation, "report.html")                                  # doctest: +SKIP

One file, no scripts, no links: figures are PNGs embedded as ``data:`` URIs (drawn with
matplotlib's Agg renderer through ``matplotlib.figure.Figure``, never pyplot's global state),
and every name that came from the user (files, methods, paths) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unmask._io import atomic_write_text
from unmask.eval import metrics as M
from unmask.eval.evaluate import Evaluation

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["FIGURES", "render_report", "write_report"]

#: The figures every report has, by the ``alt`` text that names them.
FIGURES = ("ROC curve", "Precision-recall curve", "Reliability diagram", "Score histograms")

_METRICS: tuple[tuple[str, str], ...] = (
    ("log_loss", "Log loss (DFDC)"),
    ("auc", "ROC AUC"),
    ("ap", "Average precision"),
    ("eer", "Equal error rate"),
    ("accuracy", "Accuracy"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("weighted_precision", "Weighted precision"),
    ("ece", "Expected calibration error"),
)
_VIDEO_RULE_NOTE = {
    "scanner": "A frame's score is its highest face score. Video-level numbers above are "
    "the scanner's own verdicts (per-track aggregation, the most fake track, calibration), "
    "not an average of these frames.",
}
_TABLE_COLUMNS = ("n", "n_fake", "n_real", "log_loss", "auc", "ap", "eer", "accuracy", "ece")

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .7em;border-bottom:1px solid #eee;
text-align:right}th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
.figs{display:flex;flex-wrap:wrap;gap:1em}.figs figure{margin:0}figcaption{color:#666;font-size:.9em}
.note{color:#555;font-size:.92em}code{background:#f3f3f3;padding:0 .2em}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


# --------------------------------------------------------------------------- figures


def _new_figure() -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 4.0), dpi=100, layout="constrained")
    return fig, fig.subplots()


def _png(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}" width="500" height="400">'
        f"<figcaption>{_e(alt)}</figcaption></figure>"
    )


def _curves(ev: Evaluation) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(label, y, p)``: every file, then each fake method against every REAL."""
    out = [("all", ev.y, ev.p_fake)]
    methods = np.array([it.method for it in ev.items], dtype=object)
    reals = ev.y == 0
    fake_methods = sorted(set(methods[~reals]))
    if len(fake_methods) > 1 and reals.any():
        for m in fake_methods:
            mask = (methods == m) | reals
            out.append((m, ev.y[mask], ev.p_fake[mask]))
    return out


def _both(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < y.size


def _roc_figure(curves: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str) -> str:
    fig, ax = _new_figure()
    for i, (name, y, p) in enumerate(curves):
        if not _both(y):
            continue
        fpr, tpr, _ = M.roc_curve(y, p)
        ax.plot(fpr, tpr, lw=2.2 if i == 0 else 1.2, label=f"{name} (AUC {M.roc_auc(y, p):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax.set(
        xlabel="False positive rate (REAL called FAKE)", ylabel="True positive rate (FAKE caught)"
    )
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig, title)


def _pr_figure(curves: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> str:
    fig, ax = _new_figure()
    for i, (name, y, p) in enumerate(curves):
        if not _both(y):
            continue
        prec, rec, _ = M.pr_curve(y, p)
        ax.step(
            np.r_[0.0, rec],
            np.r_[prec[0], prec],
            where="post",
            lw=2.2 if i == 0 else 1.2,
            label=f"{name} (AP {M.average_precision(y, p):.3f})",
        )
    y_all = curves[0][1]
    ax.axhline(float(np.mean(y_all)), ls=":", c="grey", lw=1, label="chance (FAKE share)")
    ax.set(xlabel="Recall (FAKE caught)", ylabel="Precision (called FAKE that are FAKE)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title="Precision-recall curve")
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig, "Precision-recall curve")


def _reliability_figure(ev: Evaluation) -> str:
    n_bins = ev.settings.n_bins
    conf, frac, count = M.reliability_curve(ev.y, ev.p_fake, n_bins=n_bins)
    ece = M.expected_calibration_error(ev.y, ev.p_fake, n_bins=n_bins)
    fig, ax = _new_figure()
    width = 1.0 / n_bins
    centres = (
        np.clip(np.ceil(conf * n_bins) - 1, 0, n_bins - 1) + 0.5
    ) * width  # bins are (lo, hi]
    ax.bar(centres, frac, width=width * 0.95, alpha=0.6, label="observed FAKE share per bin")
    ax.plot(conf, frac, "o-", ms=3, lw=1, c="tab:red", label="at the bin's mean P(FAKE)")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1, label="perfect calibration")
    for x, f, c in zip(centres, frac, count, strict=True):
        ax.annotate(str(int(c)), (x, f), ha="center", va="bottom", fontsize=7)
    ax.set(xlabel="Predicted P(FAKE)", ylabel="Observed FAKE share")
    ax.set(xlim=(0, 1), ylim=(0, 1.05), title=f"Reliability diagram (ECE {ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig, "Reliability diagram")


def _histogram_figure(ev: Evaluation) -> str:
    fig, ax = _new_figure()
    for label, name, colour in ((0, "REAL", "tab:blue"), (1, "FAKE", "tab:red")):
        scores = ev.p_fake[ev.y == label]
        if scores.size:
            ax.hist(
                scores,
                bins=20,
                range=(0.0, 1.0),
                alpha=0.55,
                color=colour,
                label=f"{name} (n={scores.size})",
            )
    ax.axvline(
        ev.settings.threshold, c="k", ls="--", lw=1, label=f"threshold {ev.settings.threshold:g}"
    )
    ax.set(xlabel="Predicted P(FAKE)", ylabel="Files", xlim=(0, 1), title="Score histograms")
    ax.legend(fontsize=8)
    return _png(fig, "Score histograms")


# --------------------------------------------------------------------------- tables


def _headline(summary: dict[str, Any]) -> str:
    ci = summary.get("ci") or {}
    level = round(100 * float(summary.get("ci_level", 0.95)))
    s = summary["settings"]
    notes = {
        "log_loss": f"natural log, clipped to [{s['eps']:g}, 1 − {s['eps']:g}]",
        "accuracy": f"FAKE when P(FAKE) ≥ {s['threshold']:g}",
        "precision": f"FAKE when P(FAKE) ≥ {s['threshold']:g}",
        "recall": f"FAKE when P(FAKE) ≥ {s['threshold']:g}",
        "weighted_precision": f"at recall {s['recall_level']:g}, FAKE prevalence {s['prevalence']:g}",
        "ece": f"{s['n_bins']} equal-width bins",
    }
    rows = [
        f"<tr><td>Files (video level)</td><td>{_fmt(summary['n'])}</td>"
        f"<td>{_fmt(summary['n_fake'])} FAKE / {_fmt(summary['n_real'])} REAL</td><td></td></tr>"
    ]
    for key, name in _METRICS:
        interval = ci.get(key)
        shown = f"{interval[0]:.4f} – {interval[1]:.4f}" if interval else "–"
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{_fmt(summary.get(key))}</td><td>{shown}</td>"
            f"<td class=note>{_e(notes.get(key, ''))}</td></tr>"
        )
    return (
        f"<table><tr><th>Metric</th><th>Value</th><th>{level}% CI</th><th>Definition</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _group_table(groups: dict[str, dict[str, Any]], first: str) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in (first, *_TABLE_COLUMNS))
    body = "".join(
        f"<tr><td>{_e(name)}</td>"
        + "".join(f"<td>{_fmt(g.get(c))}</td>" for c in _TABLE_COLUMNS)
        + "</tr>"
        for name, g in groups.items()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _worst_table(worst: list[dict[str, Any]]) -> str:
    cols = ["file", "label", "p_fake", "log_loss", "method"] + (
        ["status"] if worst and "status" in worst[0] else []
    )
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = ""
    for row in worst:
        cells = dict(row, label="FAKE" if row["label"] else "REAL")
        body += "<tr>" + "".join(f"<td>{_fmt(cells.get(c))}</td>" for c in cols) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f"<p class=note>{_e(note)}</p>" if note else ""
    return f"<h2>{_e(title)}</h2>{note_html}{body}"


def render_report(ev: Evaluation, *, title: str = "unmask evaluation") -> str:
    """The report as one HTML string (UTF-8, no external resources, no scripts)."""
    summary = ev.summary
    curves = _curves(ev)
    parts = [
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>",
        "<p class=note>Every number below is <b>video level</b> (one score per labelled file) "
        "unless marked frame level. Intervals are percentile bootstrap intervals, resampling "
        f"files within each class ({_e(summary['settings']['n_boot'])} resamples, seed "
        f"{_e(summary['settings']['random_state'])}).</p>",
        _section("Headline (video level)", _headline(summary)),
    ]
    figs = [_roc_figure(curves, "ROC curve")] if _both(ev.y) else []
    if _both(ev.y):
        figs.append(_pr_figure(curves))
    figs += [_reliability_figure(ev), _histogram_figure(ev)]
    parts.append(
        _section(
            "Curves (video level)",
            f"<div class=figs>{''.join(figs)}</div>",
            "" if _both(ev.y) else "ROC and PR curves need both REAL and FAKE files.",
        )
    )
    titles = {
        "by_method": ("Per method", "method", "Each method's fakes against every REAL file."),
        "by_perturbation": (
            "Per perturbation",
            "perturbation",
            "Files carrying each perturbation (for FaceForensics++ the compression level).",
        ),
        "by_dataset": ("Per source dataset", "dataset", ""),
        "by_split": ("Per split", "split", ""),
    }
    for key, (heading, first, note) in titles.items():
        groups = summary.get(key) or {}
        if groups:
            parts.append(_section(f"{heading} (video level)", _group_table(groups, first), note))
    frame = summary.get("frame_level")
    if frame and ev.frames is not None:
        fy = ev.y[ev.frames.video]
        fig = (
            _roc_figure([("frames", fy, ev.frames.p_fake)], "Frame-level ROC curve")
            if _both(fy)
            else ""
        )
        parts.append(
            _section(
                "Frame level",
                _group_table({"frames": frame}, "level") + f"<div class=figs>{fig}</div>",
                f"Each frame scored on its own with its video's label ({frame['n']} frames of "
                f"{frame['n_videos']} videos). "
                + _VIDEO_RULE_NOTE.get(
                    frame["video_rule"],
                    f"Video-level numbers above use the {frame['video_rule']} of the frame scores.",
                ),
            )
        )
    scan = summary.get("scan")
    if scan:
        statuses = ", ".join(f"{_e(k)}: {v}" for k, v in sorted(scan["statuses"].items()))
        errs = "".join(
            f"<tr><td>{_e(e['file'])}</td><td>{_e(e['status'])}</td><td>{_e(e['error'] or '')}</td></tr>"
            for e in scan["errors"]
        )
        table = (
            f"<table><tr><th>file</th><th>status</th><th>reason</th></tr>{errs}</table>"
            if errs
            else ""
        )
        parts.append(
            _section(
                "Scan",
                f"<p>{statuses}</p>{table}",
                "Files without a verdict (no face, unreadable) score P(FAKE) = 0.5.",
            )
        )
    parts.append(
        _section(
            "Worst-scored files", _worst_table(summary["worst"]), "Highest per-file log loss first."
        )
    )
    settings = "".join(
        f"<tr><td>{_e(k)}</td><td>{_fmt(v, 6)}</td></tr>" for k, v in summary["settings"].items()
    )
    inputs = "".join(
        f"<tr><td>{_e(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in summary["inputs"].items()
    )
    parts.append(_section("Settings and inputs", f"<table>{settings}{inputs}</table>"))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(ev: Evaluation, path: str | Path, *, title: str = "unmask evaluation") -> None:
    """Render the report and write it atomically to ``path``."""
    atomic_write_text(path, render_report(ev, title=title))
