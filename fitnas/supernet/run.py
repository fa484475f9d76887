"""From a run's limits to derived networks: what the ``dcanas`` strategy's supernet searches
bound, at which target, and running them before the Study records what they derived.

:func:`plan_search` reads the constrained cost and the device limit ``K_d`` from the run's
constraints, checks the limit against the space's cheapest network (exact, before anything is
trained) and picks the search-time target ``K_s``: the strategy's ``target`` if given, else the
look-up graph's ``target_for(K_d)`` (paper 004 eq. 4), else ``K_d`` itself (the derived network
may then miss the limit: it is checked like any candidate; build a look-up graph to avoid it).
:func:`run_supernet_searches` runs the searches and hands the genotypes to the strategy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constraints import Constraints
from ..data import Dataset
from ..spaces import SearchSpace
from ..strategies.dcanas import DCANASStrategy
from ..units import format_bytes, format_count
from .expected import CostSurrogate, SupernetError, expected_cost
from .lug import LookupGraph
from .search import DCANAS, EpochReport, SearchResult, SupernetConfig

__all__ = ["SearchPlan", "checkpoint_path", "format_cost", "plan_search",
           "run_supernet_searches"]

_LIMIT_OF = {"params": "max_params", "macs": "max_macs", "peak": "max_peak_mem"}
_FLAG = {"params": "--max-params", "macs": "--max-macs", "peak": "--max-peak-mem"}


def format_cost(value: float, cost: str) -> str:
    """A cost as the CLI prints it: a count, or bytes for the peak."""
    return format_bytes(round(value)) if cost == "peak" else format_count(value)


@dataclass(frozen=True)
class SearchPlan:
    """What the supernet searches bound: ``cost`` at ``target`` (``None``: no constraint)
    for the device ``limit``; ``source`` says where the target came from."""

    cost: str
    limit: float | None
    target: float | None
    source: str
    smallest: float

    def describe(self) -> str:
        if self.target is None:
            return "no constraint (first-order DARTS); the derived network is checked against " \
                   "the limits after the search"
        limit = f" for the limit {format_cost(self.limit, self.cost)} {self.cost}" \
            if self.limit else ""
        return f"K(alpha) <= {format_cost(self.target, self.cost)} {self.cost}{limit} " \
               f"({self.source})"


def plan_search(strategy: DCANASStrategy, space: SearchSpace, constraints: Constraints,
                dataset: str) -> SearchPlan:
    """The cost, limit and target of the strategy's searches; one-line errors for a limit
    below the space's cheapest network, a missing limit, a supernet that would not fit in
    memory (estimated before allocating), or a look-up graph of another space, dataset or
    cost."""
    limits = constraints.limits
    cost = strategy.cost or next((c for c in ("params", "macs", "peak")
                                  if getattr(limits, _LIMIT_OF[c]) is not None), "params")
    expected = expected_cost(space, cost, constraints.dtype)
    smallest = expected.smallest()
    limit = getattr(limits, _LIMIT_OF[cost])
    if limit is not None and limit < smallest:
        raise SupernetError(
            f"{_FLAG[cost]} {format_cost(limit, cost)} is below the smallest network of the "
            f"{space.name} space ({format_cost(smallest, cost)} {cost}, its cheapest genotype): "
            "raise the limit or make the space smaller (e.g. fewer channels or layers)")
    _check_other_limits(expected, constraints)
    from .memory import check_fits

    options = strategy.supernet
    check_fits(space, int(options["batch_size"]), weight_sharing=options["weight_sharing"],
               bottleneck=options["bottleneck"], derived_cells=options["derived_cells"])
    if not strategy.constraint:
        return SearchPlan(cost, limit, None, "constraint=false", smallest)
    if strategy.target is not None:
        if strategy.target <= smallest:
            raise SupernetError(f"dcanas target {format_cost(strategy.target, cost)} is not above "
                                f"the smallest network of the space "
                                f"({format_cost(smallest, cost)} {cost})")
        return SearchPlan(cost, limit, float(strategy.target), "the target option", smallest)
    if limit is None:
        raise SupernetError(f"dcanas constrains {cost}: give a limit ({_FLAG[cost]}) or a "
                            "target (--strategy dcanas:target=N), or constraint=false")
    if strategy.lug:
        graph = LookupGraph.load(strategy.lug)
        graph.check_matches(space, dataset, cost, constraints.dtype)
        return SearchPlan(cost, limit, graph.target_for(limit),
                          f"read off the look-up graph {strategy.lug}", smallest)
    return SearchPlan(cost, limit, float(limit), "the limit itself: no look-up graph (lug=FILE), "
                      "so the derived network may exceed it", smallest)


def _check_other_limits(expected: CostSurrogate, constraints: Constraints) -> None:
    """Refuse a search no derived network could pass: the cheapest genotype of the space
    already breaks an analytic limit the supernet does not bound (e.g. a device's RAM)."""
    from ..constraints import LIMIT_COSTS

    check = constraints.check(expected.space.decode(expected.cheapest()))
    broken = [name for name, v in check.violations.items() if v > 0
              and name not in ("max_params", "max_macs", _LIMIT_OF[expected.cost])]
    if broken:
        what = "; ".join(f"{name.replace('_', '-')} {getattr(constraints.limits, name):,}, the "
                         f"cheapest needs {check.costs[LIMIT_COSTS[name]]:,.0f}"
                         for name in broken)
        raise SupernetError(
            f"even the cheapest network of the {expected.space.name} space breaks --{what}: "
            f"the supernet bounds only {expected.cost}; raise that limit, pick another --device "
            "(or none), or make the space smaller")


def run_supernet_searches(strategy: DCANASStrategy, space: SearchSpace, dataset: Dataset,
                          plan: SearchPlan,
                          progress: Callable[[int, EpochReport], None] | None = None,
                          device: str = "cpu", dtype: str = "fp32",
                          checkpoints: Path | None = None) -> list[SearchResult]:
    """Run the strategy's ``searches`` supernet searches (seeds ``seed, seed+1, ...``) and give
    it their genotypes; ``progress(search, report)`` after each supernet epoch. ``dtype``: the
    run's (what a ``peak`` is counted at). ``checkpoints``: a folder where search ``k`` keeps
    ``supernet-k.pt`` after every epoch and continues from it when run again
    (:meth:`DCANAS.fit`)."""
    results = []
    for k in range(strategy.searches):
        config = SupernetConfig(**strategy.supernet, seed=strategy.seed + k, device=device)
        search = DCANAS(space, plan.cost, plan.target, config,
                        limit=plan.limit if strategy.within_limit else None, dtype=dtype)

        def report(r: EpochReport, k: int = k) -> None:
            if progress is not None:
                progress(k, r)

        search.fit(dataset, report, None if checkpoints is None else
                   checkpoint_path(checkpoints, k))
        assert search.result is not None
        results.append(search.result)
    strategy.set_derived([r.genotype for r in results])
    return results


def checkpoint_path(folder: Path, search: int) -> Path:
    """Where search ``search`` of a run keeps its supernet checkpoint."""
    return folder / f"supernet-{search}.pt"


def results_data(space: SearchSpace, plan: SearchPlan, results: list[SearchResult]
                 ) -> dict[str, Any]:
    """What ``supernet.json`` holds: the plan and each search's history."""
    return {"cost": plan.cost, "limit": plan.limit, "target": plan.target,
            "source": plan.source, "smallest": plan.smallest,
            "searches": [r.to_dict(space) for r in results]}
