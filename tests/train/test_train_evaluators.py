"""Evaluators: the trainer-based one (failures never raise, inheritance by graph) and the
benchmark-table look-up on the shared NAS-Bench-201 table."""

from __future__ import annotations

from pathlib import Path

import pytest

from fitnas.arch import ArchGraph
from fitnas.data import create_dataset
from fitnas.evaluators import (
    EvalResult,
    TableError,
    TableEvaluator,
    TrainerEvaluator,
    create_evaluator,
    list_evaluators,
)
from fitnas.states import TrialState
from fitnas.train import Budget, TrainConfig

NB201 = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"


def mlp(hidden: int, classes: int = 10) -> ArchGraph:
    return ArchGraph((1, 1, 8, 8), [
        ("flat", "flatten", ("input",)),
        ("fc1", "linear", ("flat",), {"out_features": hidden}),
        ("act", "relu", ("fc1",)),
        ("fc", "linear", ("act",), {"out_features": classes}),
    ])


def test_registry() -> None:
    assert list_evaluators() == ["trainer", "table"]
    with pytest.raises(Exception, match="valid: trainer, table"):
        create_evaluator("oracle")


def test_trainer_evaluator_survives_failures_and_goes_on() -> None:
    data = create_dataset("digits")
    ev = TrainerEvaluator(data, TrainConfig(threads=1, batch_size=32), budget=Budget(epochs=2),
                          decode=lambda width: mlp(int(width)))
    diverging = TrainerEvaluator(data, TrainConfig(threads=1, lr=1e4, schedule="constant"),
                                 budget=Budget(epochs=2))
    results = [ev.evaluate(mlp(32)), diverging.evaluate(mlp(32)), ev.evaluate(mlp(32, 7)),
               ev.evaluate("not an int"), ev.evaluate(16, test=True)]
    states = [r.state for r in results]
    S = TrialState
    assert states == [S.COMPLETE, S.FAILED, S.FAILED, S.FAILED, S.COMPLETE]
    assert "loss became nan" in results[1].reason
    assert "has 10 classes" in results[2].reason
    assert "ValueError" in results[3].reason
    good = results[4]
    assert good.val_accuracy is not None and 0.8 < good.val_accuracy <= 1.0
    assert good.test_accuracy is not None and len(good.curve) == 2 and good.epochs == 2
    assert results[0].test_accuracy is None
    assert EvalResult.from_dict(good.to_dict()) == good
    # inheritance by naming the parent graph: its weights were kept
    child = ev.evaluate(mlp(32), parent=mlp(32))
    assert child.ok and child.extra["inherited"]["fresh"] == []
    assert ev.evaluate(mlp(32), parent=mlp(64)).state == TrialState.FAILED  # never trained: not kept
    assert ev.get_config()["budget"] == {"epochs": 2}


def test_table_evaluator_on_written_csv(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("arch,acc,test\na,0.5,0.4\nb,0.75,0.7\nc,,0.1\n")
    ev = TableEvaluator(path, "acc", key="arch", test_column="test")
    assert len(ev) == 3 and ev.keys() == ["a", "b", "c"]
    r = ev.evaluate("b", test=True)
    assert r.ok and r.val_accuracy == 0.75 and r.test_accuracy == 0.7 and r.curve == ()
    assert ev.evaluate("c").state == TrialState.FAILED
    assert "not in" in ev.evaluate("zz").reason
    assert "key_fn" in ev.evaluate(3).reason
    assert TableEvaluator(path, "acc", key="arch", key_fn=lambda i: "ab"[i]).evaluate(
        0).val_accuracy == 0.5
    with pytest.raises(TableError, match=r"no column 'accuracy'.*columns: arch, acc, test"):
        TableEvaluator(path, "accuracy", key="arch")
    with pytest.raises(TableError, match="does not exist"):
        TableEvaluator(tmp_path / "none.csv", "acc")
    path.write_text("arch,acc\na,0.5\na,0.6\n")
    with pytest.raises(TableError, match="appears twice"):
        TableEvaluator(path, "acc", key="arch")


@pytest.mark.skipif(not NB201.is_file(), reason=f"benchmark table {NB201} not present")
def test_table_evaluator_nb201() -> None:
    ev = TableEvaluator(NB201, "cifar10_val", key="cellstr", test_column="cifar10_test")
    assert len(ev) == 15625
    cell = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
            "skip_connect~2|")
    r = ev.evaluate(cell, test=True)
    assert r.ok and r.val_accuracy == pytest.approx(0.82834)
    assert r.test_accuracy == pytest.approx(0.8822)
    assert ev.get_config()["percent"] is True


def test_early_assessment_ranks_like_the_full_budget() -> None:
    """Paper 002 section 3.4: a short budget's accuracy stands in for the full one's."""
    data = create_dataset("digits")
    weak = ArchGraph((1, 1, 8, 8), [
        ("conv", "conv2d", ("input",), {"out_channels": 2, "kernel": 3, "padding": 1}),
        ("pool", "global_avgpool", ("conv",), {"keepdim": False}),
        ("fc", "linear", ("pool",), {"out_features": 10}),
    ])
    config = TrainConfig(threads=1, batch_size=32)
    early = TrainerEvaluator(data, config, budget=Budget(epochs=1))
    full = TrainerEvaluator(data, config, budget=Budget(epochs=6))
    e_weak, e_good = early.evaluate(weak), early.evaluate(mlp(32))
    f_weak, f_good = full.evaluate(weak), full.evaluate(mlp(32))
    assert e_good.val_accuracy is not None and e_weak.val_accuracy is not None
    assert f_good.val_accuracy is not None and f_weak.val_accuracy is not None
    assert e_good.val_accuracy > e_weak.val_accuracy
    assert f_good.val_accuracy > f_weak.val_accuracy
    assert len(e_good.curve) == 1 and len(f_good.curve) == 6 and e_good.seconds < f_good.seconds
