"""The search loop, its records, its storage and its workers."""

from __future__ import annotations

from .pareto import dominates, pareto_front
from .storage import SCHEMA_VERSION, Storage, StorageError
from .study import Budget, Study
from .trial import TrialRecord, TrialState
from .workers import BACKENDS, create_workers

__all__ = [
    "BACKENDS",
    "SCHEMA_VERSION",
    "Budget",
    "Storage",
    "StorageError",
    "Study",
    "TrialRecord",
    "TrialState",
    "create_workers",
    "dominates",
    "pareto_front",
]
