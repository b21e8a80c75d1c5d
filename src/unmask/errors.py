"""One small hierarchy of errors that the CLI turns into one clear line.

Every message says what was expected, what arrived and, where it helps, how to fix it::

    >>> raise UnknownNameError("detector", "spectrun", ["spectrum", "clip_linear"])
    Traceback (most recent call last):
    ...
    unmask.errors.UnknownNameError: unknown detector 'spectrun'; did you mean 'spectrum'? (known: clip_linear, spectrum)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "ConfigError",
    "ConsentError",
    "DatasetError",
    "FaceNotFoundError",
    "ImageReadError",
    "InvalidSubmissionError",
    "MediaError",
    "MediaLimitError",
    "MetricInputError",
    "TasksFailedError",
    "UnknownNameError",
    "UnmaskError",
    "UnmaskWarning",
    "VideoReadError",
    "WeightsError",
    "closest_names",
]


class UnmaskError(Exception):
    """Base class: an error a user can act on. The CLI prints ``str(err)`` on one line."""


class UnmaskWarning(UserWarning):
    """Something a user may want to act on that does not stop the work (the CLI prints it
    on one line)."""


def closest_names(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The names in ``choices`` closest to ``name`` (difflib), best first."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)


class UnknownNameError(UnmaskError, KeyError):
    """A name (detector, forge method, config key, ...) that no registry knows."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.choices = sorted(choices)
        close = closest_names(name, self.choices)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.choices) if self.choices else "none registered"
        super().__init__(f"unknown {kind} {name!r}{hint} (known: {known})")

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0])


class ConfigError(UnmaskError, ValueError):
    """A configuration file or value that does not fit its schema."""


class WeightsError(UnmaskError):
    """Model weights missing, corrupt (checksum mismatch) or not matching their config."""


class MediaError(UnmaskError):
    """A media file that cannot be read. ``path`` and ``reason`` are kept for reports."""

    what = "media"

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot read {self.what}: {reason}")


class VideoReadError(MediaError):
    what = "video"


class ImageReadError(MediaError):
    what = "image"


class MediaLimitError(MediaError):
    """The file is over a configured limit (size, pixels, duration)."""

    what = "media within limits"


class MetricInputError(UnmaskError, ValueError):
    """Labels or predictions a metric cannot be computed on (one class, NaN, length mismatch)."""


class DatasetError(UnmaskError):
    """A dataset folder or labels file that no reader understands."""


class InvalidSubmissionError(UnmaskError, ValueError):
    """A prediction CSV that does not fit the label set; ``problems`` lists them by line."""

    def __init__(self, problems: Sequence[str], *, shown: int = 5) -> None:
        self.problems = list(problems)
        first = "; ".join(self.problems[:shown])
        more = f" (+{len(self.problems) - shown} more)" if len(self.problems) > shown else ""
        super().__init__(f"invalid submission: {first}{more}")


class ConsentError(UnmaskError):
    """Footage used without a valid consent record for the role it plays."""


class FaceNotFoundError(UnmaskError):
    """Footage that a step needs faces from has too few frames with a face."""


class TasksFailedError(UnmaskError):
    """A long job did all it could, but some tasks failed after their retries.

    ``failures`` maps each failed task (e.g. a file) to its last error; ``result`` is what the
    job did (e.g. forge's ``BuildReport``). The rest is kept: the same command again retries
    only the failed tasks.
    """

    def __init__(
        self,
        what: str,
        failures: Mapping[str, str],
        *,
        total: int,
        result: object = None,
        shown: int = 3,
    ) -> None:
        self.failures = dict(failures)
        self.result = result
        first = ", ".join(
            f"{task} ({error})" for task, error in list(self.failures.items())[:shown]
        )
        more = f" (+{len(self.failures) - shown} more)" if len(self.failures) > shown else ""
        super().__init__(
            f"{len(self.failures)} of {total} {what} failed: {first}{more}. The others are "
            "done; run the same command again to retry the failed ones"
        )
