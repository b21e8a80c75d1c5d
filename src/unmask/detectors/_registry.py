"""Registry of detectors: ``@register_detector(name)`` on a factory, ``create_detector(name)``."""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from unmask.detectors._base import Detector
from unmask.errors import UnknownNameError

# The detector `unmask scan` uses when none is named ("default" is an alias for it). The
# ensemble generalises a little better but costs over twice the scan time (its CLIP member
# is ~0.2 s of CPU per face), which breaks the scan speed budget: it is there by name.
DEFAULT_DETECTOR = "effnet_sbi"

_FACTORIES: dict[str, Callable[..., Detector]] = {}
_loaded = False

F = TypeVar("F", bound=Callable[..., Detector])


def register_detector(name: str) -> Callable[[F], F]:
    """Register a detector factory under ``name``; registering a name twice is an error."""

    def wrap(factory: F) -> F:
        if name in _FACTORIES:
            raise ValueError(
                f"detector {name!r} is already registered by {_FACTORIES[name].__module__}"
            )
        _FACTORIES[name] = factory
        return factory

    return wrap


def _load_all() -> None:
    """Import every public module of unmask.detectors: one file per detector."""
    global _loaded
    if _loaded:
        return
    import unmask.detectors as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"unmask.detectors.{info.name}")
    _loaded = True


def list_detectors(pattern: str = "*") -> list[str]:
    """Registered detector names matching a glob pattern, sorted.

    >>> "spectrum" in list_detectors()
    True
    """
    _load_all()
    return sorted(n for n in _FACTORIES if fnmatch.fnmatch(n, pattern))


def default_detector() -> str:
    """The name "default" stands for."""
    return DEFAULT_DETECTOR


def resolve_detector_name(name: str) -> str:
    """``name`` itself, or the detector that "default" stands for here."""
    return default_detector() if name == "default" else name


def create_detector(name: str = "default", **kwargs: Any) -> Detector:
    """Build a registered detector (its weights are checked and loaded now).

    >>> det = create_detector("spectrum")
    >>> det.cfg.input_size
    128
    """
    _load_all()
    name = resolve_detector_name(name)
    if name not in _FACTORIES:
        raise UnknownNameError("detector", name, [*_FACTORIES, "default"])
    return _FACTORIES[name](**kwargs)
