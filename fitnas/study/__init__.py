"""The search loop, its records, its storage and its workers."""

from __future__ import annotations

from .pareto import Hypervolume, dominates, hypervolume, hypervolume_reference, pareto_front
from .run import RunRecord, best_of, load_run
from .storage import SCHEMA_VERSION, Storage, StorageError
from .study import Budget, Study
from .trial import TrialRecord, TrialState
from .workers import BACKENDS, create_workers

__all__ = [
    "BACKENDS",
    "SCHEMA_VERSION",
    "Budget",
    "Hypervolume",
    "RunRecord",
    "Storage",
    "StorageError",
    "Study",
    "TrialRecord",
    "TrialState",
    "best_of",
    "create_workers",
    "dominates",
    "hypervolume",
    "hypervolume_reference",
    "load_run",
    "pareto_front",
]
