"""The runnable examples in the arena's docstrings give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["unmask.arena.core.security", "unmask.arena.scoring"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
