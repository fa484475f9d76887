"""Top-N ensembles of a finished run, fused by majority vote (paper 002 section 4.1).

Paper 002 section 4.1 ("Asynchronous Ensemble", Table 1) fuses the top N models of one run
(N = 4) by majority vote and reports the ensemble's resource use as the sum over its members
(1.1e7 parameters, 51 MB, 2.7 GOP for the best 4). fitnas splits the work:

* **Members** (``fitnas.study.members.select_members``): the ``top`` best usable trials of the
  run, or the trials a user names.
* **The vote** (``fitnas.study.vote``): :class:`~fitnas.study.vote.MajorityVote` runs the
  members one after another; ``votes + mean softmax probability / (n + 1)`` per class.
* **Costs**: parameters, parameter bytes (at the run's dtype) and MACs are the sums of the
  members' stored costs (the paper's convention) and are checked against the run's limits
  (``violations``, each ``<= 0`` when met: a sum of members that each fit may not fit). The
  peak activation memory is that of running the members one after another
  (``fitnas.costs.sequential.sequential_peak``, each member in the execution order its costs
  were checked under; measured by ``fitnas.costs.measure.measure_sequential_peak``).
* **Accuracy**: the vote's accuracy on the run dataset's validation and test splits (the
  dataset of the run's settings, rebuilt from its seed), and each member's own.

Members come from the run's record (``fitnas.study.run.load_run``): the stored network, the
stored order and the saved weights (``fitnas.study.restore``); only the dataset is loaded, to
score the vote. The ONNX file comes from ``fitnas.export.export_module_onnx``, the same export
and check as every single model.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..arch import ArchGraph
from ..costs.sequential import sequential_peak
from ..data.preprocess import Preprocess
from ..errors import FitnasError
from .members import select_members
from .outputs import run_preprocess
from .restore import restore_trial
from .run import RunRecord, load_run
from .setup import dataset_of
from .vote import EnsembleError, MajorityVote

__all__ = ["Ensemble", "EnsembleError", "Member", "build_ensemble", "export_ensemble"]


@dataclass(frozen=True)
class Member:
    """One member: its trial, the study's accuracy for it and its own recomputed accuracies."""

    trial: int
    encoding: Any
    fingerprint: str
    search_accuracy: float
    val_accuracy: float
    test_accuracy: float
    params: int
    param_bytes: int
    macs: int
    peak_activation_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Ensemble:
    """A majority-vote ensemble of a run's trials, its accuracies and its summed costs."""

    run: str
    members: tuple[Member, ...]
    module: MajorityVote
    graphs: tuple[ArchGraph, ...]
    orders: tuple[tuple[str, ...], ...]
    val_accuracy: float
    test_accuracy: float
    costs: dict[str, Any]
    dataset: str
    input_shape: tuple[int, ...]
    classes: int
    violations: dict[str, float]
    #: The input normalization the members were trained with (``preprocess.json``).
    preprocess: Preprocess | None = None

    @property
    def best_member(self) -> Member:
        return max(self.members, key=lambda m: (m.val_accuracy, -m.trial))

    def to_dict(self) -> dict[str, Any]:
        """Everything but the module and graphs, JSON-able."""
        best = self.best_member
        return {
            "method": "majority vote of the top models (paper 002 section 4.1)", "run": self.run,
            "dataset": self.dataset, "input_shape": list(self.input_shape), "classes": self.classes,
            "trials": [m.trial for m in self.members],
            "val_accuracy": self.val_accuracy, "test_accuracy": self.test_accuracy,
            "best_member": {"trial": best.trial, "val_accuracy": best.val_accuracy,
                            "test_accuracy": best.test_accuracy},
            "costs": dict(self.costs), "violations": dict(self.violations),
            "meets_limits": all(v <= 0 for v in self.violations.values()),
            "members": [m.to_dict() for m in self.members],
        }


def _open(run: RunRecord | str | Path) -> RunRecord:
    return load_run(run) if isinstance(run, (str, Path)) else run


@torch.no_grad()
def _accuracy(module: nn.Module, x: Tensor, y: Tensor, batch: int = 256) -> float:
    module.eval()
    correct = 0
    for i in range(0, len(x), batch):  # a copy: inference may reuse buffers in place
        correct += int((module(x[i:i + batch].clone()).argmax(1) == y[i:i + batch]).sum())
    return correct / max(1, len(x))


