"""Hard constraints as numbers: :class:`Constraints` turns costs into violation values.

Paper 002 eq. 1 restricts the search to ``AND_j C_j(A) < tau_j``; Algorithm I skips a sampled
architecture that "FailConstraint". fitnas keeps the number behind that test (DESIGN.md,
convention 3): for each active limit ``j`` the violation is the relative excess

    v_j = (C_j(A) - tau_j) / tau_j

so ``v_j <= 0`` means the limit is met (the refinement of eq. 1 to "at most", see
``fitnas.constraints._base``), ``v_j = 0.25`` means 25% over, and violations of different units
compare on one scale (a strategy may rank infeasible candidates by their largest violation).

The costs come from a :class:`~fitnas.costs.model.CostModel` (the limits' dtype and schedule);
:class:`Constraints` only compares them with the limits. :meth:`Constraints.check` is the one
check a search makes per candidate: the analytic costs first, and latency measured only when a
latency limit is set *and* every analytic limit is met, so a candidate that already fails on
memory is never built, exported or timed. With a device model (``device``) latency, energy and
peak power are estimated with the analytic costs (``fitnas.costs.device``), and every limit is
checked before anything is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..arch import ArchGraph
from ..costs.device import ComputeProfile
from ..costs.model import ANALYTIC_KEYS, CostModel, Costs
from ._base import DEVICE_LIMITS, LIMIT_COSTS, Limits, format_limit
from .limits import LimitError

__all__ = ["COST_KEYS", "CheckResult", "Constraints"]

#: The analytic costs every check computes (all integers): ``fitnas.costs.model.ANALYTIC_KEYS``.
COST_KEYS: tuple[str, ...] = ANALYTIC_KEYS


@dataclass(frozen=True)
class CheckResult:
    """The costs of one candidate and its violation per active limit.

    ``violations`` has one entry per active limit whose cost is known (no ``max_latency_ms``
    when latency was not measured because an analytic limit failed); ``order`` is the order
    the costs assume (``costs.order``).
    """

    costs: Costs
    violations: dict[str, float]
    feasible: bool
    latency_measured: bool = False
    failed: tuple[str, ...] = field(default=())

    @property
    def order(self) -> tuple[str, ...]:
        return self.costs.order

    def to_dict(self) -> dict[str, Any]:
        return {"costs": self.costs.to_dict(), "violations": dict(self.violations),
                "feasible": self.feasible, "latency_measured": self.latency_measured,
                "failed": list(self.failed)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(costs=Costs.from_dict(data["costs"]), violations=dict(data["violations"]),
                   feasible=bool(data["feasible"]),
                   latency_measured=bool(data.get("latency_measured", False)),
                   failed=tuple(data.get("failed", ())))


class Constraints:
    """The hard limits of a search, checked on the costs of candidates.

    ``cost_model`` computes the costs the limits are compared with; by default one at the
    limits' dtype and schedule. ``latency_repeats``, ``latency_warmup``, ``latency_threads``,
    ``latency_cache``, ``schedule_time_limit``, ``device`` (a device model), ``latency``
    (``"measure"`` or ``"model"``) and ``devices`` (the objective devices) configure that
    default model (see
    :class:`~fitnas.costs.model.CostModel`). A limit on energy or power needs a device model
    with power figures; one missing is a one-line error naming the profile, key and limit.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        latency_repeats: int = 20,
        latency_warmup: int = 3,
        latency_threads: int = 1,
        latency_cache: str | None = None,
        schedule_time_limit: float = 10.0,
        cost_model: CostModel | None = None,
        device: ComputeProfile | Mapping[str, Any] | None = None,
        latency: str | None = None,
        devices: Sequence[ComputeProfile | Mapping[str, Any]] = (),
    ):
        if limits is not None and not isinstance(limits, Limits):
            raise LimitError(f"limits must be a fitnas Limits, got {type(limits).__name__}")
        self.limits = limits if limits is not None else Limits()
        if cost_model is None:
            cost_model = CostModel(self.limits.dtype, self.limits.schedule, schedule_time_limit,
                                   latency_repeats=latency_repeats, latency_warmup=latency_warmup,
                                   latency_threads=latency_threads, latency_cache=latency_cache,
                                   device=device, latency=latency,  # type: ignore[arg-type]
                                   devices=devices)
        elif (cost_model.dtype, cost_model.schedule) != (self.limits.dtype, self.limits.schedule):
            raise LimitError(f"the cost model computes {cost_model.dtype} costs under the "
                             f"{cost_model.schedule} schedule, the limits are for "
                             f"{self.limits.dtype} under {self.limits.schedule}: give both the same")
        self.cost_model = cost_model
        for name in DEVICE_LIMITS:
            if getattr(self.limits, name) is None:
                continue
            flag = "--" + name.replace("_", "-")
            if cost_model.device is None:
                raise LimitError(f"{flag} needs a device model: give --device NAME with a "
                                 "profile that has [compute] and [power] tables")
            cost_model.device.require(flag, energy=True)

    def get_config(self) -> dict[str, Any]:
        model = self.cost_model.get_config()
        return {"limits": self.limits.to_dict(), "latency_repeats": model["latency_repeats"],
                "latency_warmup": model["latency_warmup"],
                "latency_threads": model["latency_threads"],
                "latency_cache": model["latency_cache"],
                "schedule_time_limit": model["schedule_time_limit"],
                "device": model["device"], "latency": model["latency"],
                "devices": model["devices"]}

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
        """One line per active limit for people (saying where latency, energy and power come
        from), then the dtype and schedule."""
        model = self.cost_model
        device = model.device.name if model.device is not None else None
        out = []
        for line in self.limits.describe():
            if line.startswith("latency <="):
                line += (f" (estimated for {device})" if model.models_latency else
                         " (measured on this host: onnxruntime, median)")
            elif line.startswith(("energy per inference <=", "peak power <=")) and device:
                line += f" (estimated for {device})"
            out.append(line)
        return out

    def violations(self, costs: Mapping[str, float]) -> dict[str, float]:
        """``(cost - limit) / limit`` for each active limit whose cost is in ``costs``."""
        out: dict[str, float] = {}
        for name, limit in self.limits.active().items():
            key = LIMIT_COSTS[name]
            if key in costs:
                out[name] = (float(costs[key]) - float(limit)) / float(limit)
        return out

    def needs_latency(self, violations: Mapping[str, float]) -> bool:
        """Whether latency must be measured: a latency limit is set, latency is measured (not
        modelled) and every analytic limit whose violation is in ``violations`` is met."""
        return (self.limits.max_latency_ms is not None and not self.cost_model.models_latency
                and all(v <= 0 for v in violations.values()))

    def judge(self, costs: Costs, latency_measured: bool = False) -> CheckResult:
        """The violations of ``costs`` against the limits."""
        violations = self.violations(costs)
        failed = tuple(name for name, v in violations.items() if v > 0)
        return CheckResult(costs=costs, violations=violations, feasible=not failed,
                           latency_measured=latency_measured, failed=failed)

    def check(self, graph: ArchGraph) -> CheckResult:
        """Costs of ``graph`` (from the cost model) and their violations: analytic limits
        first, latency only if they pass."""
        costs = self.cost_model.costs(graph)
        if self.needs_latency(self.violations(costs)):
            return self.judge(self.cost_model.with_latency(costs, graph), latency_measured=True)
        return self.judge(costs)

    def explain(self, result: CheckResult) -> list[str]:
        """One line per violated limit: the cost, the limit and by how much it is over."""
        lines = []
        for name in result.failed:
            value = result.costs[LIMIT_COSTS[name]]
            limit = self.limits.active()[name]
            lines.append(f"{name}: {format_limit(name, value)} > {format_limit(name, limit)} "
                         f"({100 * result.violations[name]:+.1f}%)")
        return lines
