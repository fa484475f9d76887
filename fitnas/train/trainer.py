"""The :class:`Trainer`: trains any :class:`ArchGraph` on a :class:`Dataset` held in memory.

* Data stays as tensors; a batch is ``index_select`` of a seeded permutation (no per-sample
  loader), augmented on the whole batch (``fitnas.data.augment``) when the dataset asks.
* SGD with momentum, weight decay on weights only (not biases or norm parameters), optional
  label smoothing, cosine or SGDR schedule updated every step (``fitnas.train.schedule``).
* Deterministic for a seed: initialization, batch order, augmentation and dropout draw from
  seeded generators inside ``torch.random.fork_rng`` (the caller's RNG is untouched), and the
  torch thread count is set explicitly (``TrainConfig.threads``) and restored afterwards.
* Budgets in epochs, steps or seconds. Early assessment (paper 002 section 3.4) is a short
  budget: its validation accuracy stands in for the full one's, and the learning curve
  (validation accuracy every ``eval_every`` epochs) is recorded to judge "traction".
* Weight inheritance from a parent (paper 000 section 4, ``fitnas.train.inherit``).
* Final training (``final``): train on train plus validation, report test accuracy.
* Schedules inside the model: at the start of every epoch, each submodule with a
  ``set_progress(fraction)`` method gets the fraction of the budget done (CondenseNet's
  condensing stages, ``fitnas.arch.builder.LearnedGroupConv``).

A candidate that fails (the loss becomes NaN or infinite, an exception, out of memory) comes
back with ``state == TrialState.FAILED`` and the reason; only bad settings or a model that does not
fit the dataset (input shape, number of classes) raise :class:`TrainError` before training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..arch import ArchGraph
from ..arch.builder import ArchModule, build
from ..data import Augment, Dataset, Split
from ..errors import FitnasError, failure_reason
from ..states import TrialState
from .config import Budget, TrainConfig, TrainError
from .inherit import InheritReport, Parent, inherit_weights
from .schedule import learning_rate

__all__ = ["CurvePoint", "Progress", "TrainResult", "Trainer", "check_fits",
           "failure_reason"]

@dataclass(frozen=True)
class CurvePoint:
    """One point of the learning curve."""

    epoch: float
    step: int
    seconds: float
    lr: float
    train_loss: float
    val_accuracy: float | None


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives after every step."""

    step: int
    total_steps: int | None
    epoch: float
    seconds: float
    lr: float
    loss: float
    budget_fraction: float


@dataclass
class TrainResult:
    """The outcome of one training run. Accuracies are fractions in 0..1."""

    state: TrialState
    reason: str = ""
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    train_loss: float | None = None
    curve: list[CurvePoint] = field(default_factory=list)
    seconds: float = 0.0
    epochs: float = 0.0
    steps: int = 0
    images: int = 0
    budget: Budget | None = None
    final: bool = False
    inherited: InheritReport | None = None
    module: ArchModule | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.state == TrialState.COMPLETE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record (without the module)."""
        return {
            "state": TrialState(self.state).value, "reason": self.reason, "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy, "train_loss": self.train_loss,
            "curve": [vars(p) for p in self.curve], "seconds": self.seconds,
            "epochs": self.epochs, "steps": self.steps, "images": self.images,
            "budget": self.budget.to_dict() if self.budget else None, "final": self.final,
            "inherited": self.inherited.to_dict() if self.inherited else None,
        }


def check_fits(graph: ArchGraph, data: Dataset) -> None:
    """Raise :class:`TrainError` unless ``graph`` takes ``data``'s images and gives its classes."""
    if tuple(graph.input_shape[1:]) != data.sample_shape:
        raise TrainError(
            f"the model takes input {'x'.join(map(str, graph.input_shape))} but {data.name!r} "
            f"has images {'x'.join(map(str, data.sample_shape))}; build it for input "
            f"{'x'.join(map(str, data.input_shape))}")
    if len(graph.outputs) != 1:
        raise TrainError(f"the model has {len(graph.outputs)} outputs; training needs one")
    out = graph.shape(graph.outputs[0])
    if len(out) != 2 or out[1] != data.classes:
        raise TrainError(
            f"the model's output is {'x'.join(map(str, out))} but {data.name!r} has "
            f"{data.classes} classes; its final layer must give {data.classes} values per image")


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay = [p for p in module.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in module.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0}]


def _progress_hooks(module: nn.Module) -> list[Callable[[float], None]]:
    """The ``set_progress`` methods of ``module``'s submodules (called once per epoch)."""
    hooks = (getattr(m, "set_progress", None) for m in module.modules())
    return [hook for hook in hooks if callable(hook)]


