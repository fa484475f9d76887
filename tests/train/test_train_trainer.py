"""The Trainer on real data: accuracy, determinism, budgets, schedules, failures, final."""

from __future__ import annotations

import math

import pytest
import torch

from fitnas.arch import ArchGraph
from fitnas.data import Dataset, Split, create_dataset
from fitnas.states import TrialState
from fitnas.train import Budget, TrainConfig, Trainer, TrainError, learning_rate


def small_cnn(classes: int = 10, shape: tuple[int, ...] = (1, 1, 8, 8), width: int = 32
              ) -> ArchGraph:
    return ArchGraph(shape, [
        ("conv1", "conv2d", ("input",), {"out_channels": width, "kernel": 3, "padding": 1}),
        ("bn1", "batchnorm", ("conv1",)),
        ("relu1", "relu", ("bn1",)),
        ("conv2", "conv2d", ("relu1",), {"out_channels": 32, "kernel": 3, "padding": 1,
                                         "stride": 2}),
        ("bn2", "batchnorm", ("conv2",)),
        ("relu2", "relu", ("bn2",)),
        ("pool", "global_avgpool", ("relu2",), {"keepdim": False}),
        ("fc", "linear", ("pool",), {"out_features": classes}),
    ])


def mlp(lr_hidden: int = 32) -> ArchGraph:
    return ArchGraph((1, 1, 8, 8), [
        ("flat", "flatten", ("input",)),
        ("fc1", "linear", ("flat",), {"out_features": lr_hidden}),
        ("act", "relu", ("fc1",)),
        ("fc", "linear", ("act",), {"out_features": 10}),
    ])


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return create_dataset("digits")


