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
* :func:`merit_samples`: the :class:`~fitnas.predictors.Sample` of each candidate, its score
  the eq. 4 merit relative to the parent;
* :func:`ranking_metrics`: NDCG@K and AP@K of a prediction (Table 4's metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..costs import estimate
from ..spaces import SearchSpace
from ._sequences import Sample
from .merit import merit_score
from .metrics import ap_at_k, ndcg_at_k

__all__ = ["memory_costs", "merit_samples", "neighbourhood", "ranking_metrics"]


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
