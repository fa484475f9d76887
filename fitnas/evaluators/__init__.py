"""Evaluators: one interface, ``evaluate(candidate) -> EvalResult``, that never raises.

``create_evaluator("trainer", data="digits", ...)`` trains (``TrainerEvaluator``);
``create_evaluator("table", csv_path=..., column=...)`` looks up (``TableEvaluator``).
"""

from __future__ import annotations

from typing import Any

from ..errors import FitnasError
from ._base import EvalResult, Evaluator
from .table import TableError, TableEvaluator
from .trainer import TrainerEvaluator

__all__ = [
    "EvalResult",
    "Evaluator",
    "TableError",
    "TableEvaluator",
    "TrainerEvaluator",
    "create_evaluator",
    "list_evaluators",
]

_EVALUATORS: dict[str, type[Evaluator]] = {"trainer": TrainerEvaluator, "table": TableEvaluator}


def list_evaluators() -> list[str]:
    """The registered evaluator names."""
    return list(_EVALUATORS)


def create_evaluator(name: str, **kwargs: Any) -> Evaluator:
    """An evaluator by name; keyword arguments go to its constructor."""
    if name not in _EVALUATORS:
        raise FitnasError(f"unknown evaluator {name!r}; valid: {', '.join(_EVALUATORS)}")
    return _EVALUATORS[name](**kwargs)
