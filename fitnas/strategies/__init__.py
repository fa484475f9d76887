"""Search strategies behind one ask/tell interface (DESIGN.md, convention 1)."""

from __future__ import annotations

from . import coordinate, growtrim, random_search
from ._base import (
    Candidate,
    NoFeasibleArchitecture,
    NotReady,
    Strategy,
    StrategyError,
    TrialResult,
    TrialState,
    create_strategy,
    list_strategies,
    register_strategy,
)

__all__ = [
    "Candidate",
    "NoFeasibleArchitecture",
    "NotReady",
    "Strategy",
    "StrategyError",
    "TrialResult",
    "TrialState",
    "coordinate",
    "create_strategy",
    "growtrim",
    "list_strategies",
    "random_search",
    "register_strategy",
]
