"""``coordinate``: paper 002 Algorithm II (schedule, descent, variants) and its use in a Study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fitnas.spaces import Encoding, SearchSpace, create_space
from fitnas.spaces.nb201 import BY_COST
from fitnas.states import TrialState
from fitnas.strategies import (
    Candidate,
    NotReady,
    Strategy,
    StrategyError,
    TrialResult,
    create_strategy,
)
from fitnas.strategies.coordinate import CoordinateDescent

TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"


def op_score(enc: tuple[str, ...]) -> float:
    """A stand-in accuracy that grows with the cost of every edge's op (descent goes up)."""
    return sum(BY_COST.index(op) for op in enc) / (4 * len(enc))


def coordinate(space: SearchSpace, **options: Any) -> CoordinateDescent:
    """``coordinate`` from the registry, typed as what it is."""
    strategy = create_strategy("coordinate", space, **options)
    assert isinstance(strategy, CoordinateDescent)
    return strategy


def told(strategy: Strategy, number: int, cand: Candidate, state: TrialState = TrialState.COMPLETE,
         score: float | None = None) -> TrialResult:
    accuracy = (op_score(cand.encoding) if score is None else score) if state == TrialState.COMPLETE else None
    result = TrialResult(number, cand.encoding, state, accuracy, {}, {})
    strategy.tell(result)
    return result


def test_schedule_random_then_early_adaptive_then_full() -> None:
    space = create_space("nb201")
    strategy = coordinate(space, seed=1, nrandom=3, nadapt=4, nfinal=2)
    phases, budgets = [], []
    for number in range(11):
        cand = strategy.ask()
        phases.append(cand.info["phase"])
        budgets.append(cand.budget)
        told(strategy, number, cand)
    assert phases == ["random"] * 3 + ["adaptive"] * 4 + ["final"] * 4
    assert budgets == ["early"] * 7 + [None] * 4
    no_early = coordinate(space, seed=1, nrandom=1, nadapt=1, early="none")
    cand = no_early.ask()
    assert cand.budget is None


def test_rejected_moves_do_not_count_and_pick_another_coordinate() -> None:
    space = create_space("nb201")
    strategy = coordinate(space, seed=2, nrandom=2, nadapt=3, nfinal=1)
    for number in range(2):
        told(strategy, number, strategy.ask())
    seen = set()
    for number in range(2, 12):  # every adaptive proposal over the limits
        cand = strategy.ask()
        assert cand.info["phase"] == "adaptive"  # rejected: still the first adaptive sample
        assert space.format(cand.encoding) not in seen  # another move each time
        seen.add(space.format(cand.encoding))
        told(strategy, number, cand, TrialState.INFEASIBLE)
    assert strategy.phase() == "adaptive"


TARGET = ("avg_pool_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3",
          "skip_connect")