def build_ensemble(run: RunRecord | str | Path, top: int = 4,
                   trials: Sequence[int] | None = None) -> Ensemble:
    """The majority-vote ensemble of ``run`` (a run folder of ``fitnas search``, or its
    :class:`RunRecord`, e.g. ``study.record``): the ``top`` best usable trials, or the given
    ``trials``, evaluated on the run's dataset."""
    run = _open(run)
    settings = run.settings
    if settings is None:
        raise EnsembleError(f"{run.name} was not made by `fitnas search`, so its dataset is not "
                            "recorded; an ensemble needs the dataset to vote on")
    if settings.table:
        raise EnsembleError(
            f"the run in {run.name} scored its trials by table look-up ({settings.table}), so "
            "it has no trained weights and no dataset to vote on; an ensemble needs a run that "
            "trained its candidates")
    if run.directory is None:
        raise EnsembleError("the study keeps no weights (directory=None); give it a run folder")
    chosen = select_members(run, top, trials)
    data = dataset_of(settings)
    dtype = run.constraints.limits.dtype
    graphs, orders, modules, members = [], [], [], []
    for t in chosen:
        module = restore_trial(run, t.number)  # the stored network, in its checked order
        graph, order = module.graph, module.order
        members.append(Member(
            trial=t.number, encoding=t.encoding, fingerprint=t.fingerprint,
            search_accuracy=float(t.accuracy or 0.0),
            val_accuracy=_accuracy(module, data.val.x, data.val.y),
            test_accuracy=_accuracy(module, data.test.x, data.test.y),
            params=int(t.costs["params"]), param_bytes=int(t.costs["param_bytes"]),
            macs=int(t.costs["macs"]), peak_activation_bytes=int(t.costs["peak_activation_bytes"])))
        graphs.append(graph)
        orders.append(order)
        modules.append(module)
    classes = {g.shape(g.outputs[0])[-1] for g in graphs}
    if len(classes) != 1 or len({g.input_shape for g in graphs}) != 1:
        raise EnsembleError("members disagree on the input shape or the number of classes")
    vote = MajorityVote(modules).eval()
    try:
        peak = sequential_peak(graphs, orders, dtype)
    except FitnasError as err:
        raise EnsembleError(str(err)) from None
    param_bytes = sum(m.param_bytes for m in members)
    costs: dict[str, Any] = {
        "dtype": dtype, "params": sum(m.params for m in members), "param_bytes": param_bytes,
        "macs": sum(m.macs for m in members), "peak_activation_bytes": peak.peak_bytes,
        "total_memory_bytes": param_bytes + peak.peak_bytes,
        "largest_member_peak_bytes": max(m.peak_activation_bytes for m in members),
        "stage_bytes": list(peak.stage_bytes)}
    return Ensemble(
        run=run.name, members=tuple(members), module=vote, graphs=tuple(graphs),
        orders=tuple(orders), val_accuracy=_accuracy(vote, data.val.x, data.val.y),
        test_accuracy=_accuracy(vote, data.test.x, data.test.y), costs=costs, dataset=data.name,
        input_shape=tuple(graphs[0].input_shape), classes=classes.pop(),
        violations=run.constraints.violations(
            {k: v for k, v in costs.items() if isinstance(v, (int, float))}),
        preprocess=run_preprocess(run))


def export_ensemble(ensemble: Ensemble, folder: str | Path) -> dict[str, Path]:
    """Write ``model.onnx`` (checked under onnxruntime), ``members.json`` and ``ensemble.json``
    to ``folder``. Everything is written and checked in a scratch folder first, so a failure
    leaves what ``folder`` held untouched."""
    from ..export import export_module_onnx

    folder = Path(folder)
    scratch = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    names = {"onnx": "model.onnx", "members": "members.json", "ensemble": "ensemble.json"}
    if ensemble.preprocess is not None:
        names["preprocess"] = "preprocess.json"
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        export_module_onnx(
            ensemble.module, ensemble.input_shape, scratch / names["onnx"],
            metadata={"fitnas.ensemble.trials": json.dumps([m.trial for m in ensemble.members]),
                      "fitnas.ensemble.output": "votes + mean softmax probability / (n + 1)"},
            preprocess=ensemble.preprocess)
        if ensemble.preprocess is not None:
            (scratch / names["preprocess"]).write_text(ensemble.preprocess.to_json())
        data = ensemble.to_dict()
        (scratch / names["members"]).write_text(json.dumps(data.pop("members"), indent=2))
        (scratch / names["ensemble"]).write_text(json.dumps(data, indent=2))
        folder.mkdir(parents=True, exist_ok=True)
        for name in names.values():
            os.replace(scratch / name, folder / name)
    except OSError as err:
        raise EnsembleError(f"cannot write the ensemble to {str(folder)!r}: "
                            f"{err.strerror or err}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {key: folder / name for key, name in names.items()}
