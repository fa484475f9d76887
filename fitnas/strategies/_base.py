"""The strategy interface: ``ask()`` proposes, ``tell(result)`` learns (DESIGN.md, convention 1).

A strategy never trains a network, writes a file or starts a worker: the
:class:`~fitnas.study.Study` does all of that and hands each outcome back through ``tell``. A
strategy may decode encodings (``space.decode``) to reject invalid ones, as paper 002's
Algorithm I does, since decoding costs no training. Strategies are deterministic given their
seed and the sequence of ``ask`` and ``tell`` calls: the Study relies on it to resume a killed
run by replaying its log.

Two things a strategy may use besides ``tell``:

* ``budget``: the number of evaluations the run plans (``None`` when it is unknown, e.g. a
  budget of wall time only), given at construction and stored with the strategy's settings, so
  that the phases of a strategy can follow the budget (a random phase of a tenth of it rather
  than a fixed 50 samples) and a resumed run replays with the same value.
* the **feasibility oracle** (:meth:`Strategy.set_oracle`, set by the Study): the analytic costs
  of a candidate and its violations of the hard limits, from the Study's own
  :class:`~fitnas.constraints.Constraints`, without proposing it. Costs are analytic and cost
  no training, so a strategy that moves locally can pick only neighbours that fit
  (:meth:`Strategy.fits`) instead of proposing ones the Study would reject. Limits that need a
  measurement (latency) are not in the oracle's verdict: the Study still checks them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import FitnasError
from ..spaces import Encoding, InvalidEncoding, SearchSpace
from ..states import TrialState

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
    "check_budget",
    "create_strategy",
    "list_strategies",
    "register_strategy",
    "strategy_class",
]

class StrategyError(FitnasError):
    """A strategy was misconfigured or misused."""


class NoFeasibleArchitecture(StrategyError):
    """No architecture of the space met the limits within the attempts allowed."""


class StrategyDone(StrategyError):
    """Raised by ``ask`` when the strategy has proposed everything it had (e.g. ``dcanas``,
    which proposes the networks its supernet searches derived): the Study finishes what is
    running and ends the search, whatever the verdicts of the trials so far."""


class NotReady(StrategyError):
    """Raised by ``ask`` when the strategy must see the results of the candidates still running
    before it proposes another (a synchronous step, e.g. paper 002's N-best variant or MemNAS's
    selection among the top K). The Study then waits for a result and asks again."""


@dataclass(frozen=True)
class Candidate:
    """One proposal: an encoding, optionally the trial it derives from (for weight
    inheritance) and a training budget name the evaluator understands (e.g. ``"early"``)."""

    encoding: Encoding
    parent: int | None = None
    budget: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialResult:
    """What a strategy learns about one of its candidates."""

    number: int
    encoding: Encoding
    state: TrialState
    accuracy: float | None
    costs: Mapping[str, float]
    violations: Mapping[str, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TrialState.parse(self.state))

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.violations.values())


@dataclass(frozen=True)
class Verdict:
    """The feasibility oracle's answer for one candidate: its analytic costs, the violation
    ``(cost - limit) / limit`` of each analytic limit, and whether all are met."""

    feasible: bool
    costs: Mapping[str, float]
    violations: Mapping[str, float]


#: The oracle's type: a verdict for an encoding; raises ``InvalidEncoding`` when it does not
#: decode.
Oracle = Callable[[Encoding], Verdict]


def check_budget(budget: Any) -> int | None:
    """``budget`` as an int >= 1 or ``None``; anything else is a one-line error."""
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise StrategyError(f"a strategy's budget must be an int >= 1 (evaluations) or none, "
                            f"got {budget!r}")
    return budget


class Strategy(ABC):
    """Proposes encodings of ``space``; subclasses implement :meth:`ask` and :meth:`tell`.

    Args:
        space, seed: the search space and the seed of every random choice.
        budget: the evaluations the run plans (``None``: unknown); see the module docstring.
    """

    name: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, space: SearchSpace, seed: int = 0, budget: int | None = None) -> None:
        self.space = space
        self.seed = seed
        self.budget = check_budget(budget)
        self._oracle: Oracle | None = None
        #: The run's cost objectives besides accuracy (the costs of its Pareto front), which a
        #: multi-objective strategy selects over; set by the Study (:meth:`set_objectives`).
        self.objectives: tuple[str, ...] = ()

    def set_objectives(self, objectives: Sequence[str]) -> None:
        """Give the strategy the run's cost objectives (``Costs`` keys, e.g. ``params`` or
        ``latency_ms@stm32f746-disco``); the Study calls it before the first ``ask``."""
        self.objectives = tuple(objectives)

    def set_oracle(self, oracle: Oracle | None) -> None:
        """Give the strategy the Study's feasibility oracle (``None`` removes it)."""
        self._oracle = oracle

    @property
    def has_oracle(self) -> bool:
        return self._oracle is not None

    def verdict(self, encoding: Encoding) -> Verdict | None:
        """The oracle's verdict on ``encoding`` (``None`` without an oracle); raises
        ``InvalidEncoding`` when the encoding does not decode."""
        return None if self._oracle is None else self._oracle(encoding)

    def fits(self, encoding: Encoding) -> bool:
        """Whether ``encoding`` decodes and may meet the limits: ``False`` only when it is
        invalid or the oracle finds an analytic limit violated (``True`` without an oracle,
        when the Study will decide)."""
        try:
            verdict = self.verdict(encoding)
        except InvalidEncoding:
            return False
        return verdict is None or verdict.feasible

    def breaks_limit(self, encoding: Encoding) -> bool:
        """Whether ``encoding`` decodes and the oracle finds an analytic limit violated
        (``False`` without an oracle): a network a swap or repair may bring back."""
        try:
            verdict = self.verdict(encoding)
        except InvalidEncoding:
            return False
        return verdict is not None and not verdict.feasible

    @abstractmethod
    def ask(self) -> Candidate:
        """The next candidate to evaluate."""

    @abstractmethod
    def tell(self, result: TrialResult) -> None:
        """Learn the outcome of a candidate this strategy proposed."""

    def get_config(self) -> dict[str, Any]:
        """Keyword arguments (besides ``space``) that rebuild this strategy."""
        return {"seed": self.seed, "budget": self.budget}

    @classmethod
    def required_costs(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The costs (``Costs`` keys) this strategy with ``options`` needs for every candidate,
        e.g. ``energy_uj`` for an energy reward: checked against the run's cost model before
        anything is written."""
        return ()


_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a strategy available by ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    """Names of the registered strategies."""
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name``; an unknown name lists the known ones."""
    if name not in _REGISTRY:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(list_strategies())}")
    return _REGISTRY[name]


