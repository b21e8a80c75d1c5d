"""forge: build consented deepfake benchmarks.

consent ledger (:mod:`~unmask.forge.ledger`) -> footage import with quality filters and
dense landmarks (:mod:`~unmask.forge.ingest`) -> generation methods
(:mod:`unmask.forge.methods`) -> DFDC-style perturbations
(:mod:`~unmask.forge.perturbations`) -> identity-disjoint DFDC-format dataset
(:mod:`~unmask.forge.builder`), and :mod:`~unmask.forge.purge` after a revocation.

    >>> from unmask.forge import build_dataset, load_spec
    >>> build_dataset(load_spec("spec.yaml"), Path("out"), workspace=Path("ws"))  # doctest: +SKIP

``import unmask`` does not import this package; importing it loads numpy and OpenCV, and
the heavy parts (MediaPipe, torch, the methods) only when they are used. The purge is
``unmask.forge.purge.purge`` (not re-exported here: it would hide its module).
"""

from unmask.forge._workspace import Workspace
from unmask.forge.builder import BuildReport, build_dataset
from unmask.forge.ingest import QualityFilter, ingest_footage
from unmask.forge.ledger import Ledger
from unmask.forge.perturbations import list_perturbations, register_perturbation
from unmask.forge.purge import PurgeReport
from unmask.forge.spec import BuildSpec, load_spec

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
    "register_perturbation",
]
