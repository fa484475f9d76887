"""``growtrim``: MemNAS's augment-and-trim search with a relative ranking controller (paper 000).

Each iteration (paper 000 section 3 and Fig. 1) takes the architecture selected by the
previous one, enumerates all of its 'grow' (augment, eq. 1) and 'trim' (eq. 2) neighbours,
ranks them with the relative ranking controller (:class:`fitnas.predictors.RankingController`,
section 3.2), trains the top ``k`` that meet the limits (a candidate the Study finds over the
limits is replaced by the next in the ranking and costs no training), and selects the one with
the best merit score of eq. 4 relative to the previous selection
(:func:`fitnas.predictors.merit_score`: relative accuracy change weighted by ``lambda_alpha``
minus the relative changes of peak activation memory and parameter memory weighted by
``lambda_beta``, so more memory lowers the score). When no candidate has a positive merit,
the previous selection stays selected and the next iteration trains the next ``k`` of its
re-ranked neighbours (the paper always moves to the best candidate; staying keeps the search
from drifting to worse networks when a whole top K disappoints). After each iteration the
controller is retrained on every trained candidate, each scored against the selection of its
own iteration, with eq. 3's memory term weighted by ``lambda_beta / lambda_alpha``
(``controller=gru``, Table 4's single-GRU baseline, regresses the merit alone: it has no
memory term, and the merit's ``lambda_beta`` term already weighs the memory).

Retraining: the paper retrains the controller every iteration. A fit costs about the same
whatever the number of samples (one optimizer step per epoch up to 512 of them), so retraining
every iteration made the controller, not the search, the cost of a run on a benchmark table
(30 s for 200 evaluations). Here the first fit trains ``controller_epochs`` epochs from
scratch; later ones continue from the last weights for a quarter of them (``warm_start``),
and only once the trained set has grown by ``refit_growth`` (default 1.5, i.e. by half) since
the last fit; ``refit_growth=1`` refits every iteration as the paper does. Between fits the
controller ranks with what it learned so far.

Neighbours that the Study's feasibility oracle finds over a limit are dropped before the
ranking (:meth:`~fitnas.strategies.Strategy.fits`), so the top ``k`` are ``k`` candidates that
can be trained. When fewer than ``k`` of a selection's grow and trim neighbours are new and fit
(under a limit the selection sits on its boundary, where growing breaks the limit), its *swap*
neighbours join the ranking: a grow neighbour over the limit repaired by one of its trims
(:func:`fitnas.strategies._moves.swaps`, up to ``2 k`` of them), trained like grown ones.

Trimmed candidates inherit their parent's weights and are fine-tuned with the evaluator's
``"finetune"`` budget (paper 000 section 4: 20 epochs instead of 60); grown ones train from
scratch with the full budget, or inherit too with ``inherit_grown``. The first selection is the
most accurate of ``initial`` random samples (fully trained), which are also the controller's
first training set. When a selection has no new neighbour that fits, the search continues
from the most accurate trained architecture that still has some, and from new random samples
when none has.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
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
from ._moves import never_proposed, swaps
from .random_search import RandomSearch

__all__ = ["CONTROLLERS", "GrowTrim"]

#: ``ranking``: paper 000's relative ranking controller; ``gru``: the single-network GRU
#: regressor (Table 4's baseline); ``none``: neighbours in random order (an ablation).
CONTROLLERS = ("ranking", "gru", "none")


@dataclass(frozen=True)
class _Trained:
    """A trained architecture: its trial number, accuracy and memory."""

    number: int
    encoding: Encoding
    accuracy: float
    peak_bytes: float
    param_bytes: float


@dataclass
class _Iteration:
    """One iteration: the parent, its ranked neighbours still to propose, and the outcomes."""

    parent: _Trained | None
    queue: list[tuple[Encoding, str]]
    enumerated: int = 0
    proposed: int = 0
    pending: set[Encoding] = field(default_factory=set)
    trained: list[_Trained] = field(default_factory=list)
    swapped: bool = False  # the swap neighbours were added to the queue


@register_strategy
class GrowTrim(Strategy):
    """MemNAS grow-and-trim search (paper 000, sections 3.1-3.3).

    Args:
        space, seed: the search space and the seed of every random choice.
        k: candidates trained per iteration (the top K of the controller's ranking).
        lambda_alpha, lambda_beta: the weights of eq. 4 (and of eq. 3: ``lambda_beta /
            lambda_alpha``). The default 0.5 and 0 selects on accuracy alone: the hard limits
            bound the memory (on the benchmark grid of issue 13 the paper's 0.5 and 0.5 was
            worse than random search in 11 of 15 cells at 50 evaluations); give
            ``lambda_beta=0.5`` for the paper's trade-off of accuracy against memory.
        initial: random samples that give the first selection and the controller's first
            training set (default ``k``).
        inherit_grown: grown candidates start from their parent's weights too (and train with
            the full budget); by default they train from scratch.
        finetune: the evaluator's budget name for trimmed candidates (``"none"``: full).
        controller: ``ranking``, ``gru`` or ``none`` (see :data:`CONTROLLERS`).
        controller_epochs: training epochs of the controller's first fit (a quarter of them
            at each later one).
        refit_growth: the factor (>= 1) by which the trained set must have grown since the
            controller's last fit before it is fitted again (1: every iteration).
        max_attempts: Algorithm I's bound for the random samples.
        budget: the evaluations the run plans (``None``: unknown; unused).
    """

    name = "growtrim"
    summary = "MemNAS grow-and-trim with a relative ranking controller (Liu et al. 2019)"

    def __init__(self, space: SearchSpace, seed: int = 0, k: int = 8, lambda_alpha: float = 0.5,
                 lambda_beta: float = 0.0, initial: int | None = None, inherit_grown: bool = False,
                 finetune: str | None = "finetune", controller: str = "ranking",
                 controller_epochs: int = 60, max_attempts: int = 2000,
                 refit_growth: float = 1.5, budget: int | None = None) -> None:
        super().__init__(space, seed, budget)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise StrategyError(f"growtrim k must be an int >= 1, got {k!r}")
        initial = k if initial is None else initial
        if isinstance(initial, bool) or not isinstance(initial, int) or initial < 1:
            raise StrategyError(f"growtrim initial must be an int >= 1, got {initial!r}")
        if not (lambda_alpha > 0 and lambda_beta >= 0):
            raise StrategyError(f"growtrim needs lambda_alpha > 0 and lambda_beta >= 0, got "
                                f"{lambda_alpha!r} and {lambda_beta!r}")
        if controller not in CONTROLLERS:
            raise StrategyError(f"growtrim controller must be one of {', '.join(CONTROLLERS)}, "
                                f"got {controller!r}")
        if isinstance(controller_epochs, bool) or not isinstance(controller_epochs, int) \
                or controller_epochs < 1:
            raise StrategyError(f"growtrim controller_epochs must be an int >= 1, got "
                                f"{controller_epochs!r}")
        if isinstance(refit_growth, bool) or not isinstance(refit_growth, (int, float)) \
                or not refit_growth >= 1:
            raise StrategyError(f"growtrim refit_growth must be a number >= 1, got "
                                f"{refit_growth!r}")
        self.refit_growth = float(refit_growth)
        self._fitted_on = 0  # trained samples at the controller's last fit
        #: how many times the controller was fitted (from scratch or warm)
        self.controller_fits = 0
        self.k, self.initial = k, initial
        self.lambda_alpha, self.lambda_beta = float(lambda_alpha), float(lambda_beta)
        self.inherit_grown = bool(inherit_grown)
        self.finetune = None if finetune is None or str(finetune).lower() in ("", "none") \
            else str(finetune)
        self.controller, self.controller_epochs = controller, controller_epochs
        self.max_attempts = max_attempts
        self._rng = random.Random(seed * 7919 + 29)
        self._seen: set[str] = set()
        self._random = RandomSearch(space, seed, max_attempts, seen=self._seen)
        self._model: Any = None
        self._exhausted: set[Encoding] = set()  # parents without a new feasible neighbour
        self._trained: dict[Encoding, _Trained] = {}
        self._history: list[_Iteration] = []  # finished iterations (the controller's data)
        self._iteration = _Iteration(None, [])  # the initial random samples
        self.selected: list[_Trained] = []  # the selection of each iteration, in order

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "budget": self.budget, "k": self.k, "lambda_alpha": self.lambda_alpha,
                "lambda_beta": self.lambda_beta, "initial": self.initial,
                "inherit_grown": self.inherit_grown, "finetune": self.finetune or "none",
                "controller": self.controller, "controller_epochs": self.controller_epochs,
                "refit_growth": self.refit_growth, "max_attempts": self.max_attempts}

    # ---------------------------------------------------------------- the moves
    def neighbours(self, encoding: Encoding) -> list[tuple[Encoding, str]]:
        """Every grow (eq. 1) and trim (eq. 2) neighbour of ``encoding``, with its kind."""
        return ([(e, "grow") for e in self.space.grow(encoding)]
                + [(e, "trim") for e in self.space.trim(encoding)])

    @property
    def iteration(self) -> int:
        """The number of the running iteration (0: the initial random samples)."""
        return len(self._history)

    @property
    def enumerated(self) -> int:
        """How many neighbours the running iteration enumerated (eq. 1 plus eq. 2)."""
        return self._iteration.enumerated

    # --------------------------------------------------------------------- ask
    def ask(self) -> Candidate:
        while True:
            it = self._iteration
            if it.parent is None:  # the initial random samples
                if it.proposed < self.initial:
                    return self._propose(self._random.ask().encoding, "initial", None, it)
            else:
                while it.queue and it.proposed < self.k:
                    encoding, kind = it.queue.pop(0)
                    if self._is_new(encoding):
                        return self._propose(encoding, kind, it.parent, it)
                if it.proposed < self.k and not it.swapped and self.has_oracle:
                    it.swapped = True  # fewer than k plain neighbours fit: add the swaps
                    extra = swaps(self, it.parent.encoding, self._rng, self._is_new, 2 * self.k)
                    if extra:
                        it.queue = self._rank([(e, "swap") for e in extra])
                        continue
            if it.pending:
                raise NotReady(f"waiting for the candidates of iteration {self.iteration}")
            self._next_iteration()

    def _propose(self, encoding: Encoding, kind: str, parent: _Trained | None,
                 it: _Iteration) -> Candidate:
        self._seen.add(self.space.fingerprint(encoding))
        it.pending.add(encoding)
        it.proposed += 1
        info: dict[str, Any] = {"iteration": self.iteration, "move": kind}
        if parent is None:
            return Candidate(encoding, info=info)
        if kind == "trim":
            return Candidate(encoding, parent=parent.number, budget=self.finetune, info=info)
        return Candidate(encoding, parent=parent.number if self.inherit_grown else None,
                         info=info)

    def _is_new(self, encoding: Encoding) -> bool:
        """Never proposed in this run, and within the limits by the oracle."""
        return never_proposed(self.space, self._seen, encoding) and self.fits(encoding)

    # -------------------------------------------------------------------- tell
    def tell(self, result: TrialResult) -> None:
        encoding = self.space.validate(result.encoding)
        it = self._iteration
        initial = it.parent is None
        if initial:
            self._random.tell(result)
        if encoding not in it.pending:
            return
        it.pending.discard(encoding)
        if result.state == TrialState.INFEASIBLE:
            it.proposed -= 1  # replaced by the next candidate of the ranking
            return
        if result.state == TrialState.COMPLETE and result.accuracy is not None:
            trained = _Trained(result.number, encoding, float(result.accuracy),
                               *self._memory(encoding, result.costs))
            it.trained.append(trained)
            self._trained[encoding] = trained

    def _memory(self, encoding: Encoding, costs: Any) -> tuple[float, float]:
        """Peak activation bytes and parameter bytes (from the Study's costs when given)."""
        if "peak_activation_bytes" in costs and "param_bytes" in costs:
            return float(costs["peak_activation_bytes"]), float(costs["param_bytes"])
        from ..costs import estimate

        est = estimate(self.space.graph(encoding))
        return float(est.peak_activation_bytes), float(est.param_bytes)

    # --------------------------------------------------------------- iterations
    def merit(self, child: _Trained, parent: _Trained) -> float:
        """Eq. 4 of ``child`` against ``parent`` (see :func:`fitnas.predictors.merit_score`)."""
        from ..predictors import merit_score

        return merit_score(child.accuracy, child.peak_bytes, child.param_bytes, parent.accuracy,
                           parent.peak_bytes, parent.param_bytes, self.lambda_alpha,
                           self.lambda_beta)

    def _next_iteration(self) -> None:
        """Select (eq. 4), retrain the controller, and rank the new parent's neighbours."""
        done = self._iteration
        if done.parent is None:  # the initial samples: the most accurate is the first parent
            chosen = max(done.trained, key=lambda t: t.accuracy, default=None)
            group_parent = chosen
        else:
            parent = group_parent = done.parent
            best = max(done.trained, key=lambda t: self.merit(t, parent), default=None)
            # the parent stays selected unless a candidate improves on it (eq. 4 > 0)
            chosen = best if best is not None and self.merit(best, parent) > 0 else parent
            if done.proposed == 0:  # no new neighbour met the limits
                self._exhausted.add(parent.encoding)
        if done.trained and group_parent is not None:
            self._history.append(_Iteration(group_parent, [], trained=list(done.trained)))
            self._retrain()
        if chosen is None or chosen.encoding in self._exhausted:
            chosen = max((t for t in self._trained.values() if t.encoding not in self._exhausted),
                         key=lambda t: t.accuracy, default=None)
        if chosen is None:  # nothing left to expand: random samples seed the next iteration
            self._iteration = _Iteration(None, [])
            return
        self.selected.append(chosen)
        neighbours = self.neighbours(chosen.encoding)
        self._iteration = _Iteration(chosen, self._rank(neighbours), enumerated=len(neighbours))

    def _samples(self) -> list[list[Any]]:
        from ..predictors import Sample

        groups = []
        for it in self._history:
            assert it.parent is not None
            parent = it.parent
            groups.append([Sample(tuple(self.space.to_tokens(t.encoding)), self.merit(t, parent),
                                  t.param_bytes, t.peak_bytes) for t in it.trained])
        return groups

    def _retrain(self) -> None:
        """The controller fitted on every trained candidate (paper 000 section 3.2), from
        scratch the first time, then warm once the trained set has grown by ``refit_growth``.

        ``ranking`` takes eq. 3's memory term with weight ``lambda_beta / lambda_alpha``.
        ``gru`` is Table 4's single-GRU baseline, which regresses each candidate's score (the
        eq. 4 merit, whose ``lambda_beta`` term already carries the memory) and has no memory
        head, so it gets no memory weight.
        """
        if self.controller == "none":
            return
        samples = self._samples()
        trained = sum(len(group) for group in samples)
        if self._model is not None and trained < self.refit_growth * self._fitted_on:
            return
        self._fitted_on = trained
        self.controller_fits += 1
        if self._model is not None:  # a warm refit (see the module docstring)
            self._model.fit(samples, epochs=max(1, self.controller_epochs // 4),
                            warm_start=True)
            return
        from ..predictors import GRURegressor, RankingController

        model: RankingController | GRURegressor
        if self.controller == "ranking":
            model = RankingController(self.space.vocab_size,
                                      memory_weight=self.lambda_beta / self.lambda_alpha,
                                      epochs=self.controller_epochs, seed=self.seed)
        else:
            model = GRURegressor(self.space.vocab_size, epochs=self.controller_epochs,
                                 seed=self.seed)
        self._model = model.fit(samples)

    def _rank(self, candidates: list[tuple[Encoding, str]]) -> list[tuple[Encoding, str]]:
        """The candidates best first by the controller (random order without one)."""
        if self._model is None or len(candidates) < 2:
            shuffled = list(candidates)
            self._rng.shuffle(shuffled)
            return shuffled
        scores = self._model.predict([self.space.to_tokens(e) for e, _ in candidates])
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])
        return [candidates[i] for i in order]
