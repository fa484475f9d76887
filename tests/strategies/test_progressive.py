"""``progressive``: DPP-Net's rounds (grow children, prediction, Pareto selection, update)."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from fitnas.constraints import Constraints, Limits
from fitnas.evaluators import TableEvaluator
from fitnas.spaces import Encoding, SearchSpace, create_space
from fitnas.spaces.nb201 import NB201Space
from fitnas.states import TrialState
from fitnas.strategies import (
    Candidate,
    NoFeasibleArchitecture,
    NotReady,
    StrategyError,
    TrialResult,
    Verdict,
    create_strategy,
)
from fitnas.strategies.progressive import Progressive, crowding_distance, pareto_select
from fitnas.study import Study

from ..tables import synthetic_nb201_table

FAST: dict[str, Any] = {"ensemble": 2, "epochs": 5}


def progressive(space: SearchSpace, **options: Any) -> Progressive:
    strategy = create_strategy("progressive", space, **options)
    assert isinstance(strategy, Progressive)
    return strategy


def toy_accuracy(enc: Encoding) -> float:
    """Accuracy rising with convolutions (deterministic, distinct enough to rank)."""
    score = {"none": 0, "skip_connect": 1, "avg_pool_3x3": 1, "nor_conv_1x1": 2, "nor_conv_3x3": 3}
    return 0.1 + sum(score[op] * (1 + 0.1 * i) for i, op in enumerate(enc)) / 30


def run_rounds(strategy: Progressive, rounds: int,
               outcome: Callable[[int, Candidate], TrialResult] | None = None) -> list[Candidate]:
    """Drive ``strategy`` as a synchronous Study does: ask until ``NotReady`` (an INFEASIBLE
    outcome told at once), then tell the others; stop at the first candidate of round
    ``rounds`` (rounds 0..``rounds`` then exist, the last selected but not trained)."""
    outcome = outcome or complete
    asked: list[Candidate] = []
    number = 0
    while True:
        batch = []
        while True:
            try:
                cand = strategy.ask()
            except NotReady:
                break
            asked.append(cand)
            if len(strategy.rounds) > rounds:
                return asked
            result = outcome(number, cand)
            number += 1
            if result.state == TrialState.INFEASIBLE:
                strategy.tell(result)
            else:
                batch.append(result)
        for result in batch:
            strategy.tell(result)


def complete(number: int, cand: Candidate) -> TrialResult:
    return TrialResult(number, cand.encoding, TrialState.COMPLETE, toy_accuracy(cand.encoding),
                       {}, {})


def test_round_0_trains_the_all_none_cell_then_round_1_its_24_grow_children() -> None:
    space = NB201Space()
    strategy = progressive(space, seed=0, k=8, **FAST)
    first = strategy.ask()
    assert first.encoding == ("none",) * 6 and first.budget == "early"
    with pytest.raises(NotReady):
        strategy.ask()
    strategy.tell(complete(0, first))
    second = strategy.ask()
    one = strategy.rounds[1]
    assert one.kind == "grow" and one.parents == [first.encoding]
    assert one.enumerated == 24 and sorted(one.children) == sorted(space.grow(first.encoding))
    assert len(one.selected) == 8 and second.encoding in one.selected
    # no data to learn from yet: the prior, log(1 + MACs), predicts the accuracy
    macs = {e: Constraints().cost_model.costs(space.graph(e))["macs"] for e in one.children}
    assert one.predicted == {e: math.log1p(macs[e]) for e in one.children}


def test_each_round_enumerates_exactly_the_grow_children_of_the_selection() -> None:
    space = NB201Space()
    strategy = progressive(space, seed=1, k=4, **FAST)
    run_rounds(strategy, 6)
    proposed: set[str] = set()
    for previous, it in zip(strategy.rounds, strategy.rounds[1:]):
        proposed |= {space.fingerprint(e) for e in previous.selected}
        assert it.kind == "grow" and it.parents == previous.selected
        raw = [c for p in previous.selected for c in space.grow(p)]
        assert it.enumerated == len(raw)
        expected = {c for c in raw if space.fingerprint(c) not in proposed}
        assert set(it.children) == expected
        assert len(it.children) == len(set(it.children))  # duplicates removed
        assert len(it.selected) == min(4, len(expected))
        assert set(it.selected) <= set(it.children)
        assert set(it.predicted) == set(it.children)
        assert all(e in it.depth and it.depth[e] == it.number for e in it.children)
    assert strategy._model is not None  # the regressor took over from the prior


def _naive_fronts(points: np.ndarray) -> list[list[int]]:
    """Successive non-dominated fronts by comparing every pair (the test's own sort)."""
    left = list(range(len(points)))
    fronts = []
    while left:
        front = [i for i in left if not any(
            np.all(points[j] <= points[i]) and np.any(points[j] < points[i]) for j in left)]
        fronts.append(front)
        left = [i for i in left if i not in front]
    return fronts


@pytest.mark.parametrize("tiebreak", ["hypervolume", "crowding"])
def test_k_is_filled_from_successive_fronts(tiebreak: str) -> None:
    space = NB201Space()
    strategy = progressive(space, seed=2, k=6, tiebreak=tiebreak, **FAST)
    strategy.set_objectives(["params", "macs"])
    run_rounds(strategy, 4)
    model = Constraints().cost_model
    checked = 0
    for it in strategy.rounds[1:]:
        costs = [model.costs(space.graph(e)) for e in it.children]
        points = np.array([[-it.predicted[e], c["params"], c["macs"]]
                           for e, c in zip(it.children, costs)])
        fronts = _naive_fronts(points)
        chosen = {it.children.index(e) for e in it.selected}
        filled = 0
        for front in fronts:
            inside = chosen & set(front)
            if filled + len(front) <= 6:
                assert inside == set(front)  # a whole front that fits is taken whole
            else:
                assert len(inside) == 6 - filled  # the cut front, then nothing more
            filled += len(inside)
            checked += len(front) > len(inside) > 0
            if filled == 6:
                break
        assert filled == 6
    assert checked  # some round needed a tiebreak


def _hv_2d(points: np.ndarray, ref: float) -> float:
    """The 2-D hypervolume of mutually non-dominated points (the test's own formula)."""
    rows = sorted(map(tuple, points))
    total, last_y = 0.0, ref
    for x, y in rows:
        total += (ref - x) * (last_y - y)
        last_y = y
    return total


def _greedy_hv(points: np.ndarray, need: int) -> set[int]:
    """Drop the least contributor until ``need`` remain (2-D, normalized, reference 1.1)."""
    low, high = points.min(axis=0), points.max(axis=0)
    scaled = (points - low) / np.where(high > low, high - low, 1.0)
    kept = list(range(len(points)))
    while len(kept) > need:
        whole = _hv_2d(scaled[kept], 1.1)
        loss = [whole - _hv_2d(scaled[[k for k in kept if k != i]], 1.1) for i in kept]
        kept.remove(kept[int(np.argmin(loss))])
    return set(kept)


@pytest.mark.parametrize("seed", range(5))
def test_the_hypervolume_tiebreak_keeps_the_largest_contributions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.random(12))
    front = np.column_stack([x, 1 - np.sqrt(x) + 0.05 * rng.random(12)])
    front = front[[i for i in range(12) if not any(
        np.all(front[j] <= front[i]) and np.any(front[j] < front[i]) for j in range(12))]]
    need = len(front) // 2
    assert set(pareto_select(front, need, "hypervolume")) == _greedy_hv(front, need)


