"""``growtrim``: MemNAS iterations (eq. 1 + eq. 2 neighbours, eq. 4 selection, controller)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from fitnas.spaces import SearchSpace, create_space
from fitnas.spaces.cells import CellsSpace, augment_space_size, trim_space_size
from fitnas.states import TrialState
from fitnas.strategies import (
    Candidate,
    NotReady,
    Strategy,
    StrategyError,
    TrialResult,
    create_strategy,
)
from fitnas.strategies.growtrim import GrowTrim

TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"


def small_cells(max_blocks: int = 3) -> CellsSpace:
    space = create_space("cells", input_shape=(1, 1, 8, 8), classes=10, filters=8,
                         max_blocks=max_blocks)
    assert isinstance(space, CellsSpace)
    return space


def growtrim(space: SearchSpace, **options: Any) -> GrowTrim:
    """``growtrim`` from the registry, typed as what it is."""
    strategy = create_strategy("growtrim", space, **options)
    assert isinstance(strategy, GrowTrim)
    return strategy


def tell(strategy: Strategy, number: int, cand: Candidate, accuracy: float | None,
         peak: float = 1000.0, param_bytes: float = 1000.0,
         state: TrialState = TrialState.COMPLETE) -> None:
    costs = {"peak_activation_bytes": peak, "param_bytes": param_bytes}
    strategy.tell(TrialResult(number, cand.encoding, state, accuracy, costs, {}))


def start(strategy: Strategy, accuracies: list[float]) -> list[Candidate]:
    """Run the initial random samples with the given accuracies."""
    cands = [strategy.ask() for _ in accuracies]
    for number, (cand, acc) in enumerate(zip(cands, accuracies)):
        tell(strategy, number, cand, acc)
    return cands


@pytest.mark.parametrize("max_blocks", [2, 3, 5])
def test_an_iteration_enumerates_exactly_the_eq1_plus_eq2_neighbours(max_blocks: int) -> None:
    space = small_cells(max_blocks)
    strategy = growtrim(space, seed=max_blocks, k=2, controller="none")
    initial = start(strategy, [0.5, 0.9, 0.7, 0.6, 0.8, 0.4, 0.3, 0.2][:2])
    first = strategy.ask()
    parent = strategy.selected[-1]
    assert parent.encoding == initial[1].encoding  # the most accurate initial sample
    blocks, identity, cut = parent.encoding
    grow = augment_space_size(len(blocks)) if len(blocks) < max_blocks else 0
    trim = trim_space_size(len(blocks), space.n_cells, len(identity), len(blocks) - len(cut))
    assert strategy.enumerated == grow + trim
    assert first.info["move"] in ("grow", "trim")


def test_trims_inherit_and_fine_tune_grows_train_from_scratch() -> None:
    space = small_cells()
    strategy = growtrim(space, seed=0, k=40, initial=1, controller="none")
    start(strategy, [0.8])
    parent_number = 0
    kinds = set()
    for number in range(1, 41):
        cand = strategy.ask()
        kinds.add(cand.info["move"])
        if cand.info["move"] == "trim":
            assert cand.parent == parent_number and cand.budget == "finetune"
        else:
            assert cand.parent is None and cand.budget is None
        tell(strategy, number, cand, 0.5)
    assert kinds == {"grow", "trim"}
    inherit = growtrim(space, seed=0, k=40, initial=1, controller="none",
                       inherit_grown=True)
    start(inherit, [0.8])
    grown = next(c for c in iter(inherit.ask, None) if c.info["move"] == "grow")
    assert grown.parent == 0 and grown.budget is None


def test_selection_by_eq4_prefers_less_memory_at_equal_lambdas() -> None:
    space = small_cells()
    strategy = growtrim(space, seed=1, k=2, initial=1, controller="none", lambda_beta=0.5)
    start(strategy, [0.80])
    a, b = strategy.ask(), strategy.ask()
    with pytest.raises(NotReady):
        strategy.ask()  # the top K are still training
    # a: +5% accuracy for twice the memory; b: -1% accuracy for half the memory
    tell(strategy, 1, a, 0.84, peak=2000.0, param_bytes=2000.0)
    tell(strategy, 2, b, 0.792, peak=500.0, param_bytes=500.0)
    strategy.ask()
    assert strategy.selected[-1].encoding == b.encoding
    # accuracy alone (lambda_beta = 0) picks the other
    acc_only = growtrim(space, seed=1, k=2, initial=1, controller="none",
                        lambda_beta=0.0)
    start(acc_only, [0.80])
    a, b = acc_only.ask(), acc_only.ask()
    tell(acc_only, 1, a, 0.84, peak=2000.0, param_bytes=2000.0)
    tell(acc_only, 2, b, 0.792, peak=500.0, param_bytes=500.0)
    acc_only.ask()
    assert acc_only.selected[-1].encoding == a.encoding


def test_the_parent_stays_when_no_candidate_improves_and_infeasible_ones_are_replaced() -> None:
    space = small_cells()
    strategy = growtrim(space, seed=2, k=2, initial=1, controller="none")
    start(strategy, [0.80])
    parent = strategy.ask()  # first of iteration 1
    tell(strategy, 1, parent, None, state=TrialState.INFEASIBLE)
    a, b = strategy.ask(), strategy.ask()  # two more: the infeasible one was replaced
    with pytest.raises(NotReady):
        strategy.ask()
    tell(strategy, 2, a, 0.5)
    tell(strategy, 3, b, 0.6)
    nxt = strategy.ask()
    assert strategy.selected[-1].encoding == strategy.selected[0].encoding
    assert nxt.encoding not in (a.encoding, b.encoding, parent.encoding)


def _fits_per_ask(refit_growth: float) -> list[int]:
    """The controller's fit count before each ask of a short nb201 run (k 3, 3 initial)."""
    space = create_space("nb201")
    strategy = growtrim(space, seed=0, k=3, controller="ranking", controller_epochs=5,
                        refit_growth=refit_growth)
    start(strategy, [0.5, 0.6, 0.7])
    counts = []
    for number in range(3, 15):
        cand = strategy.ask()
        counts.append(strategy.controller_fits)
        tell(strategy, number, cand, 0.5 + (number % 4) / 10)
    strategy.ask()
    counts.append(strategy.controller_fits)
    return counts


