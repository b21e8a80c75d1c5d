"""How many CPUs this process may use (shared by the scanner and the scale runners)."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1
