"""The examples in the forge methods' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "unmask.forge.methods",
    "unmask.forge.methods._mesh",
    "unmask.forge.methods._registry",
    "unmask.forge.methods._sheet",
    "unmask.forge.methods.swap",
    "unmask.forge.methods.reenact",
    "unmask.forge.methods.dfae",
    "unmask.forge.landmarks",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