@pytest.mark.slow
def test_digits_reaches_95_percent_and_is_deterministic(digits: Dataset) -> None:
    trainer = Trainer(epochs=15, batch_size=64, lr=0.05, threads=1)
    first = trainer.fit(small_cnn(), digits, test=True)
    second = trainer.fit(small_cnn(), digits, test=True)
    assert first.ok, first.reason
    assert first.val_accuracy is not None and first.val_accuracy >= 0.95
    assert first.test_accuracy is not None and first.test_accuracy >= 0.9
    assert first.val_accuracy == second.val_accuracy
    assert first.test_accuracy == second.test_accuracy
    assert first.module is not None and second.module is not None
    for (k, a), (_, b) in zip(first.module.state_dict().items(),
                              second.module.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert len(first.curve) == 15 and first.curve[-1].val_accuracy == first.val_accuracy
    assert first.curve[0].val_accuracy is not None
    assert first.curve[0].val_accuracy < first.curve[-1].val_accuracy
    per_epoch = len(digits.train) // 64 + (1 if len(digits.train) % 64 >= 32 else 0)
    assert first.epochs == 15 and first.steps == 15 * per_epoch


def test_other_seed_differs_and_caller_rng_untouched(digits: Dataset) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    a = Trainer(epochs=1, threads=1, seed=0).fit(mlp(), digits)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    b = Trainer(epochs=1, threads=1, seed=1).fit(mlp(), digits)
    assert a.module is not None and b.module is not None
    weight_a, weight_b = a.module.layer("fc1").weight, b.module.layer("fc1").weight
    assert isinstance(weight_a, torch.Tensor) and isinstance(weight_b, torch.Tensor)
    assert not torch.equal(weight_a, weight_b)


def test_budgets(digits: Dataset) -> None:
    trainer = Trainer(threads=1, batch_size=100)
    r = trainer.fit(mlp(), digits, budget=Budget(steps=7))
    assert r.ok and r.steps == 7 and r.images == 700 and len(r.curve) == 1
    r = trainer.fit(mlp(), digits, budget=Budget(epochs=0.5))
    per_epoch = len(digits.train) // 100 + (1 if len(digits.train) % 100 >= 50 else 0)
    assert r.steps == round(per_epoch / 2)
    r = trainer.fit(mlp(), digits, budget=Budget(seconds=0.3))
    assert r.ok and r.steps > 0 and 0.25 < r.seconds < 3.0
    r = trainer.fit(mlp(), digits, budget=Budget(steps=0))
    assert r.ok and r.steps == 0 and r.val_accuracy is not None and r.train_loss is None
    with pytest.raises(TrainError, match="exactly one"):
        Budget(epochs=1, steps=3)
    with pytest.raises(TrainError, match="unknown schedule 'linear'"):
        TrainConfig(schedule="linear")


def test_learning_curve_every_half_epoch(digits: Dataset) -> None:
    r = Trainer(threads=1, eval_every=0.5).fit(mlp(), digits, budget=Budget(epochs=2))
    assert [round(p.epoch, 1) for p in r.curve] == [0.5, 1.0, 1.5, 2.0]
    assert all(p.val_accuracy is not None and math.isfinite(p.train_loss) for p in r.curve)
    assert r.curve[0].lr > r.curve[-1].lr  # cosine decays


def test_schedules() -> None:
    cos = TrainConfig(lr=0.1, schedule="cosine")
    assert learning_rate(cos, 0.0, 0.0, 10) == pytest.approx(0.1)
    assert learning_rate(cos, 0.5, 5.0, 10) == pytest.approx(0.05)
    sgdr = TrainConfig(lr=0.1, schedule="sgdr", sgdr_mult=2.0)
    # 15 epochs: cycles of 1, 2, 4, 8 epochs; restarts at 1, 3 and 7
    for restart in (1.0, 3.0, 7.0):
        assert learning_rate(sgdr, restart / 15, restart, 15) == pytest.approx(0.1)
        assert learning_rate(sgdr, 0, restart - 1e-6, 15) == pytest.approx(0.0, abs=1e-6)
    assert learning_rate(sgdr, 0, 5.0, 15) == pytest.approx(0.05)  # middle of the 3rd cycle
    fixed = TrainConfig(lr=0.1, schedule="sgdr", sgdr_t0=2.0, sgdr_mult=1.0)
    assert learning_rate(fixed, 0, 4.0, 60) == pytest.approx(0.1)
    grow = TrainConfig.preset("memnas-grow")
    assert (grow.epochs, grow.batch_size, grow.lr, grow.schedule) == (60, 128, 0.01, "sgdr")


def test_sgdr_and_label_smoothing_train(digits: Dataset) -> None:
    r = Trainer(threads=1, schedule="sgdr", label_smoothing=0.1, lr=0.1).fit(
        mlp(), digits, budget=Budget(epochs=3))
    assert r.ok and r.val_accuracy is not None and r.val_accuracy > 0.8


def test_diverging_candidate_fails_with_reason(digits: Dataset) -> None:
    r = Trainer(threads=1, lr=1e4, schedule="constant").fit(mlp(), digits,
                                                             budget=Budget(epochs=3))
    assert r.state == TrialState.FAILED and "loss became nan" in r.reason
    assert r.val_accuracy is None


def test_exception_during_training_fails_with_reason(digits: Dataset) -> None:
    # labels beyond the classes the model predicts: torch raises inside the loss
    bad = Dataset("bad", "memory", Split(digits.train.x, digits.train.y + 5), digits.val,
                  digits.test, 10, digits.mean, digits.std)
    r = Trainer(threads=1).fit(mlp(), bad, budget=Budget(steps=3))
    assert r.state == TrialState.FAILED and "out of bounds" in r.reason


def test_model_must_fit_dataset(digits: Dataset) -> None:
    with pytest.raises(TrainError, match="has 10 classes"):
        Trainer().fit(small_cnn(classes=7), digits)
    with pytest.raises(TrainError, match="takes input 1x3x32x32"):
        Trainer().fit(small_cnn(shape=(1, 3, 32, 32)), digits)


def test_final_training_uses_train_plus_val(digits: Dataset) -> None:
    r = Trainer(threads=1, batch_size=2, lr=0.01).final(mlp(), digits, budget=Budget(epochs=1))
    assert r.ok and r.final and r.steps == (len(digits.train) + len(digits.val)) // 2
    assert r.val_accuracy is None and r.test_accuracy is not None and r.test_accuracy > 0.8


def test_augmented_training_on_32x32() -> None:
    data = create_dataset("synthetic:3x32x32,classes=4,n=256,test=64,noise=1.0")
    assert data.augment
    r = Trainer(threads=1, batch_size=32).fit(small_cnn(4, (1, 3, 32, 32), 8), data,
                                              budget=Budget(epochs=3))
    assert r.ok and r.val_accuracy is not None and r.val_accuracy > 0.5


def test_out_of_memory_fails_with_reason(digits: Dataset) -> None:
    # 2**40 x 64 float32 weights (256 TiB): the real allocator refuses at once
    huge = ArchGraph((1, 1, 8, 8), [
        ("flat", "flatten", ("input",)),
        ("fc1", "linear", ("flat",), {"out_features": 2**40}),
        ("fc", "linear", ("fc1",), {"out_features": 10}),
    ])
    r = Trainer(threads=1).fit(huge, digits, budget=Budget(steps=1))
    assert r.state == TrialState.FAILED and r.reason.startswith("out of memory")
    assert Trainer(threads=1).fit(mlp(), digits, budget=Budget(steps=2)).ok  # goes on
