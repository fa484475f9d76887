"""Candidate rounds for training and judging a ranking controller (paper 000 section 4.3).

Paper 000 trains each controller on the candidates of ``round_0`` and ranks the held-out
candidates of ``round_1`` (Table 4). A round is what one MemNAS search iteration produces: the
neighbours of a parent (its 'augment' and 'trim' candidates, ``SearchSpace.grow`` and
``SearchSpace.trim``), each scored by the eq. 4 merit relative to that parent
(``fitnas.predictors.merit``). These helpers build such rounds for any search space:

* :func:`neighbourhood`: the union of the grow, trim and mutation neighbours of a parent,
  and with ``hops=2`` of those neighbours' neighbours too;
* :func:`memory_costs`: the two memory figures of eq. 4 from fitnas' analytic cost models,
  peak activation bytes (the lifetime-based upper bound, paper 000 section 3.4, in the
  graph's own execution order) and parameter bytes, both fp32;
* :func:`memoized_memory_costs`: the same with a cache, for rounds that share networks;
* :func:`merit_samples`: the :class:`~fitnas.predictors.Sample` of each candidate, its score
  the eq. 4 merit relative to the parent;
* :func:`table4_rounds`: the two rounds of a Table 4 style comparison (below);
* :func:`ranking_metrics`: NDCG@K and AP@K of a prediction (Table 4's metrics).

:func:`table4_rounds` builds, for a seed:

* ``round_0``, the training data: ``parents`` search iterations, each around its own parent
  drawn with ``space.sample``; its group is ``per_parent`` candidates drawn at random from the
  parent's ``hops``-move :func:`neighbourhood` (all of them when fewer), each scored relative
  to *its* parent. MemNAS retrains the controller on "all of the previously trained
  architectures" of earlier iterations (section 3.2), so the training groups come from
  different parents and merits of different groups are not comparable;
* the selected parent: the round-0 candidate of highest merit (MemNAS carries the best
  candidate of an iteration on as the next parent);
* ``round_1``, the held-out candidates: the selected parent's ``hops``-move neighbourhood less
  every round-0 candidate and parent, scored relative to the selected parent (at most
  ``test_size`` of them, drawn at random, when given).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..costs import estimate
from ..spaces import SearchSpace
from ._sequences import Sample
from .merit import merit_score
from .metrics import ap_at_k, ndcg_at_k

__all__ = ["Rounds", "memoized_memory_costs", "memory_costs", "merit_samples", "neighbourhood",
           "ranking_metrics", "table4_rounds"]


def neighbourhood(space: SearchSpace, parent: Any, hops: int = 1) -> list[Any]:
    """Every encoding within ``hops`` grow, trim or mutation moves of ``parent`` (without the
    parent), in a deterministic order (sorted by the JSON form)."""
    if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
        raise ValueError(f"hops must be a positive int, got {hops!r}")
    parent = space.validate(parent)
    seen = {parent}
    frontier = [parent]
    for _ in range(hops):
        nxt = []
        for enc in frontier:
            for move in (space.grow, space.trim, space.mutations):
                for cand in move(enc):
                    if cand not in seen:
                        seen.add(cand)
                        nxt.append(cand)
        frontier = nxt
    seen.discard(parent)
    return sorted(seen, key=space.to_json)


def memory_costs(space: SearchSpace, enc: Any) -> tuple[float, float]:
    """``(peak_activation_bytes, param_bytes)`` of an encoding (fp32, the graph's order)."""
    est = estimate(space.graph(enc), "fp32", True)
    return float(est.peak_activation_bytes), float(est.param_bytes)


def memoized_memory_costs() -> Callable[[SearchSpace, Any], tuple[float, float]]:
    """:func:`memory_costs` with a cache per encoding (rounds of several seeds share their
    networks; each estimate decodes and plans the whole graph)."""
    cache: dict[Any, tuple[float, float]] = {}

    def memory(space: SearchSpace, enc: Any) -> tuple[float, float]:
        if enc not in cache:
            cache[enc] = memory_costs(space, enc)
        return cache[enc]

    return memory


def merit_samples(
    space: SearchSpace,
    candidates: Iterable[Any],
    parent: Any,
    accuracy: Callable[[Any], float],
    memory: Callable[[SearchSpace, Any], tuple[float, float]] = memory_costs,
    lambda_alpha: float = 0.5,
    lambda_beta: float = 0.5,
) -> list[Sample]:
    """One :class:`Sample` per candidate: its tokens, its eq. 4 merit relative to ``parent``
    and its memory. ``accuracy(enc)`` gives an accuracy (a table look-up, a training run);
    ``memory(space, enc)`` gives ``(peak_bytes, param_bytes)``."""
    a_pre = accuracy(parent)
    m_pre, p_pre = memory(space, parent)
    out = []
    for enc in candidates:
        a = accuracy(enc)
        m, p = memory(space, enc)
        out.append(Sample(tuple(space.to_tokens(enc)),
                          merit_score(a, m, p, a_pre, m_pre, p_pre, lambda_alpha, lambda_beta),
                          param_bytes=p, peak_bytes=m))
    return out


def ranking_metrics(true_scores: Sequence[float], predicted_scores: Sequence[float],
                    ks: Sequence[int]) -> dict[str, float]:
    """``{"ndcg@K": ..., "ap@K": ...}`` for each ``K`` in ``ks``."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"ndcg@{k}"] = ndcg_at_k(true_scores, predicted_scores, k)
        out[f"ap@{k}"] = ap_at_k(true_scores, predicted_scores, k)
    return out


@dataclass(frozen=True)
class Rounds:
    """The data of one Table 4 comparison (see the module docstring)."""

    round_0: list[list[Sample]]
    round_1: list[Sample]
    parents: list[Any]
    selected: Any
    round_1_encodings: list[Any]


def table4_rounds(
    space: SearchSpace,
    accuracy: Callable[[Any], float],
    seed: int,
    parents: int = 4,
    per_parent: int = 64,
    hops: int = 2,
    test_size: int | None = None,
    memory: Callable[[SearchSpace, Any], tuple[float, float]] = memory_costs,
    lambda_alpha: float = 0.5,
    lambda_beta: float = 0.5,
) -> Rounds:
    """Round 0 (training groups around ``parents`` random parents) and round 1 (held-out
    candidates around the best round-0 candidate); deterministic for a seed."""
    rng = random.Random(seed)
    groups: list[list[Sample]] = []
    drawn: list[Any] = []
    seen: set[Any] = set()
    best: tuple[float, Any] | None = None
    for _ in range(parents):
        parent = space.validate(space.sample(rng))
        drawn.append(parent)
        hood = neighbourhood(space, parent, hops)
        if len(hood) > per_parent:
            hood = rng.sample(hood, per_parent)
        group = merit_samples(space, hood, parent, accuracy, memory, lambda_alpha, lambda_beta)
        groups.append(group)
        seen.update(hood)
        seen.add(parent)
        for enc, sample in zip(hood, group):
            if best is None or sample.score > best[0]:
                best = (sample.score, enc)
    if best is None:
        raise ValueError("round 0 is empty: the parents have no neighbours")
    selected = best[1]
    held_out = [enc for enc in neighbourhood(space, selected, hops) if enc not in seen]
    if test_size is not None and len(held_out) > test_size:
        held_out = rng.sample(held_out, test_size)
    test = merit_samples(space, held_out, selected, accuracy, memory, lambda_alpha, lambda_beta)
    return Rounds(groups, test, drawn, selected, held_out)
