"""What a finished search writes (``fitnas.study.outputs``): ``summary.json``'s hypervolume of the
Pareto front, with its objectives and reference point, from hand-made trials and from a search
on the NAS-Bench-201 table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fitnas.constraints import Constraints, Limits
from fitnas.evaluators import TableEvaluator
from fitnas.spaces import create_space
from fitnas.states import TrialState
from fitnas.strategies import create_strategy
from fitnas.study import RunRecord, Storage, Study, TrialRecord, hypervolume
from fitnas.study.outputs import summary, write_outputs

from ..tables import synthetic_nb201_table
from .test_pareto import staircase as _staircase

#: A table in NAS-Bench-201's format written by the tests, so they run on every clone.
TABLE = synthetic_nb201_table()


def _add(storage: Storage, number: int, accuracy: float | None, state: TrialState,
         violation: float, **costs: float) -> None:
    storage.add_trial(TrialRecord(number, state, [number], f"fp{number}", costs=costs,
                                  violations={"max_params": violation}, accuracy=accuracy))


def test_summary_has_the_hypervolume_and_its_reference(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "study.db")
    # limits: params <= 100 (the reference of params); peak memory has no limit, so its
    # reference is the largest among the feasible COMPLETE trials: 400, not the infeasible 900
    _add(storage, 0, 0.9, TrialState.COMPLETE, -0.5, params=50, peak_activation_bytes=400)
    _add(storage, 1, 0.6, TrialState.COMPLETE, -0.9, params=10, peak_activation_bytes=100)
    _add(storage, 2, 0.5, TrialState.COMPLETE, -0.8, params=20, peak_activation_bytes=200)
    _add(storage, 3, None, TrialState.INFEASIBLE, 2.0, params=300, peak_activation_bytes=900)
    storage.set_meta("config", {"objectives": ["params", "peak_activation_bytes"]})
    run = RunRecord(storage, tmp_path, Constraints(Limits(max_params=100)))
    written = write_outputs(run)
    data = json.loads(written["summary"].read_text())
    hv = data["hypervolume"]
    assert hv["objectives"] == ["accuracy", "params", "peak_activation_bytes"]
    assert hv["reference"] == {"accuracy": 0.0, "params": 100.0, "peak_activation_bytes": 400.0}
    # trial 2 is dominated by trial 1; trial 0 lies on the peak reference: only trial 1's box
    assert data["pareto_trials"] == [0, 1]
    assert hv["value"] == pytest.approx(0.6 * (100 - 10) * (400 - 100))
    assert summary(run)["hypervolume"] == hv
    run.close()


def test_summary_of_a_run_without_a_feasible_trial(tmp_path: Path) -> None:
    storage = Storage(None)
    _add(storage, 0, None, TrialState.INFEASIBLE, 1.0, params=300, peak_activation_bytes=900)
    data = summary(RunRecord(storage, None, Constraints(Limits(max_params=100))))
    assert data["best"] is None
    assert data["hypervolume"] == {"value": 0.0, "objectives": ["accuracy", "params"],
                                   "reference": {"accuracy": 0.0, "params": 100.0}}
    data = summary(RunRecord(storage, None, Constraints()))  # objectives: params, peak memory
    assert data["hypervolume"]["value"] == 0.0
    assert data["hypervolume"]["reference"] == {"accuracy": 0.0, "params": None,
                                                "peak_activation_bytes": None}


def test_summary_json_of_a_search(tmp_path: Path) -> None:
    space = create_space("nb201")
    limit = 400_000
    study = Study(space, create_strategy("random", space, seed=1),
                  TableEvaluator(TABLE, "cifar10_val", key_fn=space.format),
                  Constraints(Limits(max_params=limit)), directory=tmp_path / "run")
    study.optimize(30)
    written = write_outputs(study.record)
    data = json.loads(written["summary"].read_text())
    hv = data["hypervolume"]
    assert hv["objectives"] == ["accuracy", "params"]
    assert hv["reference"] == {"accuracy": 0.0, "params": float(limit)}
    done = [t for t in study.trials() if t.state == TrialState.COMPLETE and t.feasible]
    assert done and any(t.state == TrialState.INFEASIBLE for t in study.trials())
    expected = _staircase([(t.accuracy or 0.0, t.costs["params"]) for t in done], limit)
    assert expected > 0 and hv["value"] == pytest.approx(expected)
    assert hv == hypervolume(study.trials(), ["params"], Limits(max_params=limit)).to_dict()
    study.storage.close()


def test_pareto_csv_and_summary_carry_the_held_out_test_accuracy(tmp_path: Path) -> None:
    from fitnas.study.holdout import HOLDOUT_KEY

    storage = Storage(tmp_path / "study.db")
    _add(storage, 0, 0.9, TrialState.COMPLETE, -0.5, params=50, peak_activation_bytes=400)
    _add(storage, 1, 0.6, TrialState.COMPLETE, -0.9, params=10, peak_activation_bytes=100)
    storage.set_meta("config", {"objectives": ["params", "peak_activation_bytes"]})
    storage.set_meta(HOLDOUT_KEY, {"split": "test", "trials": {"0": 0.85}})  # 1: not scored
    run = RunRecord(storage, tmp_path, Constraints(Limits(max_params=100)))
    written = write_outputs(run)
    data = json.loads(written["summary"].read_text())
    assert data["best"]["accuracy"] == 0.9 and data["best"]["test_accuracy"] == 0.85
    assert data["test_accuracies"] == {"0": 0.85}
    rows = written["pareto"].read_text().splitlines()
    assert rows[0].startswith("trial,accuracy,test_accuracy,")
    assert rows[1].startswith("0,0.9,0.85,") and rows[2].startswith("1,0.6,,")
    run.close()


def test_a_table_run_scores_the_test_column(tmp_path: Path) -> None:
    from fitnas.study.holdout import holdout_accuracies

    table = tmp_path / "table.csv"
    table.write_text("key,acc_val,acc_test\na,80,70\nb,90,85\nc,60,\n")
    auto = TableEvaluator(table, "acc_val", key="key", test_column="auto")
    assert auto.test_column == "acc_test" and auto.get_config()["test_column"] == "acc_test"
    assert auto.holdout_accuracy("b") == pytest.approx(0.85)
    assert auto.holdout_accuracy("c") is None  # no value in the table
    assert TableEvaluator(table, "acc_test", key="key", test_column="auto").test_column is None
    assert TableEvaluator(table, "acc_val", key="key").holdout_accuracy("b") is None
    if not TABLE.exists():
        return
    space = create_space("nb201")
    study = Study(space, create_strategy("random", space, seed=3),
                  TableEvaluator(TABLE, "cifar10_val", key_fn=space.format, test_column="auto"),
                  Constraints(Limits(max_params=400_000)), directory=tmp_path / "run")
    study.optimize(15)
    scored = holdout_accuracies(study.record)
    best = study.best_trial()
    assert best is not None and set(scored) == {best.number,
                                                *[t.number for t in study.pareto_front()]}
    look = TableEvaluator(TABLE, "cifar10_test")  # keyed by the cell string itself
    for number, accuracy in scored.items():
        key = space.format(space.from_data(study.storage.trial(number).encoding))
        assert accuracy == pytest.approx(look.evaluate(key).val_accuracy)
    study.close()
