"""The LSTM accuracy regressor of progressive search (``fitnas.predictors.regressor``)."""

from __future__ import annotations

import csv
import math
import random
from typing import Any

import pytest
import torch
from scipy.stats import kendalltau

from fitnas.predictors import LSTMRegressor
from fitnas.spaces.nb201 import NB201Space
from tests.tables import synthetic_nb201_table

HELD_OUT = 1000


@pytest.fixture(scope="module")
def nb201_rows() -> list[tuple[list[int], float]]:
    """(tokens, cifar10_val accuracy) of every cell of the synthetic table, shuffled."""
    space = NB201Space()
    with open(synthetic_nb201_table(), newline="") as f:
        rows = [(space.to_tokens(space.parse(r["cellstr"])), float(r["cifar10_val"]))
                for r in csv.DictReader(f)]
    random.Random(0).shuffle(rows)
    return rows


def tau(predicted: list[float], truth: list[float]) -> float:
    """Kendall's tau-b; 0 for a constant prediction (scipy gives NaN: no ranking at all)."""
    value = float(kendalltau(predicted, truth)[0])
    return 0.0 if math.isnan(value) else value


@pytest.mark.parametrize("trained", [100, 200, 400])
def test_kendall_tau_on_held_out_nb201_beats_constant_and_random(
        nb201_rows: list[tuple[list[int], float]], trained: int) -> None:
    train, test = nb201_rows[:trained], nb201_rows[-HELD_OUT:]
    truth = [a for _, a in test]
    model = LSTMRegressor(NB201Space().vocab_size, seed=trained).fit(
        [t for t, _ in train], [a for _, a in train])
    learned = tau(model.predict([t for t, _ in test]), truth)
    mean = sum(a for _, a in train) / len(train)
    constant = tau([mean] * len(test), truth)
    rng = random.Random(trained)
    shuffled = tau([rng.random() for _ in test], truth)
    assert constant == 0.0
    assert learned > constant + 0.3, (learned, constant)
    assert learned > shuffled + 0.3, (learned, shuffled)


def _toy(n: int = 60, seed: int = 0) -> tuple[list[list[int]], list[float]]:
    """nb201-like tokens; the accuracy rewards symbol 3 and punishes symbol 0."""
    rng = random.Random(seed)
    tokens = [[rng.randrange(5) for _ in range(6)] for _ in range(n)]
    return tokens, [0.5 + 0.05 * (t.count(3) - t.count(0)) + 0.01 * rng.random() for t in tokens]


def _fit(**options: Any) -> LSTMRegressor:
    tokens, acc = _toy()
    return LSTMRegressor(5, **{"epochs": 20, "ensemble": 2, **options}).fit(tokens, acc)


def test_same_seed_same_predictions_and_the_seed_matters() -> None:
    probe = _toy(20, seed=5)[0]
    before = torch.random.get_rng_state()
    first = _fit(seed=3).predict(probe)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG is untouched
    assert _fit(seed=3).predict(probe) == first
    assert _fit(seed=4).predict(probe) != first


def test_permuted_and_repeated_candidates_get_the_same_predictions() -> None:
    model = _fit()
    probe = [tuple(t) for t in _toy(15, seed=6)[0]]
    scores = dict(zip(probe, model.predict(probe)))
    again = list(reversed(probe)) + probe[:3]
    assert model.predict(again) == [scores[t] for t in again]
    assert model.predict([]) == []


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_learns_the_toy_score_and_l1_loss_falls(output: str) -> None:
    tokens, acc = _toy(80)
    model = LSTMRegressor(5, epochs=40, ensemble=2, output=output, seed=1).fit(tokens, acc)
    assert model.loss_history[-1] < 0.5 * model.loss_history[0]
    probe, truth = _toy(200, seed=9)
    assert tau(model.predict(probe), truth) > 0.5


def test_sigmoid_predictions_stay_within_the_widened_training_range() -> None:
    tokens, acc = _toy()
    model = LSTMRegressor(5, epochs=5, ensemble=1, lr=1.0).fit(tokens, acc)
    low, high = min(acc), max(acc)
    spread = high - low
    for p in model.predict(_toy(100, seed=2)[0]):
        assert low - spread / 2 <= p <= high + spread / 2


