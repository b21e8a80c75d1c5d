"""unmask: fight deepfakes on an ordinary CPU, offline.

    >>> import unmask
    >>> result = unmask.scan("clip.mp4")          # doctest: +SKIP
    >>> result.p_fake, result.label               # doctest: +SKIP
    (0.91, 'FAKE')

The pipeline lives in ``unmask.scanner`` (not ``unmask.scan``, which is the function).
The top-level names are imported lazily, so ``import unmask`` stays cheap and never pulls
in the optional parts (training, forge, arena, scale).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "scan": "unmask.scanner",
    "Scanner": "unmask.scanner",
    "ScanResult": "unmask.scanner",
    "Faces": "unmask.faces",
    "create_detector": "unmask.detectors",
    "list_detectors": "unmask.detectors",
}

__all__ = [
    "Faces",
    "ScanResult",
    "Scanner",
    "__version__",
    "create_detector",
    "list_detectors",
    "scan",
]

if TYPE_CHECKING:
    from unmask.detectors import create_detector, list_detectors
    from unmask.faces import Faces
    from unmask.scanner import Scanner, ScanResult, scan


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'unmask' has no attribute {name!r}")
