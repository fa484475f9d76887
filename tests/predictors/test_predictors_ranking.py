"""The relative ranking controller and the GRU regressor (``fitnas.predictors.ranking``)."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
import torch

from fitnas.predictors import GRURegressor, RankingController, Sample, ap_at_k, ndcg_at_k
from fitnas.predictors._sequences import SequenceEncoder, pad_tokens
from fitnas.spaces.cells import CellsSpace
from fitnas.spaces.nb201 import NB201Space

NB201_CSV = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"
PREDICTORS = [RankingController, GRURegressor]
SEEDS = 5  # of the nb201 Table 4 test


def _toy_groups(seed: int = 0, groups: int = 3, size: int = 20) -> list[list[Sample]]:
    """nb201-like tokens (6 of 5 symbols); the score rewards symbol 3 and punishes symbol 0."""
    rng = random.Random(seed)
    out = []
    for _ in range(groups):
        group = []
        for _ in range(size):
            tokens = tuple(rng.randrange(5) for _ in range(6))
            group.append(Sample(tokens, tokens.count(3) - tokens.count(0) + rng.random() * 0.1,
                                param_bytes=1000.0 * (1 + tokens.count(3)),
                                peak_bytes=500.0 + 10 * tokens.count(4)))
        out.append(group)
    return out


def _candidates(seed: int = 1, n: int = 30) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    return [tuple(rng.randrange(5) for _ in range(6)) for _ in range(n)]


@pytest.mark.parametrize("cls", PREDICTORS)
def test_deterministic_for_a_seed_whatever_the_threads_and_rng(cls: type) -> None:
    groups, cands = _toy_groups(), _candidates()
    before = torch.get_num_threads()
    first = cls(5, epochs=4, seed=3).fit(groups).predict(cands)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    torch.set_num_threads(2 if before != 2 else 1)
    try:
        second = cls(5, epochs=4, seed=3).fit(groups).predict(cands)
        assert torch.get_num_threads() == (2 if before != 2 else 1)  # restored after fit
    finally:
        torch.set_num_threads(before)
    assert first == second
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    third = cls(5, epochs=4, seed=4).fit(groups).predict(cands)
    assert third != first


@pytest.mark.parametrize("cls", PREDICTORS)
def test_fit_reduces_the_loss(cls: type) -> None:
    model = cls(5, epochs=15, seed=0).fit(_toy_groups())
    assert len(model.loss_history) == 15
    assert model.loss_history[-1] < 0.7 * model.loss_history[0]


def test_controller_learns_the_toy_ranking() -> None:
    model = RankingController(5, epochs=30, seed=0).fit(_toy_groups(size=40))
    cands = _candidates(n=60)
    truth = [c.count(3) - c.count(0) for c in cands]
    assert ndcg_at_k(truth, model.predict(cands), 10) > 0.7


def test_predictions_are_permutation_equivariant() -> None:
    """What holds: the controller ranks the distinct candidates in a canonical order that does
    not depend on the order given, so permuting the input permutes the scores exactly, and
    duplicates score the same. What does not: a candidate's score depends on the *set* (the
    ranking GRU reads its companions), so adding or removing candidates changes the others'
    scores; the regressor scores each candidate alone."""
    groups = _toy_groups()
    cands = _candidates(n=40)
    for cls in PREDICTORS:
        model = cls(5, epochs=3, seed=0).fit(groups)
        scores = model.predict(cands)
        perm = list(range(len(cands)))
        random.Random(0).shuffle(perm)
        assert model.predict([cands[i] for i in perm]) == [scores[i] for i in perm]
        doubled = model.predict(cands + cands[:5])
        assert doubled[:40] == scores and doubled[40:] == scores[:5]
    controller = RankingController(5, epochs=3, seed=0).fit(groups)
    assert controller.predict(cands[:20]) != controller.predict(cands)[:20]
    regressor = GRURegressor(5, epochs=3, seed=0).fit(groups)
    assert regressor.predict(cands[:20]) == pytest.approx(regressor.predict(cands)[:20], abs=1e-6)


@pytest.mark.parametrize("cls", PREDICTORS)
def test_scores_do_not_depend_on_order_or_repetitions(cls: type) -> None:
    """Batches of 43 to 76 candidates (their last rows are where a CPU's vector loops
    leave a scalar remainder, which rounds differently), duplicates anywhere, any order, and
    candidates of several lengths: each candidate gets exactly the score it gets when the
    distinct candidates are given once each."""
    rng = random.Random(5)
    groups = _toy_groups()
    cands = _candidates(n=40) + [tuple(rng.randrange(5) for _ in range(n)) for n in (3, 9, 9)]
    model = cls(5, epochs=2, seed=1).fit(groups)
    score = dict(zip(cands, model.predict(cands)))
    for extra in range(0, 33, 3):
        batch = cands + [rng.choice(cands) for _ in range(extra)]
        rng.shuffle(batch)
        assert model.predict(batch) == [score[c] for c in batch]


def test_variable_lengths_and_groups_of_one() -> None:
    space = CellsSpace(input_shape=(1, 1, 8, 8), filters=8, stages=2, max_blocks=3)
    parent = (((0, 0, "conv3x3", "sep3x3", "add"),), (), ())
    encs = [parent, *space.grow(parent)[:12], *space.trim(parent)]
    seqs = [tuple(space.to_tokens(e)) for e in encs]
    assert len({len(s) for s in seqs}) >= 3
    samples = [Sample(s, float(len(s) % 5), 100.0 + len(s), 50.0) for s in seqs]
    groups = [samples[:10], samples[10:], [samples[0]]]  # the last group has one sample
    for cls in PREDICTORS:
        scores = cls(space.vocab_size, epochs=2).fit(groups).predict(seqs)
        assert len(scores) == len(seqs) and all(isinstance(v, float) for v in scores)
    RankingController(space.vocab_size, epochs=2).fit([[samples[0]], [samples[1]]])
    # the fast no-gradient encoder equals the training-time forward pass
    torch.manual_seed(0)
    encoder = SequenceEncoder(space.vocab_size, 16, 12)
    with torch.no_grad():
        expected = encoder(*pad_tokens(seqs))
    assert torch.allclose(encoder.encode(seqs, batch=7), expected, atol=1e-5)


@pytest.mark.parametrize("cls", PREDICTORS)
def test_bad_input_is_a_value_error(cls: type) -> None:
    with pytest.raises(ValueError, match="not fitted"):
        cls(5).predict([(1, 2)])
    model = cls(5, epochs=1).fit(_toy_groups(groups=1, size=4))
    with pytest.raises(ValueError, match=r"token 5 is not an int in 0\.\.4"):
        model.predict([(0, 1), (2, 5)])
    with pytest.raises(ValueError, match="token -1"):
        model.predict([(-1,)])
    with pytest.raises(ValueError, match="empty token sequence"):
        model.predict([()])
    assert model.predict([]) == []
    with pytest.raises(ValueError, match=r"token 7 is not an int in 0\.\.4"):
        cls(5).fit([[Sample((1, 7), 1.0, 1.0, 1.0)]])
    with pytest.raises(ValueError, match="score must be a finite number"):
        cls(5).fit([[Sample((1, 2), float("nan"), 1.0, 1.0)]])
    with pytest.raises(ValueError, match="param_bytes must be a finite number >= 0"):
        cls(5).fit([[Sample((1, 2), 1.0, -1.0, 1.0)]])
    with pytest.raises(ValueError, match="every group is empty"):
        cls(5).fit([[]])
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        cls(5, hidden=0)


def test_config_round_trips() -> None:
    model = RankingController(7, memory_weight=0.25, epochs=3, seed=9)
    assert RankingController(**model.get_config()).get_config() == model.get_config()
    assert model.get_config()["memory_weight"] == 0.25
    regressor = GRURegressor(7, batch_size=8)
    assert GRURegressor(**regressor.get_config()).get_config() == regressor.get_config()


@pytest.mark.slow
@pytest.mark.skipif(not NB201_CSV.is_file(), reason="shared/benchmarks/nb201_12epoch.csv missing")
def test_controller_beats_the_regressor_on_held_out_nb201_rounds() -> None:
    """Paper 000 Table 4's protocol on nb201 (benchmarks/ranking_controller.py, smaller):
    train on round 0 (4 parents' neighbourhoods, merit relative to each parent), rank the
    held-out round 1 around the selected parent; median over seeds."""
    from fitnas.evaluators import TableEvaluator
    from fitnas.predictors.rounds import memoized_memory_costs, table4_rounds

    space = NB201Space()
    lookup = TableEvaluator(NB201_CSV, "cifar10_test")

    def accuracy(enc: tuple[str, ...]) -> float:
        value = lookup.evaluate(space.format(enc)).val_accuracy
        assert value is not None
        return value

    memory = memoized_memory_costs()
    results: dict[str, list[tuple[float, float]]] = {"rc": [], "gru": []}
    for seed in range(SEEDS):
        rounds = table4_rounds(space, accuracy, seed, parents=4, per_parent=64, memory=memory)
        truth = [s.score for s in rounds.round_1]
        cands = [s.tokens for s in rounds.round_1]
        for name, cls in (("rc", RankingController), ("gru", GRURegressor)):
            pred = cls(space.vocab_size, seed=seed).fit(rounds.round_0).predict(cands)
            results[name].append((ndcg_at_k(truth, pred, 50), ap_at_k(truth, pred, 50)))
    rc = [statistics.median(v) for v in zip(*results["rc"])]
    gru = [statistics.median(v) for v in zip(*results["gru"])]
    assert rc[0] > gru[0] and rc[1] > gru[1], (rc, gru)

