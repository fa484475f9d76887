"""``evolution``: regularized ("aging") evolution, Real et al., "Regularized Evolution for Image
Classifier Architecture Search", AAAI 2019, Algorithm 1.

The population starts as ``population`` random architectures (constrained random sampling,
:mod:`.random_search`). Then each cycle samples ``sample`` members of the population uniformly
without replacement (the tournament), mutates the most accurate of them (the space's
:meth:`~fitnas.spaces.SearchSpace.mutations`: every architecture one edit away, e.g. one edge's
operation in nb201; one is drawn at random), evaluates the child, adds it to the population
and removes the *oldest* member (not the worst: the aging that regularizes the search, since a
network survives only by having accurate descendants). Real et al. find it the strongest of
evolution, REINFORCE and random search on their benchmarks, and so does NAS-Bench-201 (Dong &
Yang 2020, Table 5).

fitnas differences, each general to every space:

* a child is drawn among the mutations that are new (never proposed in this run: a repeat would
  spend an evaluation on a known result) and that fit the limits by the Study's feasibility
  oracle (:meth:`~fitnas.strategies.Strategy.fits`); a mutation that breaks a limit is
  repaired by a trim when one fits (a swap, :mod:`fitnas.strategies._moves`: under a limit
  the best networks sit on its boundary, where a single edit that adds capacity never fits);
  a parent without such a child is replaced by another tournament, and after
  ``MAX_TOURNAMENTS`` of them by a random sample;
* the sizes follow the budget when it is known (``population`` and ``sample`` default to
  ``None``): ``population = clamp(budget // 10, 10, 100)``, so a tenth of the evaluations is the
  random start, and ``sample = max(2, population // 4)``; without a budget 25 and 6. Real et al.
  use P = 100 and S = 25 for 20,000 models, the same ratio of sample to population;
* asynchronous like the original: with several workers every free one gets a child of the
  current population at once; a FAILED child does not join the population and an INFEASIBLE
  one (a limit the oracle does not know, e.g. latency) is replaced by another proposal.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from ..spaces import Encoding, SearchSpace
from ._base import (
    Candidate,
    NotReady,
    Strategy,
    StrategyError,
    TrialResult,
    TrialState,
    register_strategy,
)
from ._moves import never_proposed, repaired
from .random_search import RandomSearch

__all__ = ["MAX_TOURNAMENTS", "REPAIR_TRIES", "RegularizedEvolution", "default_sizes"]

#: Tournaments tried for one child before a random sample is proposed instead.
MAX_TOURNAMENTS = 20
#: Mutations over a limit that one child may try to repair by a trim.
REPAIR_TRIES = 2


def default_sizes(budget: int | None) -> tuple[int, int]:
    """The population and tournament sizes for a run of ``budget`` evaluations."""
    population = 25 if budget is None else min(100, max(10, budget // 10))
    return population, max(2, population // 4)


@register_strategy
class RegularizedEvolution(Strategy):
    """Aging evolution (Real et al. 2019, Algorithm 1); see the module docstring.

    Args:
        space, seed, budget: the search space, the seed of every random choice and the planned
            evaluations (``None``: unknown).
        population: P, the population size (default: follows the budget).
        sample: S, the tournament size, at least 1; a value above P is taken as P (default:
            follows the population).
        max_attempts: Algorithm I's bound for the random samples.
    """

    name = "evolution"
    summary = "regularized (aging) evolution (Real et al. 2019)"

    def __init__(self, space: SearchSpace, seed: int = 0, budget: int | None = None,
                 population: int | None = None, sample: int | None = None,
                 max_attempts: int = 2000) -> None:
        super().__init__(space, seed, budget)
        auto_p, auto_s = default_sizes(self.budget)
        population = auto_p if population is None else population
        if isinstance(population, bool) or not isinstance(population, int) or population < 1:
            raise StrategyError(f"evolution population must be an int >= 1, got {population!r}")
        sample = auto_s if sample is None else sample
        sample = min(sample, population) if isinstance(sample, int) else sample
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise StrategyError(f"evolution sample must be an int >= 1, got {sample!r}")
        self.population, self.sample, self.max_attempts = population, sample, max_attempts
        self._rng = random.Random(seed * 7919 + 41)
        self._seen: set[str] = set()
        self._random = RandomSearch(space, seed, max_attempts, seen=self._seen)
        self._started = 0  # proposals of the initial population (infeasible ones do not count)
        self._members: deque[tuple[Encoding, float]] = deque()
        self._pending: dict[Encoding, str] = {}

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "budget": self.budget, "population": self.population,
                "sample": self.sample, "max_attempts": self.max_attempts}

    @property
    def members(self) -> list[tuple[Encoding, float]]:
        """The population, oldest first: (encoding, accuracy)."""
        return list(self._members)

    # -------------------------------------------------------------------- ask
    def ask(self) -> Candidate:
        if self._started < self.population:
            self._started += 1
            return self._propose(self._random.ask().encoding, "initial")
        if not self._members:
            if self._pending:
                raise NotReady("waiting for the first members of the population")
            return self._propose(self._random.ask().encoding, "random")
        for _ in range(MAX_TOURNAMENTS):
            found = self._mutate(self._tournament())
            if found is not None:
                return self._propose(*found)
        return self._propose(self._random.ask().encoding, "random")

    def _tournament(self) -> Encoding:
        """The most accurate of ``sample`` members drawn without replacement (the younger
        among equals)."""
        k = min(self.sample, len(self._members))
        drawn = self._rng.sample(range(len(self._members)), k)
        best = max(drawn, key=lambda i: (self._members[i][1], i))
        return self._members[best][0]

    def _mutate(self, parent: Encoding) -> tuple[Encoding, str] | None:
        """A random mutation of ``parent`` that is new and fits, or one that breaks a limit
        repaired by a trim (:func:`~fitnas.strategies._moves.repaired`, at most
        ``REPAIR_TRIES`` per child), else ``None``. The mutations are tried in a random order,
        each decoded only when its turn comes."""
        options = self.space.mutations(parent)
        self._rng.shuffle(options)
        repairs = REPAIR_TRIES
        for child in options:
            if not self._is_new(child):
                continue
            if self.fits(child):
                return child, "mutation"
            if repairs > 0:
                repairs -= 1
                fixed = repaired(self, child, self._rng, self._is_new, avoid=parent)
                if fixed is not None:
                    return fixed, "repair"
        return None

    def _is_new(self, encoding: Encoding) -> bool:
        return never_proposed(self.space, self._seen, encoding)

    def _propose(self, encoding: Encoding, kind: str) -> Candidate:
        self._seen.add(self.space.fingerprint(encoding))
        self._pending[encoding] = kind
        return Candidate(encoding, info={"move": kind})

    # ------------------------------------------------------------------- tell
    def tell(self, result: TrialResult) -> None:
        encoding = self.space.validate(result.encoding)
        kind = self._pending.pop(encoding, "random")
        if kind in ("initial", "random"):
            self._random.tell(result)
        if result.state == TrialState.INFEASIBLE:
            if kind == "initial":
                self._started -= 1  # another random member instead
            return
        if result.state != TrialState.COMPLETE or result.accuracy is None:
            return
        self._members.append((encoding, float(result.accuracy)))
        if len(self._members) > self.population:
            self._members.popleft()  # aging: the oldest dies
