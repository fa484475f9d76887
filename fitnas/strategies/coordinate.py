"""``coordinate``: adaptive architecture learning, paper 002 (Chan et al.) Algorithm II.

The schedule of section 4: ``nrandom`` random samples (Algorithm I, :mod:`.random_search`),
then ``nadapt`` adaptive samples, both under the early-assessment budget of section 3.4 (the
evaluator's ``"early"`` budget), then ``nfinal`` adaptive samples trained fully (the paper's
50 + 50 + 20). After the schedule the search goes on with fully trained adaptive samples
until the Study's budget ends. The paper's counts are for its budget of 120 samples; when the
run's budget B is known (``Strategy.budget``) and the counts are not given, the random phase
is a tenth of it, ``nrandom = max(10, B // 10)``, ``nadapt = nrandom`` and ``nfinal = 2 nrandom
/ 5`` (the paper's proportions after its random phase). Half of a budget of 100 spent on
random samples made the strategy random search for its first 50 evaluations (issue 13).

An adaptive sample starts from the best architecture so far (Algorithm II's ``BestModel``) and
picks at random between

* a meta move: add a random layer after a random layer, or remove one (``AddLayer`` /
  ``RemoveLayer``, the space's :meth:`~fitnas.spaces.SearchSpace.add_layer` and
  :meth:`~fitnas.spaces.SearchSpace.remove_layer`), and
* a layer move: one coordinate of one layer (``n_filt``, ``filt_sz``, ``pool_sz``, ``sub_sz``,
  ``n_hidden`` in the chain space; see each space's ``coordinates``) scaled by 1.5 or 0.66
  (:meth:`~fitnas.spaces.SearchSpace.step`); while the score improves on the architecture it
  stepped from, the descent keeps stepping in the same direction (``LOOP DESCENT``).

Three repairs of the mechanism (issue 13), none specific to a space or a limit:

* **Moves that fit.** Costs are analytic, so every move is checked by the Study's feasibility
  oracle (:meth:`~fitnas.strategies.Strategy.fits`) before it is proposed; a move that is
  invalid, repeats an architecture already proposed or breaks a limit picks another coordinate
  (section 4.2) without costing a proposal.
* **Swaps.** Under a limit the best architectures sit on its boundary, where every step up
  breaks the limit and every step down loses accuracy: single steps stall. A step up that the
  oracle rejects is paired with a step down of another coordinate (``swap``: capacity moves
  from one layer or edge to another at about the same cost), the first such pair that fits.
* **Restarts.** When ``patience`` adaptive samples in a row have not improved on the best
  (default: twice the base's coordinates, at least 6), or the base has no new move that fits,
  the next moves start from the next-best architecture, and so on down the ranking; a new
  best resets this. Random samples are proposed only when no scored architecture has a move
  left.

Variants (section 3.5 and 3.6): ``async`` (default): every free worker gets an adaptive sample
from the current best at once; ``sequential``: an adaptive sample is proposed only when every
earlier one has finished (the baseline of Table 1, optimal for a fixed number of samples);
``nbest``: ``n_best`` threads of descent, thread ``k`` from the ``k``-th best architecture, the
next ``n_best`` proposals decided only when all of the batch have finished. The top-N majority
vote ensemble of Table 1 ("Async Ensemble") is built from a finished run by
:func:`fitnas.study.ensemble.build_ensemble` (``fitnas ensemble DIR``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..spaces import Encoding, InvalidEncoding, SearchSpace
from ._base import (
    Candidate,
    NotReady,
    Strategy,
    StrategyError,
    TrialResult,
    TrialState,
    register_strategy,
)
from ._moves import never_proposed
from .random_search import RandomSearch

__all__ = ["VARIANTS", "CoordinateDescent", "default_schedule"]

VARIANTS = ("async", "sequential", "nbest")
#: Random tries of a meta move (add or remove a layer) from one base.
META_TRIES = 8
#: The paper's schedule (section 4), used when the budget is unknown.
PAPER_SCHEDULE = (50, 50, 20)


def default_schedule(budget: int | None) -> tuple[int, int, int]:
    """``(nrandom, nadapt, nfinal)`` for a run of ``budget`` evaluations (module docstring)."""
    if budget is None:
        return PAPER_SCHEDULE
    nrandom = max(10, budget // 10)
    return nrandom, nrandom, max(1, 2 * nrandom // 5)


@dataclass(frozen=True)
class _Move:
    """What an outstanding proposal is: a random sample, a meta move, a coordinate step
    (``coordinate``, ``direction``) or a swap (``coordinate`` is the pair stepped up and down)
    from an architecture scored ``base_score``."""

    kind: str  # "random", "add", "remove", "step" or "swap"
    slot: int = 0  # the thread of descent (nbest); -1 for a sample of the random phase
    coordinate: Any = None
    direction: int = 0
    base_score: float = float("-inf")


@register_strategy
class CoordinateDescent(Strategy):
    """Random sampling, then stochastic coordinate descent from the best (paper 002 Alg. II).

    Args:
        space, seed: the search space and the seed of every random choice.
        nrandom, nadapt, nfinal: samples of the three phases (default: the paper's 50, 50, 20
            without a budget, else following the budget; see the module docstring).
        variant: ``async``, ``sequential`` or ``nbest`` (see the module docstring).
        n_best: threads of descent of the ``nbest`` variant (4 in the paper).
        early: the evaluator's budget name for the random and first adaptive samples
            (``"early"``); ``"none"`` trains every sample fully.
        max_attempts: Algorithm I's bound on random proposals in a row that fail the limits.
        swap: pair a step up that breaks a limit with a step down elsewhere (default on).
        patience: adaptive samples without a new best before the descent restarts from the
            next-best architecture (default: twice the base's coordinates, at least 6).
        budget: the evaluations the run plans (``None``: unknown).
    """

    name = "coordinate"
    summary = "random samples, then stochastic coordinate descent (Chan et al. 2018, Algorithm II)"

    def __init__(self, space: SearchSpace, seed: int = 0, nrandom: int | None = None,
                 nadapt: int | None = None, nfinal: int | None = None, variant: str = "async",
                 n_best: int = 4, early: str | None = "early", max_attempts: int = 2000,
                 swap: bool = True, patience: int | None = None,
                 budget: int | None = None) -> None:
        super().__init__(space, seed, budget)
        auto = default_schedule(self.budget)
        nrandom, nadapt, nfinal = (auto[i] if v is None else v
                                   for i, v in enumerate((nrandom, nadapt, nfinal)))
        for what, value in (("nrandom", nrandom), ("nadapt", nadapt), ("nfinal", nfinal)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise StrategyError(f"coordinate {what} must be an int >= 0, got {value!r}")
        if variant not in VARIANTS:
            raise StrategyError(f"coordinate variant must be one of {', '.join(VARIANTS)}, "
                                f"got {variant!r}")
        if isinstance(n_best, bool) or not isinstance(n_best, int) or n_best < 1:
            raise StrategyError(f"coordinate n_best must be an int >= 1, got {n_best!r}")
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int)
                                     or patience < 1):
            raise StrategyError(f"coordinate patience must be an int >= 1, got {patience!r}")
        if not isinstance(swap, bool):
            raise StrategyError(f"coordinate swap must be true or false, got {swap!r}")
        self.nrandom, self.nadapt, self.nfinal = nrandom, nadapt, nfinal
        self.variant, self.n_best, self.max_attempts = variant, n_best, max_attempts
        self.swap, self.patience = swap, patience
        self.early = None if early is None or str(early).lower() in ("", "none") else str(early)
        self._rng = random.Random(seed * 7919 + 17)
        self._seen: set[str] = set()
        self._random = RandomSearch(space, seed, max_attempts, seen=self._seen)
        self._samples = 0  # proposals that count in the schedule (not rejected ones)
        self._pending: dict[Encoding, _Move] = {}
        self._scores: dict[Encoding, float] = {}  # every scored architecture, in order
        self._ready: list[tuple[_Move, Encoding, float]] = []  # descents to continue
        self._slots: list[int] = []  # nbest: threads of the current batch still to propose
        self._stalled = 0  # adaptive results in a row that did not improve on the best
        self._restart = 0  # how far down the ranking the moves start
        self._spent: set[Encoding] = set()  # bases without a move left

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "budget": self.budget, "nrandom": self.nrandom,
                "nadapt": self.nadapt, "nfinal": self.nfinal, "variant": self.variant,
                "n_best": self.n_best, "early": self.early or "none",
                "max_attempts": self.max_attempts, "swap": self.swap, "patience": self.patience}

    # -------------------------------------------------------------------- ask
    def phase(self) -> str:
        """``random``, ``adaptive`` (early-assessed) or ``final`` (fully trained): the phase of
        the next sample."""
        if self._samples < self.nrandom:
            return "random"
        return "adaptive" if self._samples < self.nrandom + self.nadapt else "final"

    def ask(self) -> Candidate:
        phase = self.phase()
        budget = None if phase == "final" else self.early
        if phase == "random":
            return self._propose(self._random.ask().encoding, _Move("random", -1), phase, budget)
        if self.variant == "sequential" and self._pending:
            raise NotReady("sequential: waiting for the last sample")
        if not self._scores:
            if self._pending:
                raise NotReady("no sample has a score yet")
            return self._propose(self._random.ask().encoding, _Move("random", -1), phase, budget)
        slot = 0
        if self.variant == "nbest":
            if not self._slots:
                if self._pending:
                    raise NotReady("nbest: waiting for the batch to finish")
                self._slots = list(range(self.n_best))
            slot = self._slots.pop(0)
        found = self._continue_descent(slot) or self._new_move(slot)
        if found is None:  # no scored architecture has a move left: sample at random
            return self._propose(self._random.ask().encoding, _Move("random", slot), phase, budget)
        encoding, move = found
        return self._propose(encoding, move, phase, budget)

    def _propose(self, encoding: Encoding, move: _Move, phase: str, budget: str | None
                 ) -> Candidate:
        self._seen.add(self.space.fingerprint(encoding))
        self._pending[encoding] = move
        self._samples += 1
        info: dict[str, Any] = {"phase": phase, "move": move.kind}
        if move.kind in ("step", "swap"):
            info.update(coordinate=move.coordinate, direction=move.direction)
        return Candidate(encoding, budget=budget, info=info)

    def _ranked(self) -> list[tuple[Encoding, float]]:
        """Scored architectures, best first (earlier first among equals)."""
        return sorted(self._scores.items(), key=lambda item: -item[1])

    def _continue_descent(self, slot: int) -> tuple[Encoding, _Move] | None:
        """Algorithm II's ``CONTINUE LOOP_DESCENT``: one more step in the same direction from
        the architecture that just improved on its base."""
        for k, (move, encoding, score) in enumerate(self._ready):
            if move.slot != slot:
                continue
            del self._ready[k]
            if move.kind != "step":
                return None
            nxt = self._fresh(self.space.step, encoding, move.coordinate, move.direction)
            if nxt is not None:
                return nxt, _Move("step", slot, move.coordinate, move.direction, score)
            return None  # the direction is used up: a new move
        return None

    def _new_move(self, slot: int) -> tuple[Encoding, _Move] | None:
        """A random meta or layer move from the best (``nbest``: the ``slot``-th best; after a
        stall, further down the ranking), or from the next base that has a move left."""
        ranked = [(e, s) for e, s in self._ranked() if e not in self._spent]
        if not ranked:
            return None
        first = (slot + self._restart) % len(ranked)
        for base, score in ranked[first:] + ranked[:first]:
            found = self._move_from(base, score, slot)
            if found is not None:
                return found
            self._spent.add(base)
        return None

    def _move_from(self, base: Encoding, score: float, slot: int
                   ) -> tuple[Encoding, _Move] | None:
        """The first move of a random order over ``base``'s moves that is valid, new and fits:
        each coordinate step (with its swap when the step breaks a limit) and a few random
        meta moves, half of the tries of each kind as in Algorithm II's coin flip."""
        steps: list[tuple[str, Any, int]] = [("step", c, d) for c in self.space.coordinates(base)
                                             for d in (1, -1)]
        metas: list[tuple[str, Any, int]] = [(k, None, 0) for k in ("add", "remove")
                                             for _ in range(META_TRIES // 2)]
        self._rng.shuffle(steps)
        self._rng.shuffle(metas)
        for kind, coordinate, direction in _interleave(steps, metas, self._rng):
            if kind == "step":
                found = self._step_or_swap(base, coordinate, direction, score, slot)
                if found is not None:
                    return found
                continue
            mover = self.space.add_layer if kind == "add" else self.space.remove_layer
            nxt = self._fresh(mover, base, self._rng)
            if nxt is not None:
                return nxt, _Move(kind, slot, base_score=score)
        return None

    def _step_or_swap(self, base: Encoding, coordinate: Any, direction: int, score: float,
                      slot: int) -> tuple[Encoding, _Move] | None:
        """The step if it is new and fits; a step up that breaks a limit, with a step down of
        another coordinate that brings it back within the limits (a swap)."""
        try:
            stepped = self.space.validate(self.space.step(base, coordinate, direction))
        except InvalidEncoding:
            return None
        if self._usable(stepped):
            return stepped, _Move("step", slot, coordinate, direction, score)
        if not (self.swap and direction > 0 and self.breaks_limit(stepped)):
            return None
        others = [c for c in self.space.coordinates(stepped) if c != coordinate]
        self._rng.shuffle(others)
        for other in others:
            nxt = self._fresh(self.space.step, stepped, other, -1)
            if nxt is not None:
                return nxt, _Move("swap", slot, (coordinate, other), direction, score)
        return None

    def _usable(self, encoding: Encoding) -> bool:
        """Never proposed, and within the limits by the oracle."""
        return never_proposed(self.space, self._seen, encoding) and self.fits(encoding)

    def _fresh(self, move: Callable[..., Encoding], *args: Any) -> Encoding | None:
        """The encoding ``move(*args)`` returns if it is valid, new and fits, else ``None``."""
        try:
            encoding = self.space.validate(move(*args))
        except InvalidEncoding:
            return None
        return encoding if self._usable(encoding) else None

    # ------------------------------------------------------------------- tell
    def tell(self, result: TrialResult) -> None:
        encoding = self.space.validate(result.encoding)
        move = self._pending.pop(encoding, _Move("random", -1))
        if move.kind == "random":
            self._random.tell(result)
        if result.state == TrialState.INFEASIBLE:
            self._samples -= 1  # rejected before training: another coordinate is picked
            if self.variant == "nbest" and move.slot >= 0:
                self._slots.insert(0, move.slot)
            return
        if result.state != TrialState.COMPLETE or result.accuracy is None:
            return
        score = float(result.accuracy)
        best = max(self._scores.values(), default=float("-inf"))
        self._scores[encoding] = score
        if move.kind in ("step", "swap") and score > move.base_score:
            self._ready.append((move, encoding, score))
        if move.slot < 0:
            return  # the random phase: no descent to judge
        if score > best:
            self._stalled, self._restart = 0, 0
            return
        self._stalled += 1
        if self._stalled >= self._patience():
            self._stalled, self._restart = 0, self._restart + 1

    def _patience(self) -> int:
        if self.patience is not None:
            return self.patience
        best = self._ranked()[0][0]
        return max(6, 2 * len(self.space.coordinates(best)))


def _interleave(first: list[Any], second: list[Any], rng: random.Random) -> list[Any]:
    """The two lists merged by fair coin flips (each keeps its order)."""
    out: list[Any] = []
    i = j = 0
    while i < len(first) or j < len(second):
        if j >= len(second) or (i < len(first) and rng.random() < 0.5):
            out.append(first[i])
            i += 1
        else:
            out.append(second[j])
            j += 1
    return out