def test_the_crowding_tiebreak_keeps_extremes_and_isolated_points() -> None:
    front = np.array([[0.0, 1.0], [0.1, 0.9], [0.11, 0.89], [0.12, 0.88], [0.6, 0.3],
                      [1.0, 0.0]])
    distance = crowding_distance(front)
    assert math.isinf(distance[0]) and math.isinf(distance[-1])
    assert set(pareto_select(front, 3, "crowding")) == {0, 4, 5}
    dominated = np.vstack([front, [[2.0, 2.0]]])
    assert 6 not in pareto_select(dominated, 6, "crowding")  # a full first front wins
    assert pareto_select(front, 10) == list(range(6))


def test_duplicate_networks_are_removed_by_fingerprint() -> None:
    """A space whose grow lists every child twice and where two encodings differing only in
    their last edge are the same network: each network is a candidate once, and never
    again once proposed."""

    class Twins(NB201Space):
        def grow(self, enc: Any) -> list[Any]:
            return super().grow(enc) * 2

        def fingerprint(self, enc: Any) -> str:
            return super().fingerprint((*enc[:5], "none"))

    space = Twins()
    strategy = progressive(space, seed=3, k=4, **FAST)
    run_rounds(strategy, 4)
    seen: set[str] = set()
    for it in strategy.rounds:
        prints = [space.fingerprint(e) for e in it.children]
        assert len(prints) == len(set(prints))
        assert not set(prints) & seen
        seen |= {space.fingerprint(e) for e in it.selected}
    assert strategy.rounds[1].enumerated == 48 and len(strategy.rounds[1].children) == 20


