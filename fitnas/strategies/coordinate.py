"""``coordinate``: adaptive architecture learning, paper 002 (Chan et al.) Algorithm II.

The schedule of section 4: ``nrandom`` random samples (Algorithm I, :mod:`.random_search`),
then ``nadapt`` adaptive samples, both under the early-assessment budget of section 3.4 (the
evaluator's ``"early"`` budget), then ``nfinal`` adaptive samples trained fully (the paper's
50 + 50 + 20). After the schedule the search goes on with fully trained adaptive samples
until the Study's budget ends.

An adaptive sample starts from the best architecture so far (Algorithm II's ``BestModel``) and
picks at random between

* a meta move: add a random layer after a random layer, or remove one (``AddLayer`` /
  ``RemoveLayer``, the space's :meth:`~fitnas.spaces.SearchSpace.add_layer` and
  :meth:`~fitnas.spaces.SearchSpace.remove_layer`), and
* a layer move: one coordinate of one layer (``n_filt``, ``filt_sz``, ``pool_sz``, ``sub_sz``,
  ``n_hidden`` in the chain space; see each space's ``coordinates``) scaled by 1.5 or 0.66
  (:meth:`~fitnas.spaces.SearchSpace.step`); while the score improves on the architecture it
  stepped from, the descent keeps stepping in the same direction (``LOOP DESCENT``).

A move that is invalid, repeats an architecture already proposed, or fails the hard limits
(the Study reports it INFEASIBLE before training) picks another coordinate (section 4.2); such
proposals do not count as samples of the schedule.

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
from .random_search import RandomSearch

__all__ = ["VARIANTS", "CoordinateDescent"]

VARIANTS = ("async", "sequential", "nbest")
#: How many moves from one base are tried before falling back to a random sample.
MOVE_TRIES = 200


@dataclass(frozen=True)
class _Move:
    """What an outstanding proposal is: a random sample, a meta move, or a coordinate step
    (``coordinate``, ``direction``) from an architecture scored ``base_score``."""

    kind: str  # "random", "add", "remove" or "step"
    slot: int = 0  # the thread of descent (nbest); -1 for a sample of the random phase
    coordinate: Any = None
    direction: int = 0
    base_score: float = float("-inf")


@register_strategy
class CoordinateDescent(Strategy):
    """Random sampling, then stochastic coordinate descent from the best (paper 002 Alg. II).

    Args:
        space, seed: the search space and the seed of every random choice.
        nrandom, nadapt, nfinal: samples of the three phases (50, 50, 20 in the paper).
        variant: ``async``, ``sequential`` or ``nbest`` (see the module docstring).
        n_best: threads of descent of the ``nbest`` variant (4 in the paper).
        early: the evaluator's budget name for the random and first adaptive samples
            (``"early"``); ``"none"`` trains every sample fully.
        max_attempts: Algorithm I's bound on random proposals in a row that fail the limits.
    """

    name = "coordinate"
    summary = "random samples, then stochastic coordinate descent (Chan et al. 2018, Algorithm II)"

    def __init__(self, space: SearchSpace, seed: int = 0, nrandom: int = 50, nadapt: int = 50,
                 nfinal: int = 20, variant: str = "async", n_best: int = 4,
                 early: str | None = "early", max_attempts: int = 2000) -> None:
        super().__init__(space, seed)
        for what, value in (("nrandom", nrandom), ("nadapt", nadapt), ("nfinal", nfinal)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise StrategyError(f"coordinate {what} must be an int >= 0, got {value!r}")
        if variant not in VARIANTS:
            raise StrategyError(f"coordinate variant must be one of {', '.join(VARIANTS)}, "
                                f"got {variant!r}")
        if isinstance(n_best, bool) or not isinstance(n_best, int) or n_best < 1:
            raise StrategyError(f"coordinate n_best must be an int >= 1, got {n_best!r}")
        self.nrandom, self.nadapt, self.nfinal = nrandom, nadapt, nfinal
        self.variant, self.n_best, self.max_attempts = variant, n_best, max_attempts
        self.early = None if early is None or str(early).lower() in ("", "none") else str(early)
        self._rng = random.Random(seed * 7919 + 17)
        self._seen: set[str] = set()
        self._random = RandomSearch(space, seed, max_attempts, seen=self._seen)
        self._samples = 0  # proposals that count in the schedule (not rejected ones)
        self._pending: dict[Encoding, _Move] = {}
        self._scores: dict[Encoding, float] = {}  # every scored architecture, in order
        self._ready: list[tuple[_Move, Encoding, float]] = []  # descents to continue
        self._slots: list[int] = []  # nbest: threads of the current batch still to propose

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "nrandom": self.nrandom, "nadapt": self.nadapt,
                "nfinal": self.nfinal, "variant": self.variant, "n_best": self.n_best,
                "early": self.early or "none", "max_attempts": self.max_attempts}

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
        if found is None:  # no new neighbour of the best: sample at random
            return self._propose(self._random.ask().encoding, _Move("random", slot), phase, budget)
        encoding, move = found
        return self._propose(encoding, move, phase, budget)

    def _propose(self, encoding: Encoding, move: _Move, phase: str, budget: str | None
                 ) -> Candidate:
        self._seen.add(self.space.fingerprint(encoding))
        self._pending[encoding] = move
        self._samples += 1
        info: dict[str, Any] = {"phase": phase, "move": move.kind}
        if move.kind == "step":
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
            nxt = self._fresh(self.space.step, encoding, move.coordinate, move.direction)
            if nxt is not None:
                return nxt, _Move("step", slot, move.coordinate, move.direction, score)
            return None  # the direction is used up: a new move
        return None

    def _new_move(self, slot: int) -> tuple[Encoding, _Move] | None:
        """A random meta or layer move from the best (``nbest``: the ``slot``-th best)."""
        ranked = self._ranked()
        base, score = ranked[min(slot, len(ranked) - 1)]
        for _ in range(MOVE_TRIES):
            coordinates = self.space.coordinates(base)
            if coordinates and self._rng.random() < 0.5:
                coordinate = coordinates[self._rng.randrange(len(coordinates))]
                direction = self._rng.choice((1, -1))
                nxt = self._fresh(self.space.step, base, coordinate, direction)
                if nxt is not None:
                    return nxt, _Move("step", slot, coordinate, direction, score)
            else:
                kind = self._rng.choice(("add", "remove"))
                mover = self.space.add_layer if kind == "add" else self.space.remove_layer
                nxt = self._fresh(mover, base, self._rng)
                if nxt is not None:
                    return nxt, _Move(kind, slot, base_score=score)
        return None

    def _fresh(self, move: Callable[..., Encoding], *args: Any) -> Encoding | None:
        """The encoding ``move(*args)`` returns if it is valid and new, else ``None``."""
        try:
            encoding = self.space.validate(move(*args))
            fingerprint = self.space.fingerprint(encoding)
        except InvalidEncoding:
            return None
        return None if fingerprint in self._seen else encoding

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
        self._scores[encoding] = score
        if move.kind == "step" and score > move.base_score:
            self._ready.append((move, encoding, score))
