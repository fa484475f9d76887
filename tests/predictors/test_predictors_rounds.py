"""Table 4's rounds (``fitnas.predictors.rounds``): neighbourhoods, merit samples, held-out data."""

from __future__ import annotations

import pytest

from fitnas.costs import estimate
from fitnas.predictors import merit_score
from fitnas.predictors.rounds import (
    memoized_memory_costs,
    memory_costs,
    merit_samples,
    neighbourhood,
    ranking_metrics,
    table4_rounds,
)
from fitnas.spaces import create_space
from fitnas.spaces.nb201 import BY_COST

SPACE = create_space("nb201")


def closeness(enc: tuple[str, ...]) -> float:
    """A stand-in accuracy in (0, 1]: highest for the all-``avg_pool_3x3`` cell."""
    return 1.0 - sum(abs(BY_COST.index(op) - 2) for op in enc) / 24.0


def fake_memory(space: object, enc: tuple[str, ...]) -> tuple[float, float]:
    """Memory that grows with the edges' cost (fast; the real one is tested below)."""
    cost = sum(BY_COST.index(op) for op in enc)
    return 1000.0 + 10 * cost, 5000.0 + 100 * cost


def test_neighbourhood_counts_and_order() -> None:
    parent = ("none",) * 6
    one = neighbourhood(SPACE, parent, hops=1)
    assert len(one) == 24 and parent not in one and len(set(one)) == 24
    two = neighbourhood(SPACE, parent, hops=2)
    # one edge changed (24) or two edges changed (15 pairs x 4 x 4)
    assert len(two) == 24 + 15 * 16 and set(one) <= set(two)
    assert two == sorted(two, key=SPACE.to_json)
    with pytest.raises(ValueError, match="hops must be a positive int, got 0"):
        neighbourhood(SPACE, parent, hops=0)


def test_merit_samples_are_eq4_against_the_parent_with_real_memory() -> None:
    parent = ("nor_conv_3x3",) * 6
    cands = SPACE.trim(parent)[:3]
    samples = merit_samples(SPACE, cands, parent, closeness)
    m_pre, p_pre = memory_costs(SPACE, parent)
    for enc, sample in zip(cands, samples):
        est = estimate(SPACE.graph(enc))
        assert (sample.peak_bytes, sample.param_bytes) == (est.peak_activation_bytes,
                                                             est.param_bytes)
        assert sample.tokens == tuple(SPACE.to_tokens(enc))
        assert sample.score == merit_score(closeness(enc), sample.peak_bytes, sample.param_bytes,
                                           closeness(parent), m_pre, p_pre)


def test_memoized_memory_costs_equal_the_estimate_and_are_kept() -> None:
    memory = memoized_memory_costs()
    enc = ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none")
    first = memory(SPACE, enc)
    assert first == memory_costs(SPACE, enc)
    assert memory(SPACE, enc) is first  # the cached tuple, not a new estimate
    assert memoized_memory_costs()(SPACE, enc) is not first  # each helper has its own cache


def test_table4_rounds_hold_out_what_round_0_saw() -> None:
    rounds = table4_rounds(SPACE, closeness, seed=3, parents=3, per_parent=20, hops=1,
                           memory=fake_memory)
    assert len(rounds.round_0) == 3 and all(len(g) == 20 for g in rounds.round_0)
    assert len(rounds.parents) == 3
    # the selected parent is the round-0 candidate of highest merit
    best = max(s.score for g in rounds.round_0 for s in g)
    selected_tokens = tuple(SPACE.to_tokens(rounds.selected))
    assert any(s.tokens == selected_tokens and s.score == best for g in rounds.round_0 for s in g)
    # round 1: the selected parent's neighbours, none of them seen in round 0 or as a parent
    seen = {s.tokens for g in rounds.round_0 for s in g} | {
        tuple(SPACE.to_tokens(p)) for p in rounds.parents}
    held_out = {s.tokens for s in rounds.round_1}
    assert held_out and not held_out & seen
    assert set(rounds.round_1_encodings) <= set(neighbourhood(SPACE, rounds.selected, 1))
    assert [s.tokens for s in rounds.round_1] == [
        tuple(SPACE.to_tokens(e)) for e in rounds.round_1_encodings]
    # deterministic for a seed, different for another
    again = table4_rounds(SPACE, closeness, seed=3, parents=3, per_parent=20, hops=1,
                          memory=fake_memory)
    assert again == rounds
    other = table4_rounds(SPACE, closeness, seed=4, parents=3, per_parent=20, hops=1,
                          memory=fake_memory)
    assert other.parents != rounds.parents
    small = table4_rounds(SPACE, closeness, seed=3, parents=3, per_parent=20, hops=1,
                          memory=fake_memory, test_size=5)
    assert len(small.round_1) == 5


def test_ranking_metrics_of_a_perfect_and_a_reversed_prediction() -> None:
    truth = [float(i) for i in range(20)]
    perfect = ranking_metrics(truth, truth, [5, 10])
    assert perfect == {"ndcg@5": 1.0, "ap@5": 1.0, "ndcg@10": 1.0, "ap@10": 1.0}
    reversed_ = ranking_metrics(truth, [-t for t in truth], [5, 10])
    assert reversed_["ap@5"] == 0.0 and reversed_["ndcg@10"] == 0.0
