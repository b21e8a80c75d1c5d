"""Generation methods for forge, one file each, registered by name.

    >>> from unmask.forge.methods import create_method, list_methods
    >>> list_methods()
    ['dfae', 'reenact', 'swap']
    >>> swap = create_method("swap")
    >>> swap.spec.needs_source
    True

A method turns a target clip (and, when ``spec.needs_source``, a source clip) into fake
frames plus masks of the changed pixels: ``method.generate(target, source, rng=..., workdir=...)``.
"""

from unmask.forge.methods import dfae as _dfae  # noqa: F401  (registers "dfae")
from unmask.forge.methods import reenact as _reenact  # noqa: F401  (registers "reenact")
from unmask.forge.methods import swap as _swap  # noqa: F401  (registers "swap")
from unmask.forge.methods._registry import (
    Clip,
    ForgeMethod,
    ForgeResult,
    MethodSpec,
    create_method,
    list_methods,
    register_method,
)
from unmask.forge.methods._sheet import write_contact_sheet

__all__ = [
    "Clip",
    "ForgeMethod",
    "ForgeResult",
    "MethodSpec",
    "create_method",
    "list_methods",
    "register_method",
    "write_contact_sheet",
]