def create_strategy(name: str, space: SearchSpace, **kwargs: Any) -> Strategy:
    """A strategy by name; an unknown name lists the known ones."""
    if name not in _REGISTRY:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(list_strategies())}")
    accepted = strategy_options(name)
    unknown = sorted(set(kwargs) - set(accepted) - {"seed"})
    if unknown:
        raise StrategyError(f"strategy {name!r} has no option {unknown[0]!r}; accepted: "
                            f"{', '.join(accepted) or 'none'}")
    for key, value in kwargs.items():
        _check_option_value(name, key, value)
    try:
        return _REGISTRY[name](space, **kwargs)
    except (TypeError, ValueError, OverflowError) as err:
        raise StrategyError(f"strategy {name!r}: {err}") from None


#: The largest integer a strategy option takes (a count of trials, samples or units).
MAX_OPTION_INT = 2**31 - 1


def _check_option_value(name: str, key: str, value: Any) -> None:
    """Option values are finite numbers up to :data:`MAX_OPTION_INT`, bools, strings or
    ``None``; each strategy then checks its own ranges."""
    import math

    if (isinstance(value, float) and not math.isfinite(value)) or (
            isinstance(value, int) and not isinstance(value, bool)
            and abs(value) > MAX_OPTION_INT):
        raise StrategyError(f"strategy {name!r}: option {key}={value!r} is out of range; "
                            f"numbers must be finite and at most {MAX_OPTION_INT:,}")


def strategy_options(name: str) -> list[str]:
    """The options of strategy ``name`` (its constructor's keyword arguments but the space and
    the seed, which the Study passes)."""
    import inspect

    if name not in _REGISTRY:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(list_strategies())}")
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(_REGISTRY[name].__init__).parameters
    return [p for p, param in params.items()
            if p not in ("self", "space", "seed") and param.kind in kinds]
