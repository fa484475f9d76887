"""``progressive``: DPP-Net's sequential model-based optimization (paper 003 section 4.1, Fig. 4).

Round 0 trains the space's smallest networks (:meth:`~fitnas.spaces.SearchSpace.grow_roots`:
DPP-Net's 1-layer cells; on ``nb201`` the all-``none`` cell). Each later round

1. *mutates*: takes every grow child (:meth:`~fitnas.spaces.SearchSpace.grow`, "all possible
   l+1-layer blocks") of every network the previous round selected (its K', all of them),
   and removes duplicates (the same encoding, or the same network by
   :meth:`~fitnas.spaces.SearchSpace.fingerprint`, the first in enumeration order kept),
   networks proposed in an earlier round, and those the Study's feasibility oracle finds over
   a hard limit (:meth:`~fitnas.strategies.Strategy.fits`);
2. *regresses accuracy* with zero training: :class:`fitnas.predictors.LSTMRegressor` (PNAS'
   LSTM ensemble). Before the trained networks hold two distinct accuracies (round 1 after a
   single root) the regressor has nothing to learn from; the prediction is then the prior
   "more computation, more accurate": predicted error ``-log(1 + MACs)``, which puts every
   child whose costs differ on the first front, so the selection spreads over the costs;
3. *selects K by Pareto optimality* over (predicted error, each objective): the run's cost
   objectives (``self.objectives``, set by the Study; ``params`` and ``peak_activation_bytes``
   without one), read from the oracle's analytic costs (the default cost model's without an
   oracle). K is filled from successive non-dominated fronts (``moocore.pareto_rank``); the
   front that does not fit whole is cut by ``tiebreak``: ``hypervolume`` removes the members of
   least exact hypervolume contribution (``moocore.hv_contributions``) one at a time,
   recomputing after each (SMS-EMOA's reduction, Beume et al. 2007), or about half of the
   excess at once when the front has more than 64 members (the exact contribution in 5
   objectives costs tens of ms for 150 points); ``crowding`` keeps the largest NSGA-II
   crowding distances (Deb et al. 2002). Objectives are min-max normalized over the round's
   candidates and the reference point is 1.1 on every axis, so the extremes of the front count;
4. *trains* the K with the evaluator's early-assessment budget (``early``, ``"early"`` by
   default; DPP-Net trains each selected network "for N epochs"). A candidate the Study finds
   INFEASIBLE (a limit the oracle cannot check, e.g. a measured latency) is replaced by the
   next selection among the round's remaining candidates; a FAILED one is recorded, is not in
   the regressor's data, and the round still completes;
5. *updates the regressor* once every result of the round is told (a synchronous round:
   :class:`~fitnas.strategies.NotReady` while any is running), on every trained network: the
   first fit trains ``epochs`` epochs from scratch, each later update continues from the last
   weights for a quarter of them (``warm_start``, the default; ``warm_start=false`` refits
   from scratch every round). Paper 003 says "update"; warm updates cost a fifth of the time of
   a refit (5.6 s instead of 29 s for a 200-evaluation run on NAS-Bench-201, where the
   regressor is nearly all of the strategy's time) and found fronts as good on the benchmark
   of ``benchmarks/dppnet_regressor.py``.

Rounds go on until the selection has no child left (or ``max_layers`` rounds, round 0
counted: on a space whose roots are 1-layer cells, cells of at most ``max_layers`` layers; on
``nb201``, at most ``max_layers - 1`` grow steps from the all-``none`` cell). A larger budget
then keeps the search going (fitnas' choice, the paper stops there): later rounds take their
candidates from the grow children of *every* network evaluated so far within ``max_layers``
(the frontier of the whole search), selected the same way. When the frontier is empty too,
``ask`` raises :class:`~fitnas.strategies.NoFeasibleArchitecture` as random search does at the
end of a space, and the Study finishes. A space without ``grow_roots`` (``chain``, ``cells``)
starts from K constrained random samples (paper 002 Algorithm I) instead, and restarts from K
new ones when its frontier is empty.

Choices where the paper is open: the prior before any data (step 2), the normalization and
reference of the hypervolume (step 3), the frontier continuation, and: the proposal order
within a round is shuffled by the seed (the round is trained as a set), and exact ties in the
selection are broken by a seeded random key per candidate.
"""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..spaces import Encoding, InvalidEncoding, SearchSpace, SpaceError
from ._base import (
    Candidate,
    NoFeasibleArchitecture,
    NotReady,
    Strategy,
    StrategyError,
    TrialResult,
    TrialState,
    register_strategy,
)
from ._moves import never_proposed
from .random_search import RandomSearch

