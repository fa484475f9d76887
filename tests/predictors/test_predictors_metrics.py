"""AP@K and NDCG@K of paper 000 Table 4 (``fitnas.predictors.metrics``)."""

from __future__ import annotations

import math
import random

import pytest

from fitnas.predictors import ap_at_k, ndcg_at_k

TRUTH = [5.0, 4.0, 3.0, 2.0, 1.0]


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_perfect_ranking_scores_one(k: int) -> None:
    assert ap_at_k(TRUTH, TRUTH, k) == 1.0
    assert ndcg_at_k(TRUTH, TRUTH, k) == pytest.approx(1.0)
    # any strictly increasing transform of the truth is a perfect prediction
    assert ndcg_at_k(TRUTH, [math.exp(v) for v in TRUTH], k) == pytest.approx(1.0)
    assert ndcg_at_k(TRUTH, TRUTH, k, relevance="scaled") == pytest.approx(1.0)


def test_reversed_ranking() -> None:
    reverse = [-v for v in TRUTH]
    assert ap_at_k(TRUTH, reverse, 2) == 0.0
    assert ndcg_at_k(TRUTH, reverse, 2) == 0.0  # picks the worst two: no relevance
    assert ap_at_k(TRUTH, reverse, 5) == 1.0  # K = n: every candidate is in the top n
    # K = 5, relevance 5,4,3,2,1 read backwards: DCG = 1 + 2/log2 3 + 3/2 + 4/log2 5 + 5/log2 6
    ideal = 5 + 4 / math.log2(3) + 3 / 2 + 2 / math.log2(5) + 1 / math.log2(6)
    worst = 1 + 2 / math.log2(3) + 3 / 2 + 4 / math.log2(5) + 5 / math.log2(6)
    assert ndcg_at_k(TRUTH, reverse, 5) == pytest.approx(worst / ideal)


def test_hand_computed_partial_ranking() -> None:
    # predicted order: c2 (truly 3rd), c0 (1st), c4, ...; K = 2
    pred = [0.9, 0.1, 1.0, 0.2, 0.5]
    assert ap_at_k(TRUTH, pred, 2) == 0.5  # {c2, c0} & {c0, c1} = {c0}
    # relevance (K = 2): c0 -> 2, c1 -> 1, others 0; DCG = 0 + 2/log2 3; ideal = 2 + 1/log2 3
    assert ndcg_at_k(TRUTH, pred, 2) == pytest.approx((2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    # scaled relevance: c2 -> 0.5, c0 -> 1; DCG = 0.5 + 1/log2 3; ideal = 1 + 0.75/log2 3
    assert ndcg_at_k(TRUTH, pred, 2, relevance="scaled") == pytest.approx(
        (0.5 + 1 / math.log2(3)) / (1 + 0.75 / math.log2(3)))


def test_true_ties_share_rank_and_relevance() -> None:
    truth = [1.0, 3.0, 3.0, 0.0]  # c1 and c2 tie for first
    assert ap_at_k(truth, [0, 0, 1, 0], 1) == 1.0  # either tied best is the true top 1
    assert ndcg_at_k(truth, [0, 0, 1, 0], 1) == 1.0
    assert ndcg_at_k(truth, [0, 1, 0, 0], 1) == 1.0
    assert ap_at_k(truth, [1, 0, 0, 0], 1) == 0.0


def test_predicted_ties_break_by_position() -> None:
    assert ap_at_k(TRUTH, [1, 1, 1, 1, 1], 2) == 1.0  # c0, c1 first
    assert ap_at_k(list(reversed(TRUTH)), [1, 1, 1, 1, 1], 2) == 0.0


def test_random_rankings_stay_in_unit_interval() -> None:
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(1, 30)
        truth = [rng.choice([0.0, 1.0, rng.random()]) for _ in range(n)]
        pred = [rng.random() for _ in range(n)]
        k = rng.randint(1, n)
        for value in (ap_at_k(truth, pred, k), ndcg_at_k(truth, pred, k),
                      ndcg_at_k(truth, pred, k, relevance="scaled")):
            assert 0.0 <= value <= 1.0 + 1e-12


@pytest.mark.parametrize("k", [0, 6, -1, 2.0, True])
def test_bad_k_is_a_clear_value_error(k: object) -> None:
    with pytest.raises(ValueError, match=r"k must be an int in 1\.\.5"):
        ap_at_k(TRUTH, TRUTH, k)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"k must be an int in 1\.\.5"):
        ndcg_at_k(TRUTH, TRUTH, k)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="5 values but predicted_scores has 4"):
        ap_at_k(TRUTH, [1, 2, 3, 4], 1)
    with pytest.raises(ValueError, match="empty"):
        ndcg_at_k([], [], 1)
    with pytest.raises(ValueError, match="finite"):
        ndcg_at_k([1.0, math.nan], [1, 2], 1)
    with pytest.raises(ValueError, match="relevance"):
        ndcg_at_k(TRUTH, TRUTH, 1, relevance="linear")
