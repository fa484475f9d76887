"""The Study loop with a benchmark table: records, budgets, Pareto front, resume, workers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fitnas.constraints import Budget
from fitnas.evaluators import TableEvaluator
from fitnas.spaces import create_space
from fitnas.states import TrialState
from fitnas.strategies import create_strategy
from fitnas.study import Storage, StorageError, Study, dominates

from ..tables import synthetic_nb201_table

#: A table in NAS-Bench-201's format, made by the tests: they run on every clone (issue 18).
TABLE = synthetic_nb201_table()


def make_study(directory: Path | None, seed: int = 0, resume: bool = False,
               evaluator: TableEvaluator | None = None) -> Study:
    space = create_space("nb201")
    evaluator = evaluator or TableEvaluator(TABLE, "cifar10_val", key_fn=space.format)
    return Study(space, create_strategy("random", space, seed=seed), evaluator,
                 directory=directory, resume=resume)


def finished(study: Study) -> list[tuple]:
    return [(t.number, t.state, t.fingerprint, t.accuracy) for t in study.trials()]


def test_search_records_every_trial(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    study.optimize(25)
    trials = study.trials()
    assert [t.number for t in trials] == list(range(25))
    assert study.counts()[TrialState.COMPLETE] == 25
    table = TableEvaluator(TABLE, "cifar10_val")
    for t in trials:
        key = study.space.format(study.space.from_data(t.encoding))
        assert t.accuracy == pytest.approx(table.evaluate(key).val_accuracy)
        assert t.costs["params"] > 0 and t.costs["peak_activation_bytes"] > 0
    best = study.best_trial()
    assert best is not None and best.accuracy == max(t.accuracy for t in trials if t.accuracy is not None)
    front = study.pareto_front()
    assert best in front
    for t in trials:
        on_front = t in front
        dominated = any(dominates(o, t, study.cost_objectives()) for o in trials if o is not t)
        assert on_front != dominated
    with pytest.raises(dataclasses.FrozenInstanceError):
        best.accuracy = 1.0  # type: ignore[misc]
    assert study.storage.integrity() == "ok"


def test_finished_trials_are_never_changed(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    study.optimize(2)
    record = study.trials()[0]
    with pytest.raises(StorageError, match="not running"):
        study.storage.finish_trial(dataclasses.replace(record, state=TrialState.FAILED))
    assert study.trials()[0] == record


def test_a_run_folder_is_not_reused_without_resume(tmp_path: Path) -> None:
    make_study(tmp_path).optimize(2)
    with pytest.raises(StorageError, match="already holds a run"):
        make_study(tmp_path)


def test_resume_continues_as_if_never_stopped(tmp_path: Path) -> None:
    make_study(tmp_path / "a").optimize(10)
    resumed = make_study(tmp_path / "a", resume=True)
    resumed.optimize(30)
    straight = make_study(tmp_path / "b")
    straight.optimize(30)
    assert finished(resumed) == finished(straight)
    events = Storage(tmp_path / "a" / "study.db").events()
    assert [k for k, _ in events] == ["ask", "tell"] * 30


def test_resume_reruns_trials_left_running(tmp_path: Path) -> None:
    study = make_study(tmp_path / "a")
    study.optimize(5)
    # what a kill leaves: trial 5 sent to a worker (RUNNING, its ask logged), no result
    record = study.storage.trial(4)
    study.storage.add_trial(dataclasses.replace(
        record, number=5, state=TrialState.RUNNING, accuracy=None, finished=None,
        encoding=study.space.to_data(study.strategy.ask().encoding)))
    resumed = make_study(tmp_path / "a", resume=True)
    resumed.optimize(12)
    straight = make_study(tmp_path / "b")
    straight.optimize(12)
    assert finished(resumed) == finished(straight)


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    make_study(tmp_path, seed=1).optimize(3)
    with pytest.raises(StorageError, match="cannot resume: trial 0"):
        make_study(tmp_path, seed=2, resume=True)


def test_wall_time_budget(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    study.optimize(Budget(seconds=1.0))
    assert 1 <= len(study.trials()) < 15625


@pytest.mark.slow
def test_two_process_workers_give_the_same_trials(tmp_path: Path) -> None:
    one = make_study(tmp_path / "one")
    one.optimize(16)
    two = make_study(tmp_path / "two")
    two.optimize(16, workers=2)
    assert sorted(finished(two)) == sorted(finished(one))


@pytest.mark.slow
def test_a_dead_worker_is_retried_once_then_failed(tmp_path: Path) -> None:
    from .dying import DyingTableEvaluator

    space = create_space("nb201")
    plan = make_study(None)
    plan.optimize(6)
    keys = [space.format(space.from_data(t.encoding)) for t in plan.trials()]
    markers = tmp_path / "markers"
    markers.mkdir()
    evaluator = DyingTableEvaluator(TABLE, "cifar10_val", key_fn=space.format,
                                    markers=str(markers), die_once=[keys[1]],
                                    die_always=[keys[3]])
    study = make_study(tmp_path / "run", evaluator=evaluator)
    study.optimize(6, workers=2)
    states = {t.number: (t.state, t.attempts) for t in study.trials()}
    assert states[1] == (TrialState.COMPLETE, 2)  # its worker died once: retried, then fine
    assert states[3][0] == TrialState.FAILED and states[3][1] == 2
    assert "died" in study.storage.trial(3).reason or "broke" in study.storage.trial(3).reason
    assert all(s == TrialState.COMPLETE for n, (s, _) in states.items() if n != 3)
