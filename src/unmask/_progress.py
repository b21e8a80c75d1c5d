"""Progress bars for long work (tqdm on stderr; silent when stderr is not a terminal)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    enabled: bool | None = None,
) -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar.

    ``enabled=None`` shows the bar only on an interactive terminal, so logs and CI stay clean.
    """
    yield from tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=None if enabled is None else not enabled,
        dynamic_ncols=True,
        leave=False,
    )
