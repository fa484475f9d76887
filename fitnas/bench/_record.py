"""What one benchmark run records: the best feasible value after each evaluation, and each
evaluation's value (and, added by the bench, its costs) for the hypervolume of the run's front.

Shared by the runs of fitnas strategies (through the Study) and of the Optuna baselines, so
both count proposals, evaluations and repeats the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Recorder", "RunResult", "StopRun"]


class StopRun(Exception):
    """Raised inside a run to end it at the proposal cap (never leaves the bench)."""


@dataclass(frozen=True)
class RunResult:
    """One run of one strategy with one seed.

    Attributes:
        seed: the strategy's (or sampler's) seed.
        best_after: the best feasible metric value after 1, 2, ... evaluations (``None`` before
            the first evaluation that found a value); as long as ``evaluations``.
        evaluations: architectures looked up in the table (repeats included; infeasible
            proposals are not looked up and not counted).
        proposals: everything the strategy proposed, infeasible ones included.
        seconds: wall time of the run.
        evaluated: the cellstr of each evaluation, in order (to check the limits afterwards).
        repeated: evaluations of an architecture this run had evaluated before.
        note: why the run stopped before its budget, else empty.
        values: the metric of each evaluation (``None``: the table has no value), aligned
            with ``evaluated``.
        costs: the costs of each evaluation over the bench's hypervolume objectives (filled by
            :class:`~fitnas.bench.nb201.NB201Bench`, empty otherwise), aligned with
            ``evaluated``.
    """

    seed: int
    best_after: list[float | None]
    evaluations: int
    proposals: int
    seconds: float
    evaluated: list[str] = field(default_factory=list)
    repeated: int = 0
    note: str = ""
    values: list[float | None] = field(default_factory=list)
    costs: list[dict[str, float]] = field(default_factory=list)

    def best_at(self, checkpoint: int) -> float | None:
        """The best value after ``checkpoint`` evaluations (the last one if the run stopped
        earlier; ``None`` if nothing was found by then)."""
        if not self.best_after:
            return None
        return self.best_after[min(checkpoint, len(self.best_after)) - 1]

    def to_dict(self, archs: bool = False) -> dict[str, Any]:
        """The JSON form; ``archs`` adds the list of evaluated cellstrs."""
        data: dict[str, Any] = {"seed": self.seed, "best_after": list(self.best_after),
                                "evaluations": self.evaluations, "proposals": self.proposals,
                                "seconds": round(self.seconds, 4), "repeated": self.repeated}
        if self.note:
            data["note"] = self.note
        if archs:
            data["evaluated"] = list(self.evaluated)
        return data


class Recorder:
    """Counts one run's proposals and evaluations and keeps the best value so far."""

    def __init__(self, seed: int, evals: int, max_proposals: int) -> None:
        self.seed, self.evals, self.max_proposals = seed, evals, max_proposals
        self.best: float | None = None
        self.best_after: list[float | None] = []
        self.evaluated: list[str] = []
        self.values: list[float | None] = []
        self.proposals = 0
        self.repeated = 0
        self._seen: set[str] = set()

    @property
    def done(self) -> bool:
        """The run has made its ``evals`` evaluations."""
        return len(self.evaluated) >= self.evals

    @property
    def capped(self) -> bool:
        """The run has made ``max_proposals`` proposals without finishing."""
        return self.proposals >= self.max_proposals and not self.done

    def proposed(self) -> None:
        self.proposals += 1

    def evaluation(self, cellstr: str, value: float | None) -> None:
        """Record one evaluation of ``cellstr``; ``value`` is its metric (``None``: no value,
        e.g. an architecture the table lacks)."""
        if cellstr in self._seen:
            self.repeated += 1
        self._seen.add(cellstr)
        self.evaluated.append(cellstr)
        self.values.append(value if value is not None and value == value else None)
        if value is not None and value == value and (self.best is None or value > self.best):
            self.best = value
        self.best_after.append(self.best)

    def cap_note(self) -> str:
        return (f"stopped at the cap of {self.max_proposals} proposals after "
                f"{len(self.evaluated)} of {self.evals} evaluations")

    def result(self, seconds: float, note: str = "") -> RunResult:
        if not note and self.capped:
            note = self.cap_note()
        return RunResult(seed=self.seed, best_after=list(self.best_after),
                         evaluations=len(self.evaluated), proposals=self.proposals,
                         seconds=seconds, evaluated=list(self.evaluated), repeated=self.repeated,
                         note=note, values=list(self.values))
