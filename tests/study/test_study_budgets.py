"""Named training budgets and weight inheritance through the Study's workers (real training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fitnas.constraints import Constraints
from fitnas.data import Dataset, create_dataset
from fitnas.evaluators import TrainerEvaluator
from fitnas.spaces import create_space
from fitnas.strategies import Candidate, NotReady, Strategy, StrategyError, TrialResult, create_strategy
from fitnas.study import Study
from fitnas.train import Budget, TrainConfig


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return create_dataset("digits", seed=0)


def test_named_budgets_reach_the_evaluator(digits: Dataset, tmp_path: Path) -> None:
    space = create_space("chain", input_shape=digits.input_shape, classes=digits.classes,
                         max_conv_layers=2, max_fc_layers=1, max_filters=8, max_hidden=32)
    evaluator = TrainerEvaluator(digits, TrainConfig(epochs=2, seed=0), decode=space.decode,
                                 budgets={"early": Budget(epochs=0.5)})
    strategy = create_strategy("coordinate", space, seed=0, nrandom=2, nadapt=1, nfinal=1)
    study = Study(space, strategy, evaluator, Constraints(), tmp_path / "run")
    study.optimize(4)
    trials = study.trials()
    assert [t.budget for t in trials] == ["early", "early", "early", None]
    epochs = [t.result["epochs"] for t in trials]
    assert epochs == pytest.approx([0.5, 0.5, 0.5, 2.0], abs=0.05)
    assert evaluator.budgets["finetune"] == Budget(epochs=2 / 3)  # the default third


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_trimmed_candidates_inherit_their_parents_weights_on_any_worker(
        digits: Dataset, tmp_path: Path, workers: int) -> None:
    # one block at most: nothing grows, every candidate after the first two is a trim
    space = create_space("cells", input_shape=digits.input_shape, classes=digits.classes,
                         filters=4, stages=1, max_blocks=1)
    small = create_dataset("digits", seed=0, subset=200)
    evaluator = TrainerEvaluator(small, TrainConfig(epochs=1, seed=0), decode=space.decode,
                                 keep_weights=0)  # nothing kept in the workers themselves
    strategy = create_strategy("growtrim", space, seed=1, k=2, initial=2, controller="none")
    study = Study(space, strategy, evaluator, Constraints(), tmp_path / "run")
    study.optimize(6, workers=workers)
    trims = [t for t in study.trials() if t.parent is not None]
    assert trims and all(t.state == "COMPLETE" for t in trims), [t.result for t in trims]
    for t in trims:
        assert t.budget == "finetune"
        report = t.result["extra"]["inherited"]
        assert report["tensors_inherited"] > 0  # the parent's weights came with the job
        assert t.result["extra"]["budget"] == {"epochs": pytest.approx(1 / 3)}
        assert t.result["epochs"] < 1  # fine-tuned, shorter than a grown candidate's epoch


class _Waits(Strategy):
    name = "waits"
    summary = "always waits"

    def ask(self) -> Candidate:
        raise NotReady("waiting")

    def tell(self, result: TrialResult) -> None:
        pass


def test_a_strategy_that_waits_with_nothing_running_is_an_error(digits: Dataset) -> None:
    space = create_space("nb201")
    study = Study(space, _Waits(space), TrainerEvaluator(digits, decode=space.decode))
    with pytest.raises(StrategyError, match="waits for results, but no candidate is running"):
        study.optimize(3)