def test_the_controller_is_refitted_as_the_trained_set_grows_and_ranks_the_neighbours() -> None:
    # refit_growth 1: after every iteration (3, 6, 9, 12 and 15 samples), as the paper does
    every = _fits_per_ask(1)
    assert every[0] == 1 and every[-1] == 5 and sorted(every) == every
    # the default 1.5: at 3, 6 (>= 4.5), 9 (>= 9) and 15 (>= 13.5) samples, not at 12
    assert _fits_per_ask(1.5)[-1] == 4
    space = create_space("nb201")
    strategy = growtrim(space, seed=0, k=3, controller="ranking", controller_epochs=5)
    start(strategy, [0.5, 0.6, 0.7])
    for number in range(3, 12):
        tell(strategy, number, strategy.ask(), 0.5 + (number % 4) / 10)
    strategy.ask()
    # the queue is the rest of the parent's neighbours in the controller's order (scored
    # together: the controller's scores depend on the set it ranks)
    it = strategy._iteration
    assert it.parent is not None
    full = strategy.neighbours(it.parent.encoding)
    scores = strategy._model.predict([space.to_tokens(e) for e, _ in full])
    ranked = [full[i] for i in sorted(range(len(full)), key=lambda i: -scores[i])]
    assert len(it.queue) < len(ranked) and it.queue == ranked[len(ranked) - len(it.queue):]