def test_children_over_a_limit_are_left_out_by_the_oracle() -> None:
    space = NB201Space()
    strategy = progressive(space, seed=4, k=4, **FAST)
    model = Constraints().cost_model
    limit = 300_000

    def oracle(enc: Any) -> Verdict:
        costs = dict(model.costs(space.graph(enc)))
        return Verdict(costs["params"] <= limit, costs, {"max_params": costs["params"] / limit - 1})

    strategy.set_oracle(oracle)
    run_rounds(strategy, 3)
    for it in strategy.rounds[1:]:
        assert it.children and all(oracle(e).feasible for e in it.children)
        raw = {c for p in it.parents for c in space.grow(p)}
        assert any(not oracle(c).feasible for c in raw)  # some were over the limit


def test_failed_trials_are_recorded_and_infeasible_ones_replaced() -> None:
    space = NB201Space()
    strategy = progressive(space, seed=5, k=4, **FAST)

    def outcome(number: int, cand: Candidate) -> TrialResult:
        if cand.encoding == ("none",) * 6:
            return complete(number, cand)
        bad = sorted(strategy.rounds[-1].selected[:4])[:2]
        if cand.encoding == bad[0]:
            return TrialResult(number, cand.encoding, TrialState.FAILED, None, {}, {})
        if cand.encoding == bad[1] and strategy.rounds[-1].number == 1:
            return TrialResult(number, cand.encoding, TrialState.INFEASIBLE, None, {},
                               {"max_latency": 0.5})
        return complete(number, cand)

    run_rounds(strategy, 3, outcome)
    one = strategy.rounds[1]
    assert len(one.failed) == 1 and len(one.infeasible) == 1
    assert len(one.selected) == 5  # the infeasible one was replaced by the next selection
    assert len(one.trained) == 3 and one.failed[0] not in strategy._data
    assert one.infeasible[0] not in strategy.rounds[2].parents
    assert one.failed[0] in strategy.rounds[2].parents  # a failure says nothing of its children
    assert all(e in strategy._data for e, _ in one.trained)


def test_max_layers_bounds_the_rounds_and_the_end_is_an_orderly_stop() -> None:
    space = NB201Space()
    strategy = progressive(space, seed=6, k=3, max_layers=2, **FAST)
    kinds = []
    # the root, its children, then nothing: every child within max_layers was tried
    for number in range(100):
        try:
            cand = strategy.ask()
        except NoFeasibleArchitecture as err:
            assert "every grow child" in str(err) and "max_layers=2" in str(err)
            break
        kinds.append(strategy.rounds[-1].kind)
        strategy.tell(complete(number, cand))
    else:
        pytest.fail("progressive never ended")
    assert kinds == ["roots"] + ["grow"] * 3 + ["frontier"] * 21
    assert len(strategy._depth) == 25 and max(strategy._depth.values()) == 1


def test_a_study_with_a_larger_budget_finishes_without_error() -> None:
    space = NB201Space()
    table = TableEvaluator(synthetic_nb201_table(), "cifar10_test", key_fn=space.format)
    strategy = progressive(space, seed=7, k=3, max_layers=2, **FAST)
    study = Study(space, strategy, table, Constraints(Limits()))
    study.optimize(40)
    assert len(study.trials((TrialState.COMPLETE,))) == 25


def test_a_study_searches_past_the_rounds_on_the_frontier() -> None:
    """With ``max_layers`` unset the search goes on: rounds of the selection's children, then
    (when those run out) of every evaluated network's; and it beats its own first round."""
    space = NB201Space()
    table = TableEvaluator(synthetic_nb201_table(), "cifar10_test", key_fn=space.format)
    strategy = progressive(space, seed=8, k=8, **FAST)
    study = Study(space, strategy, table, Constraints(Limits(max_params=600_000)),
                  objectives=["params", "macs"])
    assert strategy.objectives == ("params", "macs")
    study.optimize(60)
    done = study.trials((TrialState.COMPLETE,))
    assert len(done) == 60 and all(t.costs["params"] <= 600_000 for t in done)
    first = max(a for _, a in strategy.rounds[1].trained)
    assert max(t.accuracy or 0 for t in done) > first


