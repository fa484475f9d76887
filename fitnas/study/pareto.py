"""Pareto-optimal trials over accuracy (maximized) and costs (minimized), and the hypervolume
of their front.

A trial dominates another when it is at least as accurate and at most as costly in every
objective, and strictly better in one (the multi-objective selection of paper 003's DPP-Net).
Only COMPLETE trials that meet every limit are candidates.

The *hypervolume* (the "size of the space covered" of Zitzler & Thiele, "Multiobjective
Optimization Using Evolutionary Algorithms: A Comparative Case Study", PPSN V, 1998) measures a
whole front with one number: the volume of the objective space that the front's points
dominate and that dominates a *reference point*. A better front covers more; a point that
another dominates adds nothing, and so does a point on or beyond the reference in any
objective. It is computed exactly by the ``moocore`` library (López-Ibáñez et al.;
``moocore.hypervolume``, which minimizes every objective, so accuracy enters negated: the
O(n log n) algorithms in 2-D and 3-D, HV4D+ in 4-D, a recursive one above), never here.

The reference point (:func:`hypervolume_reference`) is part of the result, since a hypervolume
without it means nothing:

* accuracy: 0 (accuracy is maximized; a trial with accuracy 0 covers nothing);
* each cost objective: the run's limit on that cost when it has one (every feasible trial is
  within it), else the largest value of that cost among the feasible COMPLETE trials (so the
  costliest of them adds nothing along that cost). With neither, the reference of that cost is
  ``None`` and the hypervolume 0.

Units stay raw, not normalized: the value is in accuracy units (a fraction for a trained
network, percentage points for a NAS-Bench-201 table) times the unit of each cost (a count for
``params`` and ``macs``, bytes for memory, ms, uJ, mW), so hypervolumes compare only between
fronts over the same objectives and reference point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..constraints import LIMIT_COSTS, Limits
from ..errors import FitnasError
from ..states import TrialState
from .trial import TrialRecord

__all__ = ["ACCURACY_REFERENCE", "Hypervolume", "device_fronts", "dominates", "front_hypervolume",
           "hypervolume", "hypervolume_reference", "panacea", "pareto_front"]

#: The reference of the accuracy objective (accuracy is maximized).
ACCURACY_REFERENCE = 0.0


def _vector(trial: TrialRecord, costs: Sequence[str]) -> tuple[float, ...]:
    return (-(trial.accuracy or 0.0), *(float(trial.costs.get(c, 0.0)) for c in costs))


def _candidates(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.feasible and t.accuracy is not None]


def dominates(a: TrialRecord, b: TrialRecord, costs: Sequence[str]) -> bool:
    va, vb = _vector(a, costs), _vector(b, costs)
    return all(x <= y for x, y in zip(va, vb)) and any(x < y for x, y in zip(va, vb))


def pareto_front(trials: Sequence[TrialRecord], costs: Sequence[str]) -> list[TrialRecord]:
    """The non-dominated feasible COMPLETE trials, most accurate first."""
    pool = _candidates(trials)
    front = [t for t in pool if not any(dominates(o, t, costs) for o in pool if o is not t)]
    return sorted(front, key=lambda t: (-(t.accuracy or 0.0), t.number))


def device_fronts(trials: Sequence[TrialRecord], costs: Sequence[str]
                  ) -> dict[str, list[TrialRecord]]:
    """Per device named by the objectives ``costs`` (``latency_ms@DEV``, see
    ``fitnas.costs.objectives``): the front over accuracy, the objectives that name no device
    and that device's own (DPP-Net's per-device fronts, paper 003 section 4.2). Empty when no
    objective names a device."""
    from ..costs.objectives import split_objective

    plain = [c for c in costs if split_objective(c)[1] is None]
    by_device: dict[str, list[str]] = {}
    for c in costs:
        device = split_objective(c)[1]
        if device is not None:
            by_device.setdefault(device, []).append(c)
    return {device: pareto_front(trials, [*plain, *own]) for device, own in by_device.items()}


def panacea(fronts: Mapping[str, Sequence[TrialRecord]]) -> list[TrialRecord]:
    """The trials on the front of every device (DPP-Net's "Panacea", paper 003 Table 3), most
    accurate first; empty for fewer than two devices."""
    if len(fronts) < 2:
        return []
    numbers = set.intersection(*({t.number for t in front} for front in fronts.values()))
    first = next(iter(fronts.values()))
    return [t for t in first if t.number in numbers]


@dataclass(frozen=True)
class Hypervolume:
    """The hypervolume of a front and what it was measured against.

    Attributes:
        value: the hypervolume, in accuracy units times each cost's unit (see the module
            docstring); 0 for an empty front.
        objectives: ``"accuracy"`` (or the metric's name), then the cost objectives.
        reference: the reference point, by objective (``None`` for a cost with no limit and
            no feasible trial to take it from).
    """

    value: float
    objectives: tuple[str, ...]
    reference: Mapping[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``summary.json``'s ``hypervolume``)."""
        return {"value": self.value, "objectives": list(self.objectives),
                "reference": {o: self.reference.get(o) for o in self.objectives}}


def hypervolume_reference(trials: Sequence[TrialRecord], costs: Sequence[str],
                          limits: Limits | Mapping[str, float] | None = None
                          ) -> dict[str, float | None]:
    """The reference point of the module docstring's rule, by objective (``"accuracy"`` first).

    ``limits``: the run's :class:`~fitnas.constraints.Limits`, or limit values by cost name
    (``{"params": 1e6}``); a cost without one takes the largest value among the feasible
    COMPLETE ``trials`` (``None`` when there is none).
    """
    if isinstance(limits, Limits):
        bound = {LIMIT_COSTS[n]: float(v) for n, v in limits.active().items()}
    else:
        bound = {k: float(v) for k, v in (limits or {}).items()}
    pool = _candidates(trials)
    reference: dict[str, float | None] = {"accuracy": ACCURACY_REFERENCE}
    for cost in costs:
        if cost in bound:
            reference[cost] = bound[cost]
        else:
            reference[cost] = max((float(t.costs.get(cost, 0.0)) for t in pool), default=None)
    return reference


def front_hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The hypervolume of ``points``, rows of ``(accuracy, cost, cost, ...)`` with accuracy
    maximized and costs minimized, against ``reference`` (the same layout), by
    ``moocore.hypervolume``. Dominated points, and points on or beyond the reference in any
    objective, add nothing; no points: 0."""
    import moocore
    import numpy as np

    ref = np.asarray(reference, dtype=float)
    if ref.ndim != 1 or ref.size < 1 or not np.all(np.isfinite(ref)):
        raise FitnasError(f"bad hypervolume reference {list(reference)!r}: expected one finite "
                          "number per objective")
    if len(points) == 0:
        return 0.0
    rows = np.asarray(points, dtype=float)
    if rows.ndim != 2 or rows.shape[1] != ref.size:
        raise FitnasError(f"hypervolume points of shape {rows.shape} do not match a reference "
                          f"of {ref.size} objectives")
    # moocore minimizes every objective: accuracy becomes -accuracy, its reference -reference
    flip = np.array([-1.0] + [1.0] * (ref.size - 1))
    return float(moocore.hypervolume(rows * flip, ref=ref * flip))


def hypervolume(trials: Sequence[TrialRecord], costs: Sequence[str],
                limits: Limits | Mapping[str, float] | None = None,
                reference: Mapping[str, float] | None = None) -> Hypervolume:
    """The hypervolume of the Pareto front of ``trials`` over accuracy and ``costs``.

    ``reference``: the reference point by objective (``"accuracy"`` and each cost); default:
    :func:`hypervolume_reference` of ``trials`` and ``limits``.
    """
    costs = list(costs)
    if reference is None:
        ref: dict[str, float | None] = hypervolume_reference(trials, costs, limits)
    else:
        missing = [o for o in ("accuracy", *costs) if o not in reference]
        if missing:
            raise FitnasError(f"the hypervolume reference lacks {', '.join(missing)}; give a "
                              f"value for each of accuracy, {', '.join(costs)}")
        ref = {o: float(reference[o]) for o in ("accuracy", *costs)}
    objectives = ("accuracy", *costs)
    # every candidate, not only the front: the dominated ones add nothing, and moocore skips
    # them faster than pareto_front's comparison of every pair
    pool = _candidates(trials)
    bounds = [ref[o] for o in objectives]
    if not pool or any(b is None for b in bounds):
        return Hypervolume(0.0, objectives, ref)
    value = front_hypervolume([_point(t, costs) for t in pool], [float(b or 0.0) for b in bounds])
    return Hypervolume(value, objectives, ref)


def _point(trial: TrialRecord, costs: Sequence[str]) -> tuple[float, ...]:
    return (float(trial.accuracy or 0.0), *(float(trial.costs.get(c, 0.0)) for c in costs))
