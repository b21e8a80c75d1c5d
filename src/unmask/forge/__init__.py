"""forge: build consented deepfake benchmarks.

consent ledger (:mod:`~unmask.forge.ledger`) -> footage import with quality filters and
dense landmarks (:mod:`~unmask.forge.ingest`) -> generation methods
(:mod:`unmask.forge.methods`) -> DFDC-style perturbations
(:mod:`~unmask.forge.perturbations`) -> identity-disjoint DFDC-format dataset
(:mod:`~unmask.forge.builder`), and :mod:`~unmask.forge.purge` after a revocation.

    >>> from unmask.forge import build_dataset, load_spec
    >>> build_dataset(load_spec("spec.yaml"), Path("out"), workspace=Path("ws"))  # doctest: +SKIP

Names are imported lazily, so ``import unmask.forge`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "BuildReport": "unmask.forge.builder",
    "build_dataset": "unmask.forge.builder",
    "BuildSpec": "unmask.forge.spec",
    "load_spec": "unmask.forge.spec",
    "Ledger": "unmask.forge.ledger",
    "QualityFilter": "unmask.forge.ingest",
    "ingest_footage": "unmask.forge.ingest",
    "Workspace": "unmask.forge._workspace",
    "purge": "unmask.forge.purge",
    "PurgeReport": "unmask.forge.purge",
    "list_perturbations": "unmask.forge.perturbations",
    "register_perturbation": "unmask.forge.perturbations",
}

__all__ = [
    "BuildReport",
    "BuildSpec",
    "Ledger",
    "PurgeReport",
    "QualityFilter",
    "Workspace",
    "build_dataset",
    "ingest_footage",
    "list_perturbations",
    "load_spec",
    "purge",
    "register_perturbation",
]

if TYPE_CHECKING:
    from unmask.forge._workspace import Workspace
    from unmask.forge.builder import BuildReport, build_dataset
    from unmask.forge.ingest import QualityFilter, ingest_footage
    from unmask.forge.ledger import Ledger
    from unmask.forge.perturbations import list_perturbations, register_perturbation
    from unmask.forge.purge import PurgeReport, purge
    from unmask.forge.spec import BuildSpec, load_spec


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'unmask.forge' has no attribute {name!r}")
