"""Weight inheritance: equal child inherits everything; a changed child only what matches."""

from __future__ import annotations

import pytest
import torch

from fitnas.arch import ArchGraph
from fitnas.arch.builder import ArchModule, build
from fitnas.data import Dataset, create_dataset
from fitnas.train import Budget, Trainer, TrainError, TrainResult, inherit_weights


def cnn(width: int = 16, extra: bool = False) -> ArchGraph:
    nodes = [
        ("conv1", "conv2d", ("input",), {"out_channels": width, "kernel": 3, "padding": 1}),
        ("bn1", "batchnorm", ("conv1",)),
        ("relu1", "relu", ("bn1",)),
        ("conv2", "conv2d", ("relu1",), {"out_channels": 16, "kernel": 3, "padding": 1}),
        ("bn2", "batchnorm", ("conv2",)),
        ("relu2", "relu", ("bn2",)),
    ]
    last = "relu2"
    if extra:  # a grown child: one more block before the classifier
        nodes += [("conv3", "conv2d", ("relu2",), {"out_channels": 16, "kernel": 1}),
                  ("relu3", "relu", ("conv3",))]
        last = "relu3"
    nodes += [("pool", "global_avgpool", (last,), {"keepdim": False}),
              ("fc", "linear", ("pool",), {"out_features": 10})]
    return ArchGraph((1, 1, 8, 8), nodes)


def weight(module: ArchModule, name: str) -> torch.Tensor:
    """The weight tensor of layer ``name``."""
    tensor = module.layer(name).weight
    assert isinstance(tensor, torch.Tensor)
    return tensor


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return create_dataset("digits")


@pytest.fixture(scope="module")
def parent(digits: Dataset) -> TrainResult:
    result = Trainer(threads=1, batch_size=64).fit(cnn(), digits, budget=Budget(epochs=3))
    assert result.ok and result.module is not None
    return result


def test_equal_child_inherits_everything_and_parent_accuracy(
        digits: Dataset, parent: TrainResult) -> None:
    assert parent.module is not None
    trainer = Trainer(threads=1, seed=7)  # another seed: a fresh child would differ
    fresh = trainer.fit(cnn(), digits, budget=Budget(steps=0))
    child = trainer.fit(cnn(), digits, budget=Budget(steps=0), parent=parent.module)
    assert child.inherited is not None and child.inherited.complete
    assert child.module is not None
    assert child.inherited.fresh == ()
    assert child.inherited.tensors_total == len(parent.module.state_dict())
    assert child.val_accuracy == parent.val_accuracy
    assert fresh.val_accuracy != parent.val_accuracy
    for key, value in parent.module.state_dict().items():
        assert torch.equal(child.module.state_dict()[key], value)


def test_changed_child_inherits_matching_layers(digits: Dataset, parent: TrainResult) -> None:
    assert parent.module is not None
    wide = build(cnn(width=24))
    report = inherit_weights(wide, parent.module)
    # conv1 and bn1 changed width, conv2 reads 24 channels now: fresh; bn2 and fc match
    assert set(report.fresh) == {"conv1", "bn1", "conv2"}
    assert set(report.inherited) == {"bn2", "fc"}
    assert torch.equal(weight(wide, "fc"), weight(parent.module, "fc"))
    grown = build(cnn(extra=True))
    report = inherit_weights(grown, (cnn(), parent.module.state_dict()))
    assert report.fresh == ("conv3",)
    assert torch.equal(weight(grown, "conv2"), weight(parent.module, "conv2"))
    assert report.elements_inherited == report.elements_total - 16 * 16 - 16
    # a grown child starts near its parent (conv3 is new) and fine-tunes from there
    tuned = Trainer(threads=1).fit(cnn(extra=True), digits, budget=Budget(epochs=2),
                                   parent=parent.module)
    assert tuned.ok and tuned.inherited is not None and tuned.inherited.fresh == ("conv3",)


def test_state_dict_parent_and_bad_parent(parent: TrainResult) -> None:
    assert parent.module is not None
    child = build(cnn())
    report = inherit_weights(child, parent.module.state_dict())
    assert report.complete
    with pytest.raises(TrainError, match="does not fit the parent graph"):
        inherit_weights(child, (cnn(width=8), parent.module.state_dict()))
    with pytest.raises(TrainError, match="a parent must be"):
        inherit_weights(child, 42)  # type: ignore[arg-type]
