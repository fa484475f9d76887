"""Search strategies behind one ask/tell interface (DESIGN.md, convention 1)."""

from __future__ import annotations

from . import coordinate, growtrim, random_search
from ._base import (
    COMPLETE,
    FAILED,
    INFEASIBLE,
    RUNNING,
    Candidate,
    NoFeasibleArchitecture,
    NotReady,
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
    "NotReady",
    "Strategy",
    "StrategyError",
    "TrialResult",
    "coordinate",
    "create_strategy",
    "growtrim",
    "list_strategies",
    "random_search",
    "register_strategy",
]
