"""Hard constraints as numbers: :class:`Constraints` turns costs into violation values.

Paper 002 eq. 1 restricts the search to ``AND_j C_j(A) < tau_j``; Algorithm I skips a sampled
architecture that "FailConstraint". fitnas keeps the number behind that test (DESIGN.md,
convention 3): for each active limit ``j`` the violation is the relative excess

    v_j = (C_j(A) - tau_j) / tau_j

so ``v_j <= 0`` means the limit is met (the refinement of eq. 1 to "at most", see
``fitnas.constraints._base``), ``v_j = 0.25`` means 25% over, and violations of different units
compare on one scale (a strategy may rank infeasible candidates by their largest violation).

:meth:`Constraints.check` computes the analytic costs first (``fitnas.costs.estimate``; with
``schedule="best"`` the peak of the memory-optimal order, ``fitnas.costs.schedule``) and
measures latency only when a latency limit is set *and* every analytic limit is met: a
candidate that already fails on memory is never built, exported or timed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..arch import ArchGraph
from . import latency as _latency
from ._base import LIMIT_COSTS, Limits, format_limit
from .limits import LimitError

__all__ = ["COST_KEYS", "CheckResult", "Constraints"]

#: The analytic costs :meth:`Constraints.analytic_costs` returns (all integers).
COST_KEYS: tuple[str, ...] = (
    "params", "param_bytes", "macs", "peak_activation_bytes", "total_memory_bytes",
)


@dataclass(frozen=True)
class CheckResult:
    """The costs of one candidate, its violation per active limit and the order they assume.

    ``costs`` has the :data:`COST_KEYS` (ints) and ``latency_ms`` (float) when it was measured;
    ``violations`` has one entry per active limit whose cost is known (no ``max_latency_ms``
    when latency was not measured because an analytic limit failed).
    """

    costs: dict[str, float]
    violations: dict[str, float]
    feasible: bool
    order: tuple[str, ...]
    latency_measured: bool = False
    failed: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"costs": dict(self.costs), "violations": dict(self.violations),
                "feasible": self.feasible, "order": list(self.order),
                "latency_measured": self.latency_measured, "failed": list(self.failed)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(costs=dict(data["costs"]), violations=dict(data["violations"]),
                   feasible=bool(data["feasible"]), order=tuple(data["order"]),
                   latency_measured=bool(data.get("latency_measured", False)),
                   failed=tuple(data.get("failed", ())))


class Constraints:
    """The hard limits of a search, checked on :class:`~fitnas.arch.ArchGraph` candidates.

    ``latency_repeats``, ``latency_warmup`` and ``latency_threads`` set the measurement
    (``fitnas.constraints.latency``); ``latency_cache`` is an optional JSON cache file;
    ``schedule_time_limit`` bounds the search of the best order (``schedule="best"``) per
    candidate, in seconds (past it the order is the best found, see ``best_order``).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        latency_repeats: int = 20,
        latency_warmup: int = 3,
        latency_threads: int = 1,
        latency_cache: str | None = None,
        schedule_time_limit: float = 10.0,
    ):
        if limits is not None and not isinstance(limits, Limits):
            raise LimitError(f"limits must be a fitnas Limits, got {type(limits).__name__}")
        self.limits = limits if limits is not None else Limits()
        self.latency_repeats = latency_repeats
        self.latency_warmup = latency_warmup
        self.latency_threads = latency_threads
        self.latency_cache = str(latency_cache) if latency_cache is not None else None
        if isinstance(schedule_time_limit, bool) or not isinstance(schedule_time_limit, (int, float)) \
                or not schedule_time_limit > 0:
            raise LimitError(f"bad schedule_time_limit {schedule_time_limit!r}: expected a "
                             "positive number of seconds")
        self.schedule_time_limit = float(schedule_time_limit)

    def get_config(self) -> dict[str, Any]:
        return {"limits": self.limits.to_dict(), "latency_repeats": self.latency_repeats,
                "latency_warmup": self.latency_warmup, "latency_threads": self.latency_threads,
                "latency_cache": self.latency_cache,
                "schedule_time_limit": self.schedule_time_limit}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Constraints:
        kwargs = dict(config)
        kwargs["limits"] = Limits.from_dict(kwargs.get("limits") or {})
        return cls(**kwargs)

    def __repr__(self) -> str:
        active = ", ".join(f"{k}={v}" for k, v in self.limits.active().items())
        return f"Constraints({active or 'no limits'}, dtype={self.limits.dtype}, " \
               f"schedule={self.limits.schedule})"

    @property
    def dtype(self) -> str:
        return self.limits.dtype

    def describe(self) -> list[str]:
        """One line per active limit for people, then the dtype and schedule."""
        return self.limits.describe()

    def order(self, graph: ArchGraph) -> tuple[str, ...]:
        """The execution order the memory costs assume (the best one with ``schedule=best``)."""
        return self._analytic(graph)[1]

    def _analytic(self, graph: ArchGraph) -> tuple[dict[str, float], tuple[str, ...]]:
        from ..costs import estimate

        order = graph.order
        if self.limits.schedule == "best":
            from ..costs.schedule import best_order

            order = best_order(graph, self.limits.dtype, True, self.schedule_time_limit).order
        est = estimate(graph, self.limits.dtype, True, order=order)
        costs: dict[str, float] = {key: int(getattr(est, key)) for key in COST_KEYS}
        return costs, tuple(order)

    def analytic_costs(self, graph: ArchGraph) -> dict[str, float]:
        """Parameters, parameter bytes, MACs, peak activation and total memory bytes (ints)."""
        return self._analytic(graph)[0]

    def violations(self, costs: Mapping[str, float]) -> dict[str, float]:
        """``(cost - limit) / limit`` for each active limit whose cost is in ``costs``."""
        out: dict[str, float] = {}
        for name, limit in self.limits.active().items():
            key = LIMIT_COSTS[name]
            if key in costs:
                out[name] = (float(costs[key]) - float(limit)) / float(limit)
        return out

    def measure_latency(self, graph: ArchGraph) -> float:
        """Milliseconds per forward pass on this host (see ``fitnas.constraints.latency``)."""
        return _latency.measure_latency_ms(
            graph, repeats=self.latency_repeats, warmup=self.latency_warmup,
            threads=self.latency_threads, cache_path=self.latency_cache,
        )

    def check(self, graph: ArchGraph) -> CheckResult:
        """Costs and violations of ``graph``: analytic limits first, latency only if they pass."""
        costs, order = self._analytic(graph)
        violations = self.violations(costs)
        measured = False
        if self.limits.max_latency_ms is not None and all(v <= 0 for v in violations.values()):
            costs["latency_ms"] = self.measure_latency(graph)
            violations = self.violations(costs)
            measured = True
        failed = tuple(name for name, v in violations.items() if v > 0)
        return CheckResult(costs=costs, violations=violations, feasible=not failed,
                           order=order, latency_measured=measured, failed=failed)

    def explain(self, result: CheckResult) -> list[str]:
        """One line per violated limit: the cost, the limit and by how much it is over."""
        lines = []
        for name in result.failed:
            value = result.costs[LIMIT_COSTS[name]]
            limit = self.limits.active()[name]
            lines.append(f"{name}: {format_limit(name, value)} > {format_limit(name, limit)} "
                         f"({100 * result.violations[name]:+.1f}%)")
        return lines
