"""One self-contained HTML page per scan run: a row per file with its verdict, face
thumbnails and a plot of per-face P(fake) over time (inline SVG; no external resources)."""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from unmask import __version__
from unmask._io import atomic_write_text
from unmask.batch import BatchRow
from unmask.scanner import ScanResult

_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:middle}
th{background:#f4f4f4}
.FAKE{color:#b00020;font-weight:600}.REAL{color:#1b5e20;font-weight:600}
.muted{color:#777}.err{color:#b00020}
img.face{width:64px;height:64px;border-radius:4px;margin-right:2px}
.name{font-family:ui-monospace,monospace;word-break:break-all;max-width:320px}
"""


def _jpeg_data_uri(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
    )
    if not ok:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def score_plot_svg(result: ScanResult, *, width: int = 260, height: int = 70) -> str:
    """Per-face calibrated P(fake) over time, one line per track, threshold dashed."""
    duration = float(result.media.get("duration_s") or 0.0)
    points = [(f.time_s, f.p_fake) for t in result.tracks for f in t.faces]
    if not points or result.kind != "video":
        return ""
    t_max = max(duration, max(t for t, _ in points), 1e-6)
    pad = 4

    def xy(t: float, p: float) -> str:
        return f"{pad + (width - 2 * pad) * t / t_max:.1f},{pad + (height - 2 * pad) * (1 - p):.1f}"

    parts = [
        f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img"><title>P(fake) over time</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>',
        f'<line x1="{pad}" x2="{width - pad}" y1="{xy(0, result.threshold).split(",")[1]}" '
        f'y2="{xy(0, result.threshold).split(",")[1]}" stroke="#999" stroke-dasharray="3,3"/>',
    ]
    for i, track in enumerate(result.tracks):
        color = _COLORS[i % len(_COLORS)]
        pts = " ".join(xy(f.time_s, f.p_fake) for f in sorted(track.faces, key=lambda f: f.time_s))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _verdict_cell(r: ScanResult) -> str:
    if r.status == "ok":
        return f'<span class="{r.label}">{r.label}</span>'
    if r.status == "no_face":
        return '<span class="muted">no face</span>'
    return '<span class="err">error</span>'


def render_scan_report(rows: Sequence[BatchRow], *, title: str = "unmask scan report") -> str:
    """The HTML text of the report (file names and messages are escaped)."""
    body = []
    for row in rows:
        r = row.result
        thumbs = ""
        if r.evidence:
            thumbs = "".join(
                f'<img class="face" alt="track {tid} face" src="{_jpeg_data_uri(crop)}">'
                for tid, crops in sorted(r.evidence.items())
                for crop in crops
            )
        detail = (
            html.escape(r.error or "")
            if r.status == "error"
            else ", ".join(
                f"track {t.track_id}: {t.p_fake:.2f} ({t.n_faces} faces)" for t in r.tracks
            )
        )
        body.append(
            "<tr>"
            f'<td class="name">{html.escape(row.input.filename)}</td>'
            f"<td>{_verdict_cell(r)}</td>"
            f"<td>{r.p_fake:.3f}</td>"
            f"<td>{thumbs}</td>"
            f"<td>{score_plot_svg(r)}</td>"
            f'<td class="muted">{detail}<br>{r.timings.get("total", 0):.2f} s</td>'
            "</tr>"
        )
    detectors = sorted({row.result.detector for row in rows})
    n_fake = sum(1 for row in rows if row.result.label == "FAKE")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="muted">{len(rows)} files, {n_fake} judged FAKE · detector {html.escape(", ".join(detectors))}'
        f" · unmask {__version__} · {stamp}</p>"
        "<table><thead><tr><th>file</th><th>verdict</th><th>P(fake)</th><th>faces</th>"
        "<th>P(fake) over time</th><th>details</th></tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></body></html>\n"
    )


def write_scan_report(
    rows: Sequence[BatchRow], path: str | Path, *, title: str = "unmask scan report"
) -> None:
    atomic_write_text(path, render_scan_report(rows, title=title))
