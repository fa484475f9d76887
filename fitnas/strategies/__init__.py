"""Search strategies behind one ask/tell interface (DESIGN.md, convention 1)."""

from __future__ import annotations

from . import coordinate, dcanas, evolution, growtrim, progressive, random_search, reinforce
from ._base import (
    Candidate,
    NoFeasibleArchitecture,
    NotReady,
    Strategy,
    StrategyDone,
    StrategyError,
    TrialResult,
    TrialState,
    Verdict,
    create_strategy,
    list_strategies,
    register_strategy,
    strategy_class,
)

__all__ = [
    "Candidate",
    "NoFeasibleArchitecture",
    "NotReady",
    "Strategy",
    "StrategyDone",
    "StrategyError",
    "TrialResult",
    "TrialState",
    "Verdict",
    "coordinate",
    "create_strategy",
    "dcanas",
    "evolution",
    "growtrim",
    "list_strategies",
    "progressive",
    "random_search",
    "register_strategy",
    "reinforce",
    "strategy_class",
]
