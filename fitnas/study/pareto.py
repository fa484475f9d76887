"""Pareto-optimal trials over accuracy (maximized) and costs (minimized).

A trial dominates another when it is at least as accurate and at most as costly in every
objective, and strictly better in one (the multi-objective selection of paper 003's DPP-Net).
Only COMPLETE trials that meet every limit are candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..states import TrialState
from .trial import TrialRecord

__all__ = ["dominates", "pareto_front"]


def _vector(trial: TrialRecord, costs: Sequence[str]) -> tuple[float, ...]:
    return (-(trial.accuracy or 0.0), *(float(trial.costs.get(c, 0.0)) for c in costs))


def dominates(a: TrialRecord, b: TrialRecord, costs: Sequence[str]) -> bool:
    va, vb = _vector(a, costs), _vector(b, costs)
    return all(x <= y for x, y in zip(va, vb)) and any(x < y for x, y in zip(va, vb))


def pareto_front(trials: Sequence[TrialRecord], costs: Sequence[str]) -> list[TrialRecord]:
    """The non-dominated feasible COMPLETE trials, most accurate first."""
    pool = [t for t in trials if t.state == TrialState.COMPLETE and t.feasible and t.accuracy is not None]
    front = [t for t in pool if not any(dominates(o, t, costs) for o in pool if o is not t)]
    return sorted(front, key=lambda t: (-(t.accuracy or 0.0), t.number))
