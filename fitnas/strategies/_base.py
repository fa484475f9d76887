"""The strategy interface: ``ask()`` proposes, ``tell(result)`` learns (DESIGN.md, convention 1).

A strategy never trains a network, writes a file or starts a worker: the
:class:`~fitnas.study.Study` does all of that and hands each outcome back through ``tell``. A
strategy may decode encodings (``space.decode``) to reject invalid ones, as paper 002's
Algorithm I does, since decoding costs no training. Strategies are deterministic given their
seed and the sequence of ``ask`` and ``tell`` calls: the Study relies on it to resume a killed
run by replaying its log.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import FitnasError
from ..spaces import Encoding, SearchSpace
from ..states import TrialState

__all__ = [
    "Candidate",
    "NoFeasibleArchitecture",
    "NotReady",
    "Strategy",
    "StrategyError",
    "TrialResult",
    "TrialState",
    "create_strategy",
    "list_strategies",
    "register_strategy",
]

class StrategyError(FitnasError):
    """A strategy was misconfigured or misused."""


class NoFeasibleArchitecture(StrategyError):
    """No architecture of the space met the limits within the attempts allowed."""


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


class Strategy(ABC):
    """Proposes encodings of ``space``; subclasses implement :meth:`ask` and :meth:`tell`."""

    name: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed

    @abstractmethod
    def ask(self) -> Candidate:
        """The next candidate to evaluate."""

    @abstractmethod
    def tell(self, result: TrialResult) -> None:
        """Learn the outcome of a candidate this strategy proposed."""

    def get_config(self) -> dict[str, Any]:
        """Keyword arguments (besides ``space``) that rebuild this strategy."""
        return {"seed": self.seed}


_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a strategy available by ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    """Names of the registered strategies."""
    return sorted(_REGISTRY)


def create_strategy(name: str, space: SearchSpace, **kwargs: Any) -> Strategy:
    """A strategy by name; an unknown name lists the known ones."""
    if name not in _REGISTRY:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(list_strategies())}")
    try:
        return _REGISTRY[name](space, **kwargs)
    except TypeError as err:
        raise StrategyError(f"strategy {name!r}: {err}") from None