@pytest.mark.parametrize("warm", [True, False])
def test_the_regressor_is_updated_after_every_round(warm: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    strategy = progressive(NB201Space(), seed=3, k=3, warm_start=warm, ensemble=2, epochs=8)
    seen: list[tuple[Any, int, int]] = []  # (model, trained networks, epochs) after each refit
    refit = strategy._refit

    def recorded() -> None:
        refit()
        if strategy._model is not None:
            seen.append((strategy._model, len(strategy._data),
                         len(strategy._model.loss_history)))

    monkeypatch.setattr(strategy, "_refit", recorded)
    run_rounds(strategy, 4)
    # no fit before two accuracies differ (one root), then one after each round
    assert strategy.regressor_fits == 3
    assert [n for _, n, _ in seen] == [4, 7, 10]
    assert [a is b for (a, _, _), (b, _, _) in pairwise(seen)] == [warm, warm]
    assert [e for _, _, e in seen] == ([8, 2, 2] if warm else [8, 8, 8])


def proposals(seed: int, **options: Any) -> list[Encoding]:
    strategy = progressive(NB201Space(), seed=seed, **{**FAST, **options})
    return [c.encoding for c in run_rounds(strategy, 3)]


def test_same_seed_same_rounds_and_another_seed_differs() -> None:
    assert proposals(11, k=4) == proposals(11, k=4)
    assert proposals(11, k=4) != proposals(12, k=4)


def test_an_objective_missing_from_the_analytic_costs_warns_once() -> None:
    strategy = progressive(NB201Space(), seed=0, k=2, **FAST)
    strategy.set_objectives(["params", "latency_ms"])
    with pytest.warns(UserWarning, match=r"objective 'latency_ms' is not among the analytic"):
        run_rounds(strategy, 2)
    assert len(strategy.rounds[2].selected) == 2


def test_a_space_without_roots_starts_from_random_samples() -> None:
    space = create_space("chain", input_shape=(1, 1, 8, 8), classes=10)
    strategy = progressive(space, seed=9, k=3, **FAST)

    def outcome(number: int, cand: Candidate) -> TrialResult:
        accuracy = 0.1 + len(repr(cand.encoding)) % 50 / 100
        return TrialResult(number, cand.encoding, TrialState.COMPLETE, accuracy, {}, {})

    run_rounds(strategy, 2, outcome)
    assert strategy.rounds[0].kind == "random" and len(strategy.rounds[0].selected) == 3
    assert strategy.rounds[1].kind == "grow"
    assert set(strategy.rounds[1].children) <= {
        c for p in strategy.rounds[0].selected for c in space.grow(p)}


@pytest.mark.parametrize(("options", "match"), [
    ({"k": 0}, r"progressive k must be an int in 1\.\.65,536, got 0"),
    ({"k": True}, r"progressive k must be an int"),
    ({"max_layers": 0}, r"progressive max_layers must be an int in 1\.\.65,536 or none, got 0"),
    ({"ensemble": 65}, r"progressive ensemble must be an int in 1\.\.64, got 65"),
    ({"epochs": 2.5}, r"progressive epochs must be an int"),
    ({"warm_start": "yes"}, r"progressive warm_start must be true or false, got 'yes'"),
    ({"tiebreak": "random"}, r"progressive tiebreak must be one of hypervolume, crowding, got "
                             r"'random'"),
    ({"budget": 0}, r"budget must be an int >= 1"),
    ({"population": 3}, r"strategy 'progressive' has no option 'population'; accepted: k, "),
])
def test_bad_options_are_one_line_errors(options: dict[str, Any], match: str) -> None:
    with pytest.raises(StrategyError, match=match) as info:
        create_strategy("progressive", NB201Space(), **options)
    assert "\n" not in str(info.value)


def test_config_round_trips_with_none_values() -> None:
    strategy = progressive(NB201Space(), k=5, max_layers=None, early=None, tiebreak="crowding")
    config = strategy.get_config()
    assert config["early"] == "none" and config["max_layers"] is None
    assert progressive(NB201Space(), **config).get_config() == config
