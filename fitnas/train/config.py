"""Training settings (:class:`TrainConfig`) and budgets (:class:`Budget`).

Defaults are a small-data recipe (SGD, momentum 0.9, Nesterov, cosine schedule, batch 128).
``TrainConfig.preset("memnas-grow")`` and ``"memnas-trim"`` are paper 000 section 4: batch 128,
SGD with warm restarts (SGDR, Loshchilov & Hutter 2017), learning rate 0.01, momentum 0.9;
60 epochs for a grown ("augment") candidate, 20 epochs of fine-tuning from the parent's
weights for a trimmed one. The paper gives neither weight decay nor the restart period: 5e-4
(the usual CIFAR value) and four cycles doubling in length that end exactly with the budget
(see ``fitnas.train.schedule``) are chosen.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import FitnasError

__all__ = ["SCHEDULES", "Budget", "TrainConfig", "TrainError", "default_threads"]

SCHEDULES = ("cosine", "sgdr", "constant")


class TrainError(FitnasError):
    """A training setting or a model/dataset pairing is unusable."""


def default_threads() -> int:
    """The torch thread count when none is given: ``min(4, os.cpu_count())`` (a Study's worker
    process passes its share of the cores explicitly, ``Evaluator.set_threads``)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Budget:
    """How long to train: ``epochs`` (may be fractional), ``steps`` or ``seconds``.

    Give exactly one. ``Budget(steps=0)`` trains nothing (evaluates the initial weights).
    Epoch and step budgets are deterministic for a seed; a seconds budget is not (how far it
    gets depends on the machine), and its schedule runs on the fraction of time elapsed.
    """

    epochs: float | None = None
    steps: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        given = [(k, v) for k, v in asdict(self).items() if v is not None]
        if len(given) != 1:
            raise TrainError(f"a budget needs exactly one of epochs, steps, seconds; got "
                             f"{dict(given) or 'none'}")
        key, value = given[0]
        if value < 0:
            raise TrainError(f"budget {key} must be >= 0, got {value}")

    def total_steps(self, steps_per_epoch: int) -> int | None:
        """Number of optimizer steps, or ``None`` for a seconds budget."""
        if self.steps is not None:
            return int(self.steps)
        if self.epochs is not None:
            return round(self.epochs * steps_per_epoch)
        return None

    def describe(self) -> str:
        if self.epochs is not None:
            return f"{self.epochs:g} epochs"
        if self.steps is not None:
            return f"{self.steps} steps"
        return f"{self.seconds:g} s"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a network is trained; ``get_config()`` round-trips.

    Args:
        epochs: the default budget when ``fit`` is given none.
        batch_size: images per optimizer step (the last partial batch of an epoch is dropped
            when it has fewer than half a batch, so batch norm never sees a batch of one).
        lr, momentum, nesterov, weight_decay: SGD. Weight decay skips biases and norm weights.
        schedule: ``"cosine"`` (to ``lr_min`` over the budget), ``"sgdr"`` (warm restarts,
            paper 000) or ``"constant"``.
        sgdr_t0, sgdr_mult: first cycle length in epochs and its growth; ``sgdr_t0=None``
            makes four cycles that end with the budget.
        lr_min: the lowest learning rate of the cosine and SGDR schedules.
        label_smoothing: as in ``torch.nn.CrossEntropyLoss``.
        augment: ``None`` follows the dataset (on for 32x32 images); ``True``/``False`` force.
        seed: seeds initialization, batch order, augmentation and dropout.
        threads: ``torch.set_num_threads`` while training; ``None``: ``min(4, cpu_count)``.
        eval_every: record validation accuracy every this many epochs (the learning curve).
        eval_batch_size: batch size when measuring accuracy.
        device: ``"cpu"`` or a torch device string such as ``"cuda"``.
    """

    epochs: float = 10.0
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    sgdr_t0: float | None = None
    sgdr_mult: float = 2.0
    lr_min: float = 0.0
    label_smoothing: float = 0.0
    augment: bool | None = None
    seed: int = 0
    threads: int | None = None
    eval_every: float = 1.0
    eval_batch_size: int = 1024
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise TrainError(f"unknown schedule {self.schedule!r}; accepted: "
                             f"{', '.join(SCHEDULES)}")
        fin = math.isfinite
        checks = {
            "batch_size": (self.batch_size >= 1, "an int >= 1"),
            "lr": (fin(self.lr) and self.lr > 0, "a number > 0"),
            "momentum": (0 <= self.momentum < 1, "a number in [0, 1)"),
            "weight_decay": (fin(self.weight_decay) and self.weight_decay >= 0, "a number >= 0"),
            "label_smoothing": (0 <= self.label_smoothing < 1, "a number in [0, 1)"),
            "epochs": (fin(self.epochs) and self.epochs >= 0, "a finite number >= 0"),
            "sgdr_mult": (fin(self.sgdr_mult) and self.sgdr_mult >= 1, "a number >= 1"),
            "lr_min": (0 <= self.lr_min <= self.lr, "a number in [0, lr]"),
            "eval_every": (fin(self.eval_every) and self.eval_every > 0, "a number > 0"),
            "eval_batch_size": (self.eval_batch_size >= 1, "an int >= 1"),
            "threads": (self.threads is None or self.threads >= 1, "an int >= 1"),
            "sgdr_t0": (self.sgdr_t0 is None or (fin(self.sgdr_t0) and self.sgdr_t0 > 0),
                        "a number > 0"),
        }
        for key, (ok, accepted) in checks.items():
            if not ok:  # NaN fails every comparison, so it lands here too
                raise TrainError(f"bad training setting {key}={getattr(self, key)!r}: expected "
                                 f"{accepted}")

    @property
    def num_threads(self) -> int:
        return self.threads if self.threads is not None else default_threads()

    def budget(self) -> Budget:
        return Budget(epochs=self.epochs)

    def get_config(self) -> dict[str, Any]:
        """The settings as a JSON-able dict; ``TrainConfig(**cfg)`` makes it again."""
        return asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        known = {f.name for f in fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise TrainError(f"unknown training setting(s) {bad}; known: "
                             f"{', '.join(sorted(known))}")
        return replace(self, **changes)

    @staticmethod
    def preset(name: str) -> TrainConfig:
        """A named recipe: ``default``, ``memnas-grow`` or ``memnas-trim`` (paper 000 sec. 4)."""
        if name not in PRESETS:
            raise TrainError(f"unknown training preset {name!r}; accepted: {', '.join(PRESETS)}")
        return PRESETS[name]


PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    "memnas-grow": TrainConfig(epochs=60, batch_size=128, lr=0.01, momentum=0.9, nesterov=False,
                               schedule="sgdr"),
    "memnas-trim": TrainConfig(epochs=20, batch_size=128, lr=0.01, momentum=0.9, nesterov=False,
                               schedule="sgdr"),
}