__all__ = ["DEFAULT_OBJECTIVES", "TIEBREAKS", "Progressive", "Round", "crowding_distance",
           "pareto_select"]

#: How the last front is cut to fill K (module docstring, step 3).
TIEBREAKS = ("hypervolume", "crowding")
#: The cost objectives when the Study gives none (as its own default without limits).
DEFAULT_OBJECTIVES = ("params", "peak_activation_bytes")
#: A front larger than this loses about half of its excess per hypervolume computation.
_GREEDY_UP_TO = 64
_REFERENCE = 1.1


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row of ``points`` (one front, minimized): the sum
    over objectives of the normalized gap between its neighbours; the extremes get infinity."""
    n, m = points.shape
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for j in range(m):
        order = np.argsort(points[:, j], kind="stable")
        span = points[order[-1], j] - points[order[0], j]
        out[order[0]] = out[order[-1]] = math.inf
        if span > 0:
            out[order[1:-1]] += (points[order[2:], j] - points[order[:-2], j]) / span
    return out


def _cut(front: list[int], need: int, points: np.ndarray, keys: list[float],
         tiebreak: str) -> list[int]:
    """``need`` members of ``front`` (indices into ``points``) by the tiebreak."""
    if tiebreak == "crowding":
        dist = crowding_distance(points[front])
        order = sorted(range(len(front)), key=lambda i: (-dist[i], keys[front[i]]))
        return [front[i] for i in order[:need]]
    import moocore

    kept = list(front)
    ref = np.full(points.shape[1], _REFERENCE)
    while len(kept) > need:
        contrib = moocore.hv_contributions(points[kept], ref=ref)
        drop = 1 if len(kept) <= _GREEDY_UP_TO else max(1, (len(kept) - need) // 2)
        order = sorted(range(len(kept)), key=lambda i: (contrib[i], -keys[kept[i]]))
        gone = set(order[:drop])
        kept = [c for i, c in enumerate(kept) if i not in gone]
    return kept


def pareto_select(points: np.ndarray, k: int, tiebreak: str = "hypervolume",
                  keys: list[float] | None = None) -> list[int]:
    """The indices of ``k`` rows of ``points`` (minimized objectives), filled from successive
    non-dominated fronts, the last cut by ``tiebreak`` (module docstring, step 3); all rows
    when there are at most ``k``. ``keys`` break exact ties (smaller first)."""
    n = len(points)
    if n <= k:
        return list(range(n))
    import moocore

    keys = keys if keys is not None else [float(i) for i in range(n)]
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (points - low) / span
    ranks = moocore.pareto_rank(scaled)
    chosen: list[int] = []
    for rank in range(int(ranks.max()) + 1):
        front = sorted((int(i) for i in np.flatnonzero(ranks == rank)), key=lambda i: keys[i])
        if len(chosen) + len(front) <= k:
            chosen += front
        else:
            chosen += _cut(front, k - len(chosen), scaled, keys, tiebreak)
        if len(chosen) >= k:
            break
    return chosen


@dataclass
class Round:
    """One round: its candidates after the filters, their predicted accuracy, and outcomes.

    ``kind``: ``roots``, ``random`` (a space without roots), ``grow`` (the children of the
    previous selection) or ``frontier`` (the children of every evaluated network).
    ``enumerated``: the grow children before the filters (with repeats)."""

    number: int
    kind: str
    parents: list[Encoding]
    enumerated: int = 0
    children: list[Encoding] = field(default_factory=list)
    depth: dict[Encoding, int] = field(default_factory=dict)  # 0 for roots and random samples
    predicted: dict[Encoding, float] = field(default_factory=dict)
    selected: list[Encoding] = field(default_factory=list)
    queue: list[Encoding] = field(default_factory=list)
    proposed: int = 0  # proposals that were not INFEASIBLE
    pending: set[Encoding] = field(default_factory=set)
    trained: list[tuple[Encoding, float]] = field(default_factory=list)
    failed: list[Encoding] = field(default_factory=list)
    infeasible: list[Encoding] = field(default_factory=list)


@register_strategy
class Progressive(Strategy):
    """DPP-Net's progressive Pareto-optimal search (paper 003 section 4.1); module docstring.

    Args:
        space, seed, budget: the search space, the seed of every random choice and the planned
            evaluations (``None``: unknown; unused).
        k: networks selected and trained per round (K).
        max_layers: rounds, round 0 included (``None``: until no child remains).
        ensemble, epochs: the regressor's members and training epochs of its first fit.
        warm_start: later updates continue from the last weights for ``epochs // 4``
            epochs (else every update trains ``epochs`` from scratch).
        tiebreak: ``hypervolume`` or ``crowding`` (:data:`TIEBREAKS`).
        early: the evaluator's budget name for every candidate (``"none"``: full training).
    """

    name = "progressive"
    summary = "DPP-Net progressive search, LSTM regressor + Pareto selection (Dong et al. 2018)"

    def __init__(self, space: SearchSpace, seed: int = 0, k: int = 8, max_layers: int | None = None,
                 ensemble: int = 5, epochs: int = 60, warm_start: bool = True,
                 tiebreak: str = "hypervolume", early: str | None = "early",
                 budget: int | None = None) -> None:
        super().__init__(space, seed, budget)
        for key, value, high in (("k", k, 1 << 16), ("ensemble", ensemble, 64),
                                 ("epochs", epochs, 100_000)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise StrategyError(f"progressive {key} must be an int in 1..{high:,}, got "
                                    f"{value!r}")
        if max_layers is not None and (isinstance(max_layers, bool) or not isinstance(
                max_layers, int) or not 1 <= max_layers <= 1 << 16):
            raise StrategyError(f"progressive max_layers must be an int in 1..65,536 or none, "
                                f"got {max_layers!r}")
        if tiebreak not in TIEBREAKS:
            raise StrategyError(f"progressive tiebreak must be one of {', '.join(TIEBREAKS)}, "
                                f"got {tiebreak!r}")
        self.k, self.max_layers, self.ensemble, self.epochs = k, max_layers, ensemble, epochs
        if not isinstance(warm_start, bool):
            raise StrategyError(f"progressive warm_start must be true or false, got "
                                f"{warm_start!r}")
        self.tiebreak, self.warm_start = tiebreak, warm_start
        self.early = None if early is None or str(early).lower() in ("", "none") else str(early)
        self._rng = random.Random(seed * 7919 + 53)
        self._seen: set[str] = set()
        self._random = RandomSearch(space, seed, seen=self._seen)
        self._depth: dict[Encoding, int] = {}  # evaluated (not INFEASIBLE) networks, by round
        self._data: dict[Encoding, float] = {}  # trained networks: accuracy
        self._costs: dict[Encoding, dict[str, float]] = {}  # without an oracle
        self._cost_model: Any = None
        self._warned: set[str] = set()
        self._model: Any = None
        #: how many times the regressor was fitted or updated
        self.regressor_fits = 0
        #: every round so far, the running one last
        self.rounds: list[Round] = []
        self._start()

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "budget": self.budget, "k": self.k,
                "max_layers": self.max_layers, "ensemble": self.ensemble, "epochs": self.epochs,
                "warm_start": self.warm_start, "tiebreak": self.tiebreak,
                "early": self.early or "none"}

    @property
    def selection_objectives(self) -> tuple[str, ...]:
        """The cost objectives of the selection (the run's, else :data:`DEFAULT_OBJECTIVES`)."""
        return self.objectives or DEFAULT_OBJECTIVES

    # ------------------------------------------------------------------ rounds
    def _start(self) -> None:
        """Round 0: the space's roots that fit, else K random samples."""
        try:
            roots = list(self.space.grow_roots())
        except SpaceError:
            roots = []
        fitting = self._filter(roots)
        if fitting:
            self.rounds.append(Round(0, "roots", [], len(roots), fitting, selected=fitting,
                                     queue=list(fitting), depth=dict.fromkeys(fitting, 0)))
        else:
            self.rounds.append(Round(len(self.rounds), "random", []))

    def _filter(self, encodings: list[Encoding]) -> list[Encoding]:
        """``encodings`` without repeats (encoding or fingerprint), networks proposed before,
        and those over a limit by the oracle; the first of equals kept."""
        out: list[Encoding] = []
        fingerprints: set[str] = set()
        for enc in dict.fromkeys(encodings):
            try:
                fp = self.space.fingerprint(enc)
            except InvalidEncoding:
                continue
            if fp in fingerprints or fp in self._seen or not self.fits(enc):
                continue
            fingerprints.add(fp)
            out.append(enc)
        return out

    def _children(self, parents: list[Encoding]) -> tuple[list[Encoding], dict[Encoding, int]]:
        """The grow children of ``parents`` within ``max_layers`` (with repeats), and the
        round of each (one more than its shallowest parent's)."""
        raw: list[Encoding] = []
        depth: dict[Encoding, int] = {}
        for parent in parents:
            level = self._depth[parent] + 1
            if self.max_layers is not None and level >= self.max_layers:
                continue
            for child in self.space.grow(parent):
                raw.append(child)
                depth[child] = min(level, depth.get(child, level))
        return raw, depth

    def _next_round(self) -> None:
        """Update the regressor (step 5), then mutate, predict and select (steps 1-3)."""
        done = self.rounds[-1]
        self._refit()
        number = len(self.rounds)
        grown = [e for e in done.selected if e in self._depth]
        kind = "grow"
        raw, depth = self._children(grown)
        children = self._filter(raw)
        if not children:  # the selection has no child left: the frontier of the whole search
            kind, grown = "frontier", list(self._depth)
            raw, depth = self._children(grown)
            children = self._filter(raw)
        if not children:
            if self.rounds[0].kind == "random" or not self._depth:
                # a space without roots, or no root could be evaluated: new random samples
                self.rounds.append(Round(number, "random", []))
                return
            raise NoFeasibleArchitecture(
                f"progressive search of the {self.space.name} space is done: every grow child "
                f"of the {len(self._depth)} networks evaluated"
                + (f" within max_layers={self.max_layers}" if self.max_layers else "")
                + " was proposed or is over the limits")
        it = Round(number, kind, grown, len(raw), children,
                   depth={e: depth[e] for e in children})
        it.predicted = dict(zip(children, self._predict(children)))
        it.selected = self._select(it, self.k)
        it.queue = list(it.selected)
        self._rng.shuffle(it.queue)
        self.rounds.append(it)

    def _refit(self) -> None:
        if len(set(self._data.values())) < 2:
            return
        from ..predictors import LSTMRegressor

        encodings = list(self._data)
        tokens = [self.space.to_tokens(e) for e in encodings]
        accuracies = [self._data[e] for e in encodings]
        self.regressor_fits += 1
        if self._model is not None and self.warm_start:
            self._model.fit(tokens, accuracies, epochs=max(1, self.epochs // 4), warm_start=True)
            return
        self._model = LSTMRegressor(self.space.vocab_size, ensemble=self.ensemble,
                                    epochs=self.epochs, seed=self.seed).fit(tokens, accuracies)

    def _predict(self, encodings: list[Encoding]) -> list[float]:
        """Predicted accuracy (step 2), or the prior ``log(1 + MACs)`` before the regressor."""
        if self._model is None:
            return [math.log1p(self._costs_of(e).get("macs", 0.0)) for e in encodings]
        return list(self._model.predict([self.space.to_tokens(e) for e in encodings]))

    def _costs_of(self, enc: Encoding) -> dict[str, float]:
        verdict = self.verdict(enc)
        if verdict is not None:
            return dict(verdict.costs)
        found = self._costs.get(enc)
        if found is None:
            if self._cost_model is None:
                from ..constraints import Constraints

                self._cost_model = Constraints().cost_model
            found = self._costs[enc] = dict(self._cost_model.costs(self.space.graph(enc)))
        return found

    def _select(self, it: Round, count: int, exclude: frozenset[Encoding] = frozenset()
                ) -> list[Encoding]:
        """``count`` of the round's candidates not in ``exclude`` by Pareto optimality over
        (predicted error, each objective) (step 3)."""
        pool = [e for e in it.children if e not in exclude and e not in it.selected]
        if len(pool) <= count:
            return pool
        costs = [self._costs_of(e) for e in pool]
        objectives = []
        for name in self.selection_objectives:
            if all(name in c for c in costs):
                objectives.append(name)
            elif name not in self._warned:
                self._warned.add(name)
                warnings.warn(f"progressive: objective {name!r} is not among the analytic "
                              f"costs ({', '.join(sorted(costs[0]))}); selected without it",
                              stacklevel=2)
        points = np.array([[-it.predicted[e], *(float(c[n]) for n in objectives)]
                           for e, c in zip(pool, costs)], dtype=float)
        keys = [self._rng.random() for _ in pool]
        return [pool[i] for i in pareto_select(points, count, self.tiebreak, keys)]

    # --------------------------------------------------------------------- ask
    def ask(self) -> Candidate:
        while True:
            it = self.rounds[-1]
            if it.kind == "random":
                if it.proposed < self.k:
                    enc = self._random.ask().encoding
                    it.selected.append(enc)
                    return self._propose(enc, it)
            else:
                while it.queue and it.proposed < (self.k if it.kind != "roots"
                                                  else len(it.selected)):
                    enc = it.queue.pop(0)
                    if never_proposed(self.space, self._seen, enc):
                        return self._propose(enc, it)
                if it.proposed < self.k and it.kind != "roots":
                    more = self._select(it, self.k - it.proposed)  # replacements
                    if more:
                        it.selected += more
                        it.queue += more
                        continue
            if it.pending:
                raise NotReady(f"waiting for the candidates of round {it.number}")
            self._next_round()

    def _propose(self, enc: Encoding, it: Round) -> Candidate:
        self._seen.add(self.space.fingerprint(enc))
        it.pending.add(enc)
        it.proposed += 1
        return Candidate(enc, budget=self.early,
                         info={"round": it.number, "move": it.kind})

    # -------------------------------------------------------------------- tell
    def tell(self, result: TrialResult) -> None:
        encoding = self.space.validate(result.encoding)
        it = self.rounds[-1]
        if it.kind == "random":
            self._random.tell(result)
        if encoding not in it.pending:
            return
        it.pending.discard(encoding)
        if result.state == TrialState.INFEASIBLE:
            it.proposed -= 1  # replaced by the next selection
            it.infeasible.append(encoding)
            return
        self._depth[encoding] = it.depth.get(encoding, 0)
        if result.state == TrialState.COMPLETE and result.accuracy is not None:
            it.trained.append((encoding, float(result.accuracy)))
            self._data[encoding] = float(result.accuracy)
        else:
            it.failed.append(encoding)
