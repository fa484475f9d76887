"""``TrainerEvaluator``: accuracy by training the candidate with :class:`fitnas.train.Trainer`.

With a short ``budget`` it is paper 002's early assessment (section 3.4): the validation
accuracy after a few epochs stands in for the converged one, and the learning curve is kept
with the result. A strategy may also ask for a named budget per candidate (``Candidate.budget``):
``"early"`` (paper 002 section 3.4, the random and first adaptive samples; a quarter of the full
budget unless given) and ``"finetune"`` (paper 000 section 4: trimmed candidates are fine-tuned
from their parent with a third of the epochs of a grown one, 20 of 60). ``keep_weights``
remembers the trained weights of the last few candidates by fingerprint, so a later child can
name its parent by graph and start from its weights (the Study also sends the parent's weights
with the job, so a child trained by another worker process inherits them too).

Its configuration carries the dataset's input normalization (``preprocess``, see
:mod:`fitnas.data.preprocess`), so a run's exported models say what input they expect, and
``holdout_accuracy`` scores a restored network on the test split, once, at the end of a search
(:mod:`fitnas.study.holdout`): candidates are ranked on validation accuracy only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from torch import Tensor

from ..arch import ArchGraph
from ..arch.builder import ArchModule
from ..data import Dataset, create_dataset
from ..states import TrialState
from ..train import Budget, TrainConfig, Trainer
from ..train.config import TrainError
from ._base import EvalResult, Evaluator

__all__ = ["TrainerEvaluator", "default_budgets"]


def default_budgets(full: Budget) -> dict[str, Budget]:
    """``early`` (a quarter of ``full``) and ``finetune`` (a third), for epoch or step budgets;
    a seconds budget is split the same way."""
    if full.epochs is not None:
        return {"early": Budget(epochs=full.epochs / 4), "finetune": Budget(epochs=full.epochs / 3)}
    if full.steps is not None:
        return {"early": Budget(steps=max(1, full.steps // 4)),
                "finetune": Budget(steps=max(1, full.steps // 3))}
    assert full.seconds is not None
    return {"early": Budget(seconds=full.seconds / 4), "finetune": Budget(seconds=full.seconds / 3)}


class TrainerEvaluator(Evaluator):
    """Train each candidate and report its validation (and optionally test) accuracy.

    Args:
        data: a :class:`Dataset` or a dataset spec such as ``"digits"``.
        config: the training settings (``TrainConfig``); default ``TrainConfig()``.
        budget: how long to train each candidate; default ``config.epochs`` epochs.
        decode: turns a candidate that is not an ArchGraph (an encoding) into one.
        keep_weights: how many trained candidates' weights to keep for inheritance.
        final: train on train plus validation (then only test accuracy is measured).
        budgets: named budgets a strategy may ask for (``Candidate.budget``); defaults:
            ``"early"`` a quarter and ``"finetune"`` a third of ``budget`` (epochs or steps).
    """

    name = "trainer"
    trains_weights = True

    def __init__(
        self,
        data: Dataset | str = "digits",
        config: TrainConfig | None = None,
        budget: Budget | None = None,
        decode: Callable[[Any], ArchGraph] | None = None,
        keep_weights: int = 4,
        final: bool = False,
        budgets: Mapping[str, Budget] | None = None,
    ) -> None:
        self.data = create_dataset(data) if isinstance(data, str) else data
        self.config = config or TrainConfig()
        self.budget = budget or self.config.budget()
        self.decode = decode
        self.keep_weights = keep_weights
        self.final = final
        self.budgets = {**default_budgets(self.budget), **dict(budgets or {})}
        self.trainer = Trainer(self.config)
        self._weights: OrderedDict[str, tuple[ArchGraph, dict[str, Tensor]]] = OrderedDict()
        self._latest: tuple[str, tuple[ArchGraph, dict[str, Tensor]]] | None = None

    def get_config(self) -> dict[str, Any]:
        return {"data": self.data.name, "data_config": dict(self.data.config),
                "config": self.config.get_config(), "budget": self.budget.to_dict(),
                "keep_weights": self.keep_weights, "final": self.final,
                "budgets": {k: b.to_dict() for k, b in sorted(self.budgets.items())},
                "preprocess": self.preprocess()}

    def preprocess(self) -> dict[str, Any]:
        """The dataset's input normalization (``Dataset.preprocess()``), stored in the run's
        configuration so exports need not load the dataset."""
        return self.data.preprocess().to_dict()

    def holdout_accuracy(self, candidate: Any, module: Any = None) -> float | None:
        """Top-1 accuracy of the trained ``module`` on the dataset's test split (``None``
        without a module or a test split)."""
        if module is None or not len(self.data.test):
            return None
        return self.trainer.accuracy(module, self.data.test)

    def set_threads(self, threads: int) -> None:
        """Train with ``threads`` torch threads unless the config names its own count."""
        if self.config.threads is None:
            self.trainer = Trainer(replace(self.config, threads=max(1, int(threads))))

    def budget_named(self, name: str | None) -> Budget:
        """The budget of a name (``None``: the full one); an unknown name lists the known."""
        if name is None:
            return self.budget
        if name not in self.budgets:
            raise TrainError(f"unknown training budget {name!r}; known: "
                             f"{', '.join(sorted(self.budgets))}")
        return self.budgets[name]

    def graph_of(self, candidate: Any) -> ArchGraph:
        if isinstance(candidate, ArchGraph):
            return candidate
        if self.decode is None:
            raise TrainError(f"cannot train a {type(candidate).__name__}: give an ArchGraph or "
                             "pass decode= to turn encodings into graphs")
        return self.decode(candidate)

    def weights_of(self, candidate: Any) -> tuple[ArchGraph, dict[str, Tensor]] | None:
        """The kept (graph, state_dict) of a trained candidate, if still kept (the latest
        candidate's always is, whatever ``keep_weights``)."""
        fingerprint = self.graph_of(candidate).fingerprint()
        if self._latest is not None and self._latest[0] == fingerprint:
            return self._latest[1]
        return self._weights.get(fingerprint)

    def _parent(self, parent: Any) -> Any:
        if parent is None or isinstance(parent, (ArchModule, Mapping, tuple)):
            return parent
        kept = self.weights_of(parent)
        if kept is None:
            raise TrainError("the parent's weights are not kept (train it with this evaluator "
                             "first, or raise keep_weights)")
        return kept

    def _evaluate(self, candidate: Any, *, parent: Any, test: bool, budget: str | None = None
                  ) -> EvalResult:
        graph = self.graph_of(candidate)
        chosen = self.budget_named(budget)
        result = self.trainer.fit(graph, self.data, budget=chosen,
                                  parent=self._parent(parent), test=test or self.final,
                                  final=self.final)
        extra: dict[str, Any] = {"budget": chosen.to_dict(), "steps": result.steps,
                                 "images": result.images, "train_loss": result.train_loss}
        if result.inherited is not None:
            extra["inherited"] = result.inherited.to_dict()
        self._latest = None
        if result.ok and result.module is not None:
            state = {k: v.detach().to("cpu", copy=True)
                     for k, v in result.module.state_dict().items()}
            self._latest = (graph.fingerprint(), (graph, state))
            if self.keep_weights > 0:
                self._weights[graph.fingerprint()] = (graph, state)
                while len(self._weights) > self.keep_weights:
                    self._weights.popitem(last=False)
        return EvalResult(
            state=TrialState.COMPLETE if result.ok else TrialState.FAILED,
            val_accuracy=result.val_accuracy if result.ok else None,
            test_accuracy=result.test_accuracy if result.ok else None,
            curve=tuple(vars(p) for p in result.curve),
            seconds=result.seconds,
            epochs=result.epochs,
            reason=result.reason,
            extra=extra,
        )


