"""The feasibility oracle (``Strategy.set_oracle``, ``Study.verdict``), coordinate's swaps and
restarts, and regularized evolution, on nb201 with a synthetic accuracy (more capacity scores
higher, so the best networks sit on a limit's boundary)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fitnas.constraints import Constraints, Limits
from fitnas.costs.model import CostModel
from fitnas.spaces import create_space
from fitnas.spaces.nb201 import BY_COST, NB201Space
from fitnas.states import TrialState
from fitnas.strategies import (
    Candidate,
    NotReady,
    Strategy,
    TrialResult,
    Verdict,
    create_strategy,
)
from fitnas.strategies.coordinate import CoordinateDescent
from fitnas.strategies.evolution import RegularizedEvolution, default_sizes

SPACE = NB201Space()
MODEL = CostModel()
#: all-none cell: 73,306 parameters; each 3x3 conv edge adds much more than a 1x1 one
MAX_PARAMS = 400_000
LIMIT = Limits(max_params=MAX_PARAMS)
CONSTRAINTS = Constraints(LIMIT)


def params(enc: tuple[str, ...]) -> int:
    return int(MODEL.costs(SPACE.graph(enc)).analytic()["params"])


def oracle(enc: Any) -> Verdict:
    costs = MODEL.costs(SPACE.graph(enc)).analytic()
    violations = CONSTRAINTS.violations(costs)
    return Verdict(all(v <= 0 for v in violations.values()), costs, violations)


def accuracy(enc: tuple[str, ...]) -> float:
    """Capacity helps, and the later edges help more (so where capacity goes matters)."""
    return float(sum(BY_COST.index(op) * (1 + e) for e, op in enumerate(enc)))


def run(strategy: Strategy, trials: int) -> list[tuple[Candidate, bool]]:
    """Drive ``strategy`` as the Study does (serially), returning each proposal and whether
    it met the limit; infeasible proposals are told INFEASIBLE and do not count."""
    strategy.set_oracle(oracle)
    out: list[tuple[Candidate, bool]] = []
    number = 0
    while sum(ok for _, ok in out) < trials:
        cand = strategy.ask()
        enc = SPACE.validate(cand.encoding)
        ok = oracle(enc).feasible
        out.append((cand, ok))
        state = TrialState.COMPLETE if ok else TrialState.INFEASIBLE
        strategy.tell(TrialResult(number, enc, state, accuracy(enc) if ok else None,
                                  oracle(enc).costs, oracle(enc).violations))
        number += 1
    return out


@pytest.mark.parametrize("name, options", [
    ("coordinate", {"nrandom": 5, "nadapt": 5, "nfinal": 5}),
    ("evolution", {"population": 5, "sample": 2}),
    ("growtrim", {"k": 3, "controller": "none", "lambda_beta": 0}),
])
def test_with_the_oracle_moves_never_break_a_limit(name: str, options: dict[str, Any]) -> None:
    strategy = create_strategy(name, SPACE, seed=3, **options)
    proposals = run(strategy, 60)
    moved = [(c, ok) for c, ok in proposals
             if c.info.get("move") not in (None, "random", "initial")]
    assert len(moved) > 30
    assert all(ok for _, ok in moved), [c.info for c, ok in moved if not ok]


def test_without_the_oracle_moves_are_proposed_and_the_study_rejects_them() -> None:
    strategy = create_strategy("coordinate", SPACE, seed=3, nrandom=5, nadapt=5, nfinal=5,
                               swap=False)
    out = []
    for number in range(80):
        cand = strategy.ask()
        ok = oracle(cand.encoding).feasible
        out.append((cand, ok))
        strategy.tell(TrialResult(number, cand.encoding,
                                  TrialState.COMPLETE if ok else TrialState.INFEASIBLE,
                                  accuracy(cand.encoding) if ok else None, {}, {}))
    assert not strategy.has_oracle and strategy.fits(SPACE.sample(0))
    assert any(not ok for c, ok in out if c.info["move"] != "random")


def test_a_swap_moves_capacity_between_edges_within_the_limit() -> None:
    strategy = create_strategy("coordinate", SPACE, seed=0, nrandom=8, nadapt=40, nfinal=0)
    proposals = run(strategy, 48)
    swaps = [c for c, _ in proposals if c.info["move"] == "swap"]
    assert swaps, "the best sits on the limit: some step up must have been repaired"
    for cand in swaps:
        up, down = cand.info["coordinate"]
        assert up != down
        assert params(cand.encoding) <= MAX_PARAMS
    # each swap is one edge a place up and another a place down from some scored base
    scored = {SPACE.validate(c.encoding) for c, ok in proposals if ok}
    for cand in swaps:
        up, down = cand.info["coordinate"]
        base = list(cand.encoding)
        base[up] = BY_COST[BY_COST.index(base[up]) - 1]
        base[down] = BY_COST[BY_COST.index(base[down]) + 1]
        assert tuple(base) in scored


def test_coordinate_beats_its_random_phase_under_a_limit() -> None:
    """The random phase follows the budget, and the descent (with swaps and restarts)
    improves on it."""
    strategy = create_strategy("coordinate", SPACE, seed=1, budget=60)
    proposals = run(strategy, 60)
    scores = [accuracy(c.encoding) for c, ok in proposals if ok]
    assert isinstance(strategy, CoordinateDescent)
    assert (strategy.nrandom, strategy.nadapt, strategy.nfinal) == (10, 10, 4)
    assert max(scores) > max(scores[:10])


def test_the_study_hands_its_oracle_to_the_strategy() -> None:
    from fitnas.evaluators import EvalResult, Evaluator
    from fitnas.study import Study

    class Capacity(Evaluator):
        """Scores an encoding by :func:`accuracy` (a table computed on the fly)."""

        name = "capacity"

        def candidate_for(self, encoding: Any, graph: Any) -> Any:
            return encoding

        def _evaluate(self, candidate: Any, *, parent: Any, test: bool,
                      budget: str | None = None) -> EvalResult:
            return EvalResult(TrialState.COMPLETE,
                              val_accuracy=accuracy(SPACE.from_data(candidate)) / 100)

        def get_config(self) -> dict[str, Any]:
            return {}

    strategy = create_strategy("evolution", SPACE, seed=0, population=4, sample=2)
    study = Study(SPACE, strategy, Capacity(), CONSTRAINTS)
    assert strategy.has_oracle
    rng = random.Random(0)
    for _ in range(20):
        enc = SPACE.sample(rng)
        verdict = strategy.verdict(enc)
        assert verdict is not None
        check = CONSTRAINTS.check(SPACE.graph(enc))
        assert verdict.feasible == check.feasible
        assert dict(verdict.violations) == pytest.approx(dict(check.violations))
    study.optimize(25)
    trials = study.trials()
    mutations = [t for t in trials if t.number >= 8]
    assert len(study.trials((TrialState.COMPLETE,))) == 25
    assert all(t.state != TrialState.INFEASIBLE for t in mutations[4:])


def test_evolution_ages_the_oldest_out_and_sizes_follow_the_budget() -> None:
    assert default_sizes(None) == (25, 6)
    assert default_sizes(40) == (10, 2) and default_sizes(200) == (20, 5)
    assert default_sizes(5000) == (100, 25)
    evo = create_strategy("evolution", create_space("nb201"), seed=0, population=3, sample=2)
    assert isinstance(evo, RegularizedEvolution)
    run(evo, 10)
    members = evo.members
    assert len(members) == 3
    with pytest.raises(NotReady):
        fresh = create_strategy("evolution", SPACE, seed=0, population=1)
        fresh.ask()
        fresh.ask()


def _boundary() -> tuple[str, ...]:
    """A cell within the limit from which every grow that adds a 3x3 convolution breaks it."""
    rng = random.Random(5)
    while True:
        enc = SPACE.sample(rng)
        grows = SPACE.grow(enc)
        if oracle(enc).feasible and grows and sum(not oracle(g).feasible for g in grows) >= 3:
            return enc


def test_swaps_repair_a_grow_over_the_limit_with_a_trim() -> None:
    from fitnas.strategies._moves import repaired, swaps

    strategy = create_strategy("random", SPACE, seed=0)
    strategy.set_oracle(oracle)
    base = _boundary()
    found = swaps(strategy, base, random.Random(0), lambda e: e != base, most=50)
    over = [g for g in SPACE.grow(base) if not oracle(g).feasible]
    assert found and len(found) <= len(over)
    for enc in found:
        assert params(enc) <= MAX_PARAMS and enc != base
        changed = [e for e in range(6) if enc[e] != base[e]]
        assert 1 <= len(changed) <= 2  # a grow and a trim (on another edge, or the same one)
        # it came from a grow over the limit
        assert any(sum(a != b for a, b in zip(enc, g)) == 1 for g in over)
    # a network over the limit is brought back by one trim, never to the cell it grew from
    grow = over[0]
    fixed = repaired(strategy, grow, random.Random(1), lambda e: True, avoid=base)
    assert fixed is not None and fixed != base and oracle(fixed).feasible
    assert fixed in SPACE.trim(grow)


@pytest.mark.parametrize("name, options, kind", [
    ("growtrim", {"k": 4, "controller": "none"}, "swap"),
    ("evolution", {"population": 4, "sample": 2}, "repair"),
])
def test_local_strategies_move_along_the_boundary(name: str, options: dict[str, Any],
                                                  kind: str) -> None:
    strategy = create_strategy(name, SPACE, seed=2, **options)
    proposals = run(strategy, 80)
    moved = [c for c, ok in proposals if c.info.get("move") == kind]
    assert moved, f"{name} never made a {kind} move under the limit"
    assert all(params(c.encoding) <= MAX_PARAMS for c in moved)
