"""``dcanas``: the ask/tell side of DCA-NAS (paper 004), the differentiable search.

DCA-NAS trains a supernet, which a strategy never does (DESIGN.md: the differentiable strategy
gets its own small interface, ``fitnas.supernet.DCANAS.fit``, and records its result through
the same Study). This strategy holds the search's options and, once the supernet searches have
run (``fitnas search`` runs them before the Study; from Python,
``fitnas.supernet.run_supernet_searches``), proposes the networks they derived, one trial each,
which the Study checks against the limits, trains from scratch and records like any candidate.
The derived genotypes are stored with the strategy's options (``derived``), so a resumed run
replays the same proposals without searching again.

Options (``--strategy dcanas:KEY=VALUE,...``):

* ``cost``: the constrained cost, ``params``, ``macs`` or ``peak`` (the peak activation
  bytes at the run's dtype, bounded through its expectation, ``fitnas.supernet.peak``; default:
  the first of the three the run limits, ``--max-params``, ``--max-macs``, ``--max-peak-mem``);
* ``target``: the search-time bound ``K_s`` (default: read off the look-up graph ``lug`` for the
  run's limit, else the limit itself);
* ``lug``: a look-up graph file from ``fitnas lug build`` (paper 004 section 3.2.1);
* ``constraint``: ``false`` searches without the Lagrangian term (first-order DARTS with the
  search-time reductions);
* ``within_limit``: a derived genotype over the run's limit on the constrained cost is brought
  under it, replacing kept operations by cheaper ones at the least loss of architecture weight
  (``fitnas.supernet.within``; default true; ``false`` records DARTS' derivation as it is);
* ``searches``: supernet searches with seeds ``seed, seed+1, ...``; each derived network is a
  trial and the Study keeps the most accurate (paper 004 appendix 0.D runs 5);
* the supernet's ``epochs``, ``batch_size``, ``lr``, ``arch_lr``, ``lambda_lr``,
  ``bottleneck`` (1: off), ``weight_sharing``, ``derived_cells``, ``lambda_on`` (``auto``, the
  default: ``derived`` on nb201, ``expected`` on darts; ``derived``: lambda ascends on the
  derived network's cost; ``expected``: on K(alpha), the paper's; see
  ``fitnas.supernet.search``) (``fitnas.supernet.search.SupernetConfig``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ..spaces import Encoding, SearchSpace
from ._base import Candidate, Strategy, StrategyDone, StrategyError, TrialResult, register_strategy

__all__ = ["SUPERNET_OPTIONS", "DCANASStrategy"]

#: The options that go to ``SupernetConfig``.
SUPERNET_OPTIONS = ("epochs", "batch_size", "lr", "arch_lr", "lambda_lr", "bottleneck",
                    "weight_sharing", "derived_cells", "lambda_on")


@register_strategy
class DCANASStrategy(Strategy):
    """Proposes the networks the supernet searches derived (see the module docstring)."""

    name = "dcanas"
    summary = "DCA-NAS: a supernet under a Lagrangian resource constraint derives the network"
    #: Trains a supernet before the Study runs (``fitnas search`` checks this attribute).
    differentiable: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, seed: int = 0, budget: int | None = None,
                 cost: str | None = None, target: float | None = None, lug: str | None = None,
                 constraint: bool = True, searches: int = 1, epochs: int = 10,
                 batch_size: int = 64, lr: float = 0.05, arch_lr: float = 3e-3,
                 lambda_lr: float = 0.05, bottleneck: int = 4, weight_sharing: bool = True,
                 derived_cells: bool = True, lambda_on: str = "auto",
                 within_limit: bool = True,
                 derived: Sequence[Any] | None = None) -> None:
        super().__init__(space, seed, budget)
        if space.name not in ("darts", "nb201"):
            raise StrategyError(f"dcanas searches the darts or the nb201 space, not "
                                f"{space.name!r}")
        if cost not in (None, "params", "macs", "peak"):
            raise StrategyError(f"dcanas cost must be params, macs or peak, got {cost!r}")
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                                   or not target > 0):
            raise StrategyError(f"dcanas target must be a positive number, got {target!r}")
        if not isinstance(constraint, bool):
            raise StrategyError(f"dcanas constraint must be true or false, got {constraint!r}")
        if isinstance(searches, bool) or not isinstance(searches, int) or not 1 <= searches <= 100:
            raise StrategyError(f"dcanas searches must be an int in 1..100, got {searches!r}")
        self.cost, self.target, self.lug = cost, target, lug
        if not isinstance(within_limit, bool):
            raise StrategyError(f"dcanas within_limit must be true or false, got "
                                f"{within_limit!r}")
        self.constraint, self.searches, self.within_limit = constraint, searches, within_limit
        self.supernet: dict[str, Any] = {"epochs": epochs, "batch_size": batch_size, "lr": lr,
                         "arch_lr": arch_lr, "lambda_lr": lambda_lr, "bottleneck": bottleneck,
                         "weight_sharing": weight_sharing, "derived_cells": derived_cells,
                         "lambda_on": lambda_on}
        from ..supernet.search import SupernetConfig

        try:
            SupernetConfig(**self.supernet, seed=seed)  # every option checked now
        except Exception as err:
            raise StrategyError(f"dcanas: {err}") from None
        self.derived: list[Encoding] | None = None
        if derived is not None:
            self.set_derived(derived)
        self._next = 0

    def set_derived(self, encodings: Sequence[Any]) -> None:
        """The networks the supernet searches derived (what :meth:`ask` proposes)."""
        if isinstance(encodings, (str, bytes)) or not isinstance(encodings, Sequence) \
                or not encodings:
            raise StrategyError("dcanas derived must be a non-empty list of encodings")
        self.derived = [self.space.validate(e) for e in encodings]

    def ask(self) -> Candidate:
        if self.derived is None:
            raise StrategyError(
                "the dcanas strategy proposes what its supernet searches derived, and none has "
                "run: use `fitnas search --strategy dcanas` or, from Python, "
                "fitnas.supernet.run_supernet_searches(...) before the Study")
        if self._next >= len(self.derived):
            raise StrategyDone(f"dcanas proposed the {len(self.derived)} derived network(s)")
        k = self._next
        self._next += 1
        return Candidate(self.derived[k], info={"supernet_search": k})

    def tell(self, result: TrialResult) -> None:
        pass  # the networks were chosen by the supernet; nothing to learn from their training

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cost": self.cost, "target": self.target,
                "lug": self.lug, "constraint": self.constraint, "searches": self.searches,
                "within_limit": self.within_limit,
                **self.supernet,
                "derived": (None if self.derived is None
                            else [self.space.to_data(e) for e in self.derived])}