def test_a_warm_refit_continues_from_the_last_weights() -> None:
    from fitnas.predictors import RankingController, Sample

    groups = [[Sample((i % 5, (i + 1) % 5, 2, 3, 4, i % 3), float(i), 100.0 + i, 50.0 + i)
               for i in range(8)]]
    cold = RankingController(5, epochs=4, seed=0).fit(groups)
    again = RankingController(5, epochs=4, seed=0).fit(groups)
    assert cold.predict([s.tokens for s in groups[0]]) == again.predict(
        [s.tokens for s in groups[0]])
    assert cold._net is not None
    before = [p.detach().clone() for p in cold._net.parameters()]
    cold.fit(groups, epochs=2, warm_start=True)
    assert cold._net is not None
    assert len(cold.loss_history) == 2
    assert cold.loss_history[0] < again.loss_history[0]  # it starts where it stopped
    assert any(not torch.equal(a, b) for a, b in zip(before, cold._net.parameters()))


@pytest.mark.parametrize("bad", [{"k": 0}, {"controller": "lstm"}, {"lambda_alpha": 0},
                                 {"initial": 0}])
def test_bad_arguments_are_one_line_errors(bad: dict) -> None:
    with pytest.raises(StrategyError, match="growtrim"):
        create_strategy("growtrim", create_space("nb201"), **bad)


@pytest.mark.skipif(not TABLE.exists(), reason="needs ../shared/benchmarks/nb201_12epoch.csv")
def test_a_study_on_nb201_honours_the_limit_and_improves_on_its_start() -> None:
    from fitnas.constraints import Constraints, Limits
    from fitnas.evaluators import TableEvaluator
    from fitnas.study import Study

    space = create_space("nb201")
    evaluator = TableEvaluator(TABLE, "cifar10_test", key_fn=space.format)
    strategy = growtrim(space, seed=3, k=4, controller_epochs=10,
                        lambda_beta=0.0)
    study = Study(space, strategy, evaluator, Constraints(Limits(max_peak_mem=262144)))
    study.optimize(40)
    done = study.trials((TrialState.COMPLETE,))
    assert len(done) == 40
    assert all(t.costs["peak_activation_bytes"] <= 262144 for t in done)
    accuracy = [t.accuracy for t in done if t.accuracy is not None]
    assert len(accuracy) == 40 and max(accuracy) > max(accuracy[:4])
    assert len(strategy.selected) >= 5


@pytest.mark.skipif(not TABLE.exists(), reason="needs ../shared/benchmarks/nb201_12epoch.csv")
@pytest.mark.parametrize("controller", ["gru", "ranking"])
def test_a_study_with_each_controller_retrains_it_every_iteration(controller: str) -> None:
    """``growtrim:controller=gru`` (paper 000 Table 4's single-GRU baseline, which regresses
    the eq. 4 merit and has no memory term) used to raise a TypeError at its first retraining;
    the ranking controller gets eq. 3's memory weight ``lambda_beta / lambda_alpha``."""
    from fitnas.evaluators import TableEvaluator
    from fitnas.predictors import GRURegressor, RankingController
    from fitnas.study import Study

    space = create_space("nb201")
    evaluator = TableEvaluator(TABLE, "cifar10_test", key_fn=space.format)
    strategy = growtrim(space, seed=1, k=3, controller=controller, refit_growth=1,
                        controller_epochs=5, lambda_alpha=0.8, lambda_beta=0.2)
    models: list[object] = []

    def record(study: Study, trial: object) -> None:
        if strategy._model is not None:
            models.append(strategy._model)

    study = Study(space, strategy, evaluator)
    study.optimize(15, callback=record)  # 3 initial samples, then 4 iterations of 3
    assert len(study.trials((TrialState.COMPLETE,))) == 15
    # retrained after each iteration
    assert strategy.controller_fits >= 3 and len(strategy.selected) >= 4
    cls = GRURegressor if controller == "gru" else RankingController
    assert models and all(type(m) is cls for m in models)
    if controller == "ranking":
        assert strategy._model.memory_weight == pytest.approx(0.25)
    it = strategy._iteration  # the queue is ranked by the last model
    assert it.parent is not None and it.queue