class Trainer:
    """Trains ArchGraphs; ``Trainer(config)`` or ``Trainer(epochs=5, lr=0.1)``."""

    def __init__(self, config: TrainConfig | None = None, **changes: Any) -> None:
        base = config or TrainConfig()
        self.config = base.replace(**changes) if changes else base

    def get_config(self) -> dict[str, Any]:
        return self.config.get_config()

    def build(self, graph: ArchGraph, data: Dataset) -> ArchModule:
        """The module of ``graph`` initialized from the seed, after checking it fits ``data``."""
        check_fits(graph, data)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            return build(graph)

    def final(self, model: ArchGraph | ArchModule, data: Dataset, **kwargs: Any) -> TrainResult:
        """Train on train plus validation and report test accuracy (the chosen architecture)."""
        return self.fit(model, data, final=True, test=True, **kwargs)

    def fit(
        self,
        model: ArchGraph | ArchModule,
        data: Dataset,
        *,
        budget: Budget | None = None,
        parent: Parent | None = None,
        test: bool = False,
        final: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> TrainResult:
        """Train ``model`` (a graph, built here from the seed, or a module to continue).

        Args:
            budget: how long; default ``Budget(epochs=config.epochs)``.
            parent: start from these weights where layers match (``inherit_weights``).
            test: also measure test accuracy at the end.
            final: train on train plus validation (validation accuracy is then not measured).
            on_progress: called after every step.
        """
        cfg = self.config
        budget = budget or cfg.budget()
        if isinstance(model, ArchModule):
            check_fits(model.graph, data)
        elif isinstance(model, ArchGraph):
            check_fits(model, data)
        else:
            raise TrainError(f"fit needs an ArchGraph or an ArchModule, got {type(model).__name__}")
        result = TrainResult(TrialState.COMPLETE, budget=budget, final=final)
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.num_threads)
        start = time.perf_counter()
        module: ArchModule | None = None
        try:
            module = model if isinstance(model, ArchModule) else self.build(model, data)
            result.module = module
            if parent is not None:
                result.inherited = inherit_weights(module, parent)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed + 1)
                self._loop(module, data, budget, result, final, test, on_progress, start)
        except FitnasError:
            raise
        except Exception as err:  # a failing candidate must not stop the search
            result.state = TrialState.FAILED
            result.reason = failure_reason(err)
        finally:
            torch.set_num_threads(threads)
            if module is not None:
                module.eval()
        result.seconds = time.perf_counter() - start
        return result

    def _loop(self, module: ArchModule, data: Dataset, budget: Budget, result: TrainResult,
              final: bool, test: bool, on_progress: Callable[[Progress], None] | None,
              start: float) -> None:
        cfg = self.config
        device = torch.device(cfg.device)
        module.to(device)
        split = Split.concat(data.train, data.val) if final else data.train
        x_all, y_all = split.x.to(device), split.y.to(device)
        val = None if final else data.val.to(device)
        n = len(split)
        bs = min(cfg.batch_size, n)
        per_epoch = max(1, n // bs + (1 if n % bs >= bs / 2 else 0))
        total = budget.total_steps(per_epoch)
        total_epochs = total / per_epoch if total is not None else None
        augment = Augment() if (data.augment if cfg.augment is None else cfg.augment) else None
        gen = torch.Generator().manual_seed(cfg.seed)
        opt = torch.optim.SGD(_param_groups(module, cfg.weight_decay), lr=cfg.lr,
                              momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        eval_steps = max(1, round(cfg.eval_every * per_epoch))
        step, loss_sum, loss_n, lr = 0, 0.0, 0, cfg.lr
        hooks = _progress_hooks(module)
        module.train()
        while True:
            perm = torch.randperm(n, generator=gen).to(device)
            for b in range(per_epoch):
                elapsed = time.perf_counter() - start
                frac = step / total if total else (elapsed / budget.seconds if budget.seconds
                                                    else 1.0)
                if frac >= 1.0:
                    break
                if b == 0:
                    for hook in hooks:
                        hook(frac)
                idx = perm[b * bs:(b + 1) * bs]
                x = x_all.index_select(0, idx)
                y = y_all.index_select(0, idx)
                if augment is not None:
                    x = augment(x, gen)
                lr = learning_rate(cfg, frac, step / per_epoch, total_epochs)
                for group in opt.param_groups:
                    group["lr"] = lr
                loss = loss_fn(module(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                value = float(loss.item())
                step += 1
                if not math.isfinite(value):
                    result.state = TrialState.FAILED
                    result.reason = (f"the loss became {value} at step {step} (epoch "
                                     f"{step / per_epoch:.2f}, learning rate {lr:.3g})")
                    result.steps, result.epochs = step, step / per_epoch
                    return
                loss_sum += value
                loss_n += 1
                if on_progress is not None:
                    on_progress(Progress(step, total, step / per_epoch,
                                         time.perf_counter() - start, lr, value, frac))
                if step % eval_steps == 0:
                    self._record(module, val, result, step, per_epoch, start, lr,
                                 loss_sum / loss_n)
                    loss_sum, loss_n = 0.0, 0
            else:
                continue
            break
        if not result.curve or result.curve[-1].step != step:
            self._record(module, val, result, step, per_epoch, start, lr,
                         loss_sum / loss_n if loss_n else math.nan)
        last = result.curve[-1]
        result.val_accuracy = last.val_accuracy
        result.train_loss = last.train_loss if math.isfinite(last.train_loss) else None
        result.steps, result.epochs, result.images = step, step / per_epoch, step * bs
        if test and len(data.test):
            result.test_accuracy = self.accuracy(module, data.test)

    def _record(self, module: ArchModule, val: Split | None, result: TrainResult, step: int,
                per_epoch: int, start: float, lr: float, loss: float) -> None:
        acc = self.accuracy(module, val) if val is not None and len(val) else None
        result.curve.append(CurvePoint(step / per_epoch, step, time.perf_counter() - start, lr,
                                       loss, acc))

    @torch.no_grad()
    def accuracy(self, module: nn.Module, split: Split) -> float:
        """Top-1 accuracy of ``module`` on ``split`` (a fraction in 0..1), in eval mode."""
        was_training = module.training
        module.eval()
        device = next(iter(module.parameters()), torch.empty(0)).device
        correct = 0
        bs = self.config.eval_batch_size
        for i in range(0, len(split), bs):
            # a copy: in inference the module may overwrite its input in place
            x = split.x[i:i + bs].to(device, copy=True)
            correct += int((module(x).argmax(1) == split.y[i:i + bs].to(device)).sum())
        module.train(was_training)
        return correct / max(1, len(split))