def closeness(enc: tuple[str, ...]) -> float:
    """A stand-in accuracy that peaks at ``TARGET``: minus the edges' distance along BY_COST."""
    return -float(sum(abs(BY_COST.index(a) - BY_COST.index(b)) for a, b in zip(enc, TARGET)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_step_that_improves_is_followed_by_the_next_step_in_that_direction(seed: int) -> None:
    space = create_space("nb201")
    strategy = coordinate(space, seed=seed, nrandom=1, nadapt=100)
    start = strategy.ask()
    best = closeness(start.encoding)
    told(strategy, 0, start, score=best)
    followed = 0
    for number in range(1, 80):
        cand = strategy.ask()
        score = closeness(cand.encoding)
        told(strategy, number, cand, score=score)
        improved, best = score > best, max(best, score)
        if cand.info["move"] != "step" or not improved:
            continue
        try:
            expected = space.step(cand.encoding, cand.info["coordinate"], cand.info["direction"])
        except Exception:
            continue  # already the cheapest or costliest op: the descent ends
        if space.fingerprint(expected) in strategy._seen:
            continue  # proposed before: the descent ends
        nxt = strategy.ask()
        assert nxt.info["move"] == "step" and nxt.encoding == expected
        assert (nxt.info["coordinate"], nxt.info["direction"]) == (
            cand.info["coordinate"], cand.info["direction"])
        score = closeness(nxt.encoding)
        told(strategy, number + 100, nxt, score=score)
        best = max(best, score)
        followed += 1
    assert followed >= 1


def test_sequential_waits_and_nbest_proposes_batches_of_n() -> None:
    space = create_space("nb201")
    seq = coordinate(space, seed=0, nrandom=2, variant="sequential")
    first, second = seq.ask(), seq.ask()  # random samples never wait
    told(seq, 0, first)
    with pytest.raises(NotReady):
        seq.ask()  # the second random sample is still running
    told(seq, 1, second)
    adaptive = seq.ask()
    with pytest.raises(NotReady):
        seq.ask()
    told(seq, 2, adaptive)
    seq.ask()

    nbest = coordinate(space, seed=0, nrandom=5, variant="nbest", n_best=3)
    randoms = [nbest.ask() for _ in range(5)]
    for number, cand in enumerate(randoms):
        told(nbest, number, cand, score=number / 10)  # the last random sample is the best
    batch = [nbest.ask() for _ in range(3)]
    with pytest.raises(NotReady):
        nbest.ask()
    ranked = [randoms[4].encoding, randoms[3].encoding, randoms[2].encoding]
    for k, cand in enumerate(batch):  # thread k descends from the k-th best
        moves = [space.step(ranked[k], c, d) for c in space.coordinates(ranked[k]) for d in (1, -1)
                 if _steps(space, ranked[k], c, d)] + space.grow(ranked[k]) + space.trim(ranked[k])
        assert cand.encoding in moves
    for number, cand in enumerate(batch, start=5):
        told(nbest, number, cand)
    nbest.ask()  # the next batch


def _steps(space: SearchSpace, enc: Encoding, coordinate: Any, direction: int) -> bool:
    try:
        space.step(enc, coordinate, direction)
    except Exception:
        return False
    return True


def test_async_asks_without_waiting_once_something_is_scored() -> None:
    space = create_space("nb201")
    strategy = coordinate(space, seed=0, nrandom=1)
    first = strategy.ask()
    with pytest.raises(NotReady):
        strategy.ask()  # nothing scored yet, something running: wait
    told(strategy, 0, first)
    several = [strategy.ask() for _ in range(4)]  # no waiting for each other
    assert len({space.format(c.encoding) for c in several}) == 4


@pytest.mark.parametrize("bad", [{"variant": "greedy"}, {"nrandom": -1}, {"n_best": 0}])
def test_bad_arguments_are_one_line_errors(bad: dict) -> None:
    with pytest.raises(StrategyError, match=str(next(iter(bad.values())))):
        create_strategy("coordinate", create_space("nb201"), **bad)


@pytest.mark.skipif(not TABLE.exists(), reason="needs ../shared/benchmarks/nb201_12epoch.csv")
@pytest.mark.parametrize("variant", ["async", "sequential", "nbest"])
def test_every_variant_beats_its_random_phase_on_nb201(variant: str) -> None:
    from fitnas.constraints import Constraints, Limits
    from fitnas.evaluators import TableEvaluator
    from fitnas.study import Study

    space = create_space("nb201")
    evaluator = TableEvaluator(TABLE, "cifar10_test", key_fn=space.format)
    wins = 0
    for seed in range(3):
        strategy = coordinate(space, seed=seed, nrandom=15, nadapt=45,
                              variant=variant)
        study = Study(space, strategy, evaluator, Constraints(Limits(max_peak_mem=262144)))
        study.optimize(60)
        done = [t for t in study.trials() if t.state == TrialState.COMPLETE]
        assert all(t.costs["peak_activation_bytes"] <= 262144 for t in done)
        accuracy = [t.accuracy for t in done if t.accuracy is not None]
        wins += max(accuracy) > max(accuracy[:15])
    assert wins >= 2
