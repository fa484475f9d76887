"""Ranking metrics of paper 000 Table 4: AP@K and NDCG@K of a predicted ranking.

Paper 000 section 4.3 ranks the held-out candidates of ``round_1`` with each controller and
reports, at K = 50 and 100, "AP", "the number of the selected top K candidates in the real top
K candidates", and "NDCG" (Jarvelin & Kekalainen 2002, the paper's reference [13]), "the
importance of the selected top K candidates". fitnas reads them as follows.

* :func:`ap_at_k` = ``|top-K by prediction & true top K| / K``: the count the paper describes,
  divided by K so that it lies in 0..1 (1 = the right K candidates, in any order). It is
  precision at K against the true top K, not the information-retrieval "average precision".
* :func:`ndcg_at_k` = ``DCG@K(predicted order) / DCG@K(ideal order)`` with
  ``DCG@K = sum_{i=1..K} rel(i-th candidate) / log2(i + 1)`` (linear gain, the original form of
  Jarvelin & Kekalainen). The relevance is graded from the truth; two gradings:

  - ``relevance="rank"`` (default): ``rel = max(0, K - r)`` where ``r`` is the number of
    candidates truly better (0 for the best): the true best has relevance K, the true second
    K - 1, ..., the true K-th 1, and every candidate outside the true top K 0. NDCG@K is then 1
    only for the true top K in the true order, and picking from outside the true top K earns
    nothing, as in Table 4 where the values are far below 1.
  - ``relevance="scaled"``: the true score min-max scaled to 0..1 (the worst candidate 0, the
    best 1; all 1 when every score is equal); every candidate earns some gain.

Ties. Candidates with equal true scores are equally good: they share a rank ``r`` (competition
ranking, "1224"), hence a relevance, and the true top K holds every candidate with ``r < K``
(possibly more than K when candidates tie at the K-th place; any K of them score AP = 1).
Benchmark tables do have exact ties (e.g. NAS-Bench-201 cells that differ only on an edge no
output depends on). Ties among *predicted* scores are broken by position (the earlier
candidate first), so every result is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["ap_at_k", "ndcg_at_k", "top_k"]

RELEVANCE = ("rank", "scaled")


def _check(true_scores: Sequence[float], predicted_scores: Sequence[float], k: int
           ) -> tuple[list[float], list[float]]:
    truth = [float(v) for v in true_scores]
    pred = [float(v) for v in predicted_scores]
    if len(truth) != len(pred):
        raise ValueError(f"true_scores has {len(truth)} values but predicted_scores has "
                         f"{len(pred)}; give one predicted score per candidate")
    if not truth:
        raise ValueError("no candidates: true_scores and predicted_scores are empty")
    for name, values in (("true_scores", truth), ("predicted_scores", pred)):
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            raise ValueError(f"{name} must be finite numbers, got {bad[0]!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(truth):
        raise ValueError(f"k must be an int in 1..{len(truth)} (the number of candidates), "
                         f"got {k!r}")
    return truth, pred


def _true_ranks(truth: list[float]) -> list[int]:
    """For each candidate, how many are truly better (competition ranking, ties share)."""
    order = sorted(truth, reverse=True)
    first: dict[float, int] = {}
    for position, v in enumerate(order):
        first.setdefault(v, position)
    return [first[v] for v in truth]


def top_k(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores, best first; ties go to the earlier index."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return order[:k]


def ap_at_k(true_scores: Sequence[float], predicted_scores: Sequence[float], k: int) -> float:
    """The fraction of the predicted top ``k`` that is in the true top ``k`` (paper 000 Table 4
    "AP": the selected top K among the real top K, divided by K).

    >>> ap_at_k([3, 2, 1, 0], [0, 1, 2, 3], 2)
    0.0
    >>> ap_at_k([3, 2, 1, 0], [2, 3, 0, 1], 2)
    1.0
    """
    truth, pred = _check(true_scores, predicted_scores, k)
    ranks = _true_ranks(truth)
    return sum(1 for i in top_k(pred, k) if ranks[i] < k) / k


def ndcg_at_k(true_scores: Sequence[float], predicted_scores: Sequence[float], k: int,
              relevance: str = "rank") -> float:
    """Normalized discounted cumulative gain of the predicted top ``k`` (paper 000 Table 4
    "NDCG", Jarvelin & Kekalainen 2002); ``relevance`` grades the truth (module docstring).

    >>> ndcg_at_k([3, 2, 1, 0], [3, 2, 1, 0], 2)
    1.0
    >>> ndcg_at_k([3, 2, 1, 0], [0, 1, 2, 3], 2)
    0.0
    """
    truth, pred = _check(true_scores, predicted_scores, k)
    if relevance == "rank":
        rel = [float(max(0, k - r)) for r in _true_ranks(truth)]
    elif relevance == "scaled":
        low, high = min(truth), max(truth)
        span = high - low
        rel = [(v - low) / span if span > 0 else 1.0 for v in truth]
    else:
        raise ValueError(f"relevance must be one of {', '.join(RELEVANCE)}, got {relevance!r}")

    def dcg(gains: list[float]) -> float:
        return sum(g / math.log2(position + 2) for position, g in enumerate(gains))

    ideal = dcg(sorted(rel, reverse=True)[:k])  # > 0: the best candidate has rel > 0
    return dcg([rel[i] for i in top_k(pred, k)]) / ideal