def test_percent_accuracies_come_back_in_percent() -> None:
    tokens, acc = _toy()
    model = LSTMRegressor(5, epochs=30, ensemble=2).fit(tokens, [100 * a for a in acc])
    predicted = model.predict(tokens)
    assert 30 < sum(predicted) / len(predicted) < 70


def test_ensemble_members_leave_out_one_fold_each() -> None:
    model = LSTMRegressor(5, ensemble=5)
    folds = model._folds(50)
    assert len(folds) == 5 and all(len(f) == 40 for f in folds)
    left_out = [set(range(50)) - set(f) for f in folds]
    assert set().union(*left_out) == set(range(50))
    assert sum(len(s) for s in left_out) == 50  # the folds partition the data
    assert model._folds(9) == [list(range(9))] * 5  # too few samples: all of them


def test_warm_start_continues_from_the_last_weights() -> None:
    tokens, acc = _toy()
    model = LSTMRegressor(5, epochs=30, ensemble=2, seed=2).fit(tokens, acc)
    trained_loss = model.loss_history[-1]
    model.fit(tokens, acc, epochs=1, warm_start=True)
    fresh = LSTMRegressor(5, epochs=1, ensemble=2, seed=2).fit(tokens, acc)
    assert model.loss_history[0] < fresh.loss_history[0]
    assert model.loss_history[0] < 2 * trained_loss


def test_one_sample_and_equal_accuracies_fit() -> None:
    model = LSTMRegressor(5, epochs=3, ensemble=2).fit([[1, 2, 3]], [0.7])
    assert all(math.isfinite(p) for p in model.predict([[1, 2, 3], [0, 0]]))
    for output in ("sigmoid", "linear"):
        same = LSTMRegressor(5, epochs=3, output=output).fit([[1], [2], [3, 4]], [0.5] * 3)
        assert all(abs(p - 0.5) < 0.5 for p in same.predict([[1], [4, 4]]))


@pytest.mark.parametrize(("options", "match"), [
    ({"vocab_size": 0}, r"vocab_size must be a positive int, got 0"),
    ({"embedding": 0}, r"embedding must be an int in 1\.\.4,096, got 0"),
    ({"hidden": 5000}, r"hidden must be an int in 1\.\.4,096, got 5000"),
    ({"ensemble": 65}, r"ensemble must be an int in 1\.\.64, got 65"),
    ({"epochs": 1.5}, r"epochs must be an int"),
    ({"batch_size": True}, r"batch_size must be an int"),
    ({"lr": 0}, r"lr must be a number in \(0, 10\], got 0"),
    ({"lr": math.nan}, r"lr must be a number"),
    ({"output": "tanh"}, r"output must be one of sigmoid, linear, got 'tanh'"),
    ({"seed": "a"}, r"seed must be an int, got 'a'"),
])
def test_bad_options_are_one_line_errors(options: dict[str, Any], match: str) -> None:
    args = {"vocab_size": 5, **options}
    with pytest.raises(ValueError, match=match) as info:
        LSTMRegressor(**args)
    assert "\n" not in str(info.value)


def test_bad_data_is_a_one_line_error() -> None:
    model = LSTMRegressor(5, epochs=1)
    with pytest.raises(ValueError, match="not fitted"):
        model.predict([[1]])
    with pytest.raises(ValueError, match=r"token 5 is not an int in 0\.\.4"):
        model.fit([[1, 5]], [0.5])
    with pytest.raises(ValueError, match="empty token sequence"):
        model.fit([[]], [0.5])
    with pytest.raises(ValueError, match="2 token sequences but 1 accuracies"):
        model.fit([[1], [2]], [0.5])
    with pytest.raises(ValueError, match=r"accuracy 1 must be a finite number, got nan"):
        model.fit([[1], [2]], [0.5, math.nan])
    with pytest.raises(ValueError, match="at least one"):
        model.fit([], [])
    model.fit([[1], [2]], [0.5, 0.6])
    with pytest.raises(ValueError, match=r"token -1"):
        model.predict([[-1]])


def test_config_rebuilds_the_same_regressor() -> None:
    model = LSTMRegressor(5, embedding=8, hidden=16, ensemble=3, epochs=7, lr=0.02,
                          batch_size=16, output="linear", seed=9)
    again = LSTMRegressor(**model.get_config())
    assert again.get_config() == model.get_config()
    assert "LSTMRegressor(vocab_size=5" in repr(model)
