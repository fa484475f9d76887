"""``TrialRecord``: one candidate of a study, immutable once finished.

States: RUNNING (sent to a worker), COMPLETE (evaluated), FAILED (the evaluation failed, or its
worker died twice), INFEASIBLE (an analytic constraint was violated: recorded, never trained).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..costs.model import Costs
from ..states import FINISHED, TrialState
from ..strategies import TrialResult

__all__ = ["FINISHED", "TrialRecord", "TrialState"]


@dataclass(frozen=True)
class TrialRecord:
    """Everything stored about one trial.

    ``costs`` holds the costs the limits were checked on: a :class:`~fitnas.costs.model.Costs`
    (``params``, ``param_bytes``, ``macs``, ``peak_activation_bytes``, ``total_memory_bytes``,
    ``chan_memory_bytes``, ``latency_ms`` when measured, and the execution order they assume),
    or nothing for an encoding that did not decode; ``graph_key`` names the stored network
    (``Storage.graph_json``);
    ``violations`` one value per constraint, ``<= 0`` when met; ``result`` the evaluator's
    result (learning curve, seconds, reason of a failure).
    """

    number: int
    state: TrialState
    encoding: Any
    fingerprint: str
    costs: Mapping[str, float] = field(default_factory=dict)
    violations: Mapping[str, float] = field(default_factory=dict)
    accuracy: float | None = None
    test_accuracy: float | None = None
    result: Mapping[str, Any] = field(default_factory=dict)
    parent: int | None = None
    budget: str | None = None
    attempts: int = 0
    started: float = 0.0
    finished: float | None = None
    graph_key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TrialState.parse(self.state))

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.violations.values())

    @property
    def is_finished(self) -> bool:
        return self.state.finished

    @property
    def order(self) -> tuple[str, ...] | None:
        """The execution order the costs were checked under (``None`` when not known)."""
        return self.costs.order if isinstance(self.costs, Costs) else None

    @property
    def reason(self) -> str:
        return str(self.result.get("reason", ""))

    def to_result(self) -> TrialResult:
        """What the strategy is told about this trial."""
        return TrialResult(self.number, self.encoding, self.state, self.accuracy,
                           dict(self.costs), dict(self.violations))
