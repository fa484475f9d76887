"""The evaluator interface: ``evaluate(candidate) -> EvalResult``, which never raises.

DESIGN.md: the Study owns evaluation; an evaluator turns one candidate (an ArchGraph, or an
encoding its ``decode`` turns into one, or a table key) into an :class:`EvalResult`. A
candidate that fails (the loss becomes NaN or infinite, an exception, out of memory) gives
``state == TrialState.FAILED`` and the reason, so one bad architecture never stops a search.
Implementations override ``_evaluate``; ``evaluate`` adds the guard and the timing.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import failure_reason
from ..states import TrialState

__all__ = ["EvalResult", "Evaluator"]


@dataclass(frozen=True)
class EvalResult:
    """The outcome of evaluating one candidate. Accuracies are fractions in 0..1.

    Attributes:
        state: ``TrialState.COMPLETE`` or ``TrialState.FAILED``.
        reason: why it failed (empty when ok).
        val_accuracy: validation accuracy (the search objective); ``None`` when failed.
        test_accuracy: test accuracy, when asked for and available.
        curve: the learning curve, one dict per point (epoch, step, seconds, lr, train_loss,
            val_accuracy); empty for a table look-up.
        seconds: wall time of the evaluation.
        epochs: epochs trained (0 for a look-up).
        extra: anything else worth storing (weight inheritance report, table key, budget).
    """

    state: TrialState
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    curve: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0
    epochs: float = 0.0
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TrialState.parse(self.state))

    @property
    def ok(self) -> bool:
        return self.state == TrialState.COMPLETE

    @staticmethod
    def failed(reason: str, seconds: float = 0.0, **extra: Any) -> EvalResult:
        return EvalResult(TrialState.FAILED, seconds=seconds, reason=reason, extra=dict(extra))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["curve"] = [dict(p) for p in self.curve]
        data["state"] = self.state.value
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> EvalResult:
        known = dict(data)
        known["curve"] = tuple(dict(p) for p in known.get("curve", ()))
        return EvalResult(**known)


class Evaluator(ABC):
    """Evaluates candidates; subclasses implement ``_evaluate``.

    What an evaluator can do is asked through these methods, never by its type:
    :attr:`trains_weights` (its results come with trained weights a child may inherit and a
    run may export), :meth:`weights_of`, :meth:`candidate_for` (what it evaluates: the decoded
    graph, or the encoding itself for a table keyed by encodings), :meth:`set_threads` (the
    share of the cores a worker process gives it), :meth:`holdout_accuracy` (the test split's
    score of a finished candidate) and :meth:`preprocess` (the input normalization).
    """

    name = "evaluator"
    #: Whether a COMPLETE evaluation leaves trained weights (see :meth:`weights_of`).
    trains_weights = False

    def candidate_for(self, encoding: Any, graph: Any) -> Any:
        """What :meth:`evaluate` is given for a trial: its graph, by default."""
        return graph

    def weights_of(self, candidate: Any) -> tuple[Any, dict[str, Any]] | None:
        """The ``(graph, state_dict)`` of a trained candidate, if kept; ``None`` here."""
        return None

    def set_threads(self, threads: int) -> None:
        """Use at most ``threads`` CPU threads (a worker's share of the cores); no-op here."""
        return None

    def holdout_accuracy(self, candidate: Any, module: Any = None) -> float | None:
        """The held-out test accuracy of a finished candidate (a fraction), scored once at the
        end of a search (``fitnas.study.holdout``): ``module`` is its trained network restored
        from the run's weights when :attr:`trains_weights`. ``None``: this evaluator has no
        test split (the default)."""
        return None

    def preprocess(self) -> dict[str, Any] | None:
        """The input normalization a deployed model needs (``fitnas.data.Preprocess.to_dict``),
        saved with the run's configuration; ``None`` when the evaluator has no dataset."""
        return None

    def evaluate(self, candidate: Any, *, parent: Any = None, test: bool = False,
                 budget: str | None = None) -> EvalResult:
        """Evaluate ``candidate``; never raises (except ``KeyboardInterrupt``).

        ``budget`` names a training budget the evaluator knows (a strategy's
        ``Candidate.budget``, e.g. ``"early"``); ``None`` is the evaluator's full budget.
        """
        start = time.perf_counter()
        try:
            return self._evaluate(candidate, parent=parent, test=test, budget=budget)
        except Exception as err:
            return EvalResult.failed(failure_reason(err), time.perf_counter() - start)

    @abstractmethod
    def _evaluate(self, candidate: Any, *, parent: Any, test: bool, budget: str | None = None
                  ) -> EvalResult:
        """Evaluate one candidate; may raise (``evaluate`` turns it into a failure)."""

    @abstractmethod
    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-able, saved with every run."""
