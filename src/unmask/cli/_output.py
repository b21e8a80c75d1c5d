"""Terminal output shared by the scan and demo commands."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence

from unmask.batch import BatchRow


def verdict(row: BatchRow) -> str:
    r = row.result
    if r.status == "ok":
        return str(r.label)
    return "NO FACE" if r.status == "no_face" else "ERROR"


def verdict_table(rows: Sequence[BatchRow]) -> str:
    """A plain-text table: file, verdict, P(fake), faces, seconds."""
    width = shutil.get_terminal_size((100, 20)).columns
    name_w = max(8, min(max((len(r.input.filename) for r in rows), default=8), width - 40))
    lines = [f"{'FILE':<{name_w}}  {'VERDICT':<8} {'P(FAKE)':>7} {'FACES':>5} {'SECONDS':>7}"]
    for row in rows:
        r = row.result
        name = row.input.filename
        if len(name) > name_w:
            name = "…" + name[-(name_w - 1) :]
        faces = sum(t.n_faces for t in r.tracks)
        lines.append(
            f"{name:<{name_w}}  {verdict(row):<8} {r.p_fake:>7.3f} {faces:>5} {r.timings.get('total', 0.0):>7.2f}"
        )
    return "\n".join(lines)


def print_errors(rows: Sequence[BatchRow]) -> None:
    """One line per failed file on stderr."""
    for row in rows:
        if row.result.status == "error":
            print(f"unmask: error: {row.result.error}", file=sys.stderr)
