"""Search strategies behind one ask/tell interface (DESIGN.md, convention 1)."""

from __future__ import annotations

from . import random_search
from ._base import (
    COMPLETE,
    FAILED,
    INFEASIBLE,
    RUNNING,
    Candidate,
    NoFeasibleArchitecture,
    Strategy,
    StrategyError,
    TrialResult,
    create_strategy,
    list_strategies,
    register_strategy,
)

__all__ = [
    "COMPLETE",
    "FAILED",
    "INFEASIBLE",
    "RUNNING",
    "Candidate",
    "NoFeasibleArchitecture",
    "Strategy",
    "StrategyError",
    "TrialResult",
    "create_strategy",
    "list_strategies",
    "random_search",
    "register_strategy",
]
