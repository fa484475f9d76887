"""Top-N ensembles of a finished run, fused by majority vote (paper 002 section 4.1).

Paper 002 section 4.1 ("Asynchronous Ensemble", Table 1) fuses the top N models of one run
(N = 4) "using a majority voting scheme when performing classification", and reports the
ensemble's resource use as the sum over its members (1.1e7 parameters, 51 MB, 2.7 GOP for the
best 4). The paper leaves the details open; fitnas chooses:

* **Members**: the ``top`` most accurate COMPLETE trials that meet every limit and have saved
  weights (ranked as ``Study.best_trial`` ranks: validation accuracy, then least total memory,
  then the earlier trial), or trial numbers the user names. At least 2.
* **The vote**: each member votes for its argmax class (the first one on a tie, as
  ``torch.argmax`` and ONNX ``ArgMax`` both do). The output of :class:`MajorityVote` is, per
  class, ``votes + mean softmax probability / (n + 1)``: the fraction is below ``1/(n+1)``, so
  it never overturns a difference of one vote and only breaks ties, in favour of the class the
  members are on average most confident of. ``argmax`` of the output is the ensemble's class.
* **Costs**: parameters, parameter bytes (at the run's dtype) and MACs are summed over the
  members (the paper's convention) and checked against the run's limits (``violations``, each
  ``<= 0`` when met; the paper's ensemble was unconstrained, and a sum of members that each
  fit may not fit). The peak activation memory is that of running the members one after
  another on one input: member ``k`` runs with the input kept alive for the members
  after it and the logits of the members before it, then the vote holds all ``n`` logits, the
  score and its largest temporary (the softmax probabilities, ``B x C``, or the winning index
  in int64 plus a one per image, ``B x (8 + bpe)`` bytes). :func:`sequential_peak` computes it
  from each member's lifetime table (paper 000 section 3.4, each member in the execution order
  the run used); :func:`measure_sequential_peak` measures it with ``fitnas.costs.measure``'s
  tracker of live tensor storages, and at fp32 the two agree to the byte.
* **Accuracy**: the vote's accuracy on the run dataset's validation and test splits (the
  dataset of the run's ``TrainerEvaluator``, rebuilt from its seed), and each member's own.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..arch import INPUT, ArchGraph
from ..arch.builder import ArchModule, build
from ..costs import bytes_per_element, count_macs, count_params, lifetime_table
from ..errors import FitnasError
from ..states import TrialState

__all__ = ["Ensemble", "EnsembleError", "MajorityVote", "Member", "SequentialPeak", "build_ensemble",
           "export_ensemble", "majority_vote", "measure_sequential_peak", "select_members",
           "sequential_peak"]

#: Bytes of the int64 index of each image's winning class during the vote.
_INDEX_BYTES = 8


class EnsembleError(FitnasError):
    """An ensemble cannot be built from a run (too few members, no weights, unknown trial)."""


# --------------------------------------------------------------------------------- the vote
def majority_vote(logits: list[Tensor], consume: bool = False) -> Tensor:
    """Per-class ``votes + mean softmax probability / (n + 1)`` of ``n`` members' ``B x C``
    logits; ``argmax`` is the majority class, ties broken by the mean probability. With
    ``consume`` the list is emptied as it goes (each member's logits freed once counted)."""
    n = len(logits)
    if n == 0:
        raise EnsembleError("a vote needs at least one member's logits")
    weight = 1.0 / (n * (n + 1))
    score = torch.zeros_like(logits[0])
    for k in range(n):
        member = logits.pop(0) if consume else logits[k]
        winner = member.argmax(-1, keepdim=True)
        one = torch.ones_like(winner, dtype=score.dtype)
        score.scatter_add_(-1, winner, one)
        del winner, one
        probability = member.softmax(-1)
        score.add_(probability, alpha=weight)
        del probability, member
    return score


class MajorityVote(nn.Module):
    """Runs ``members`` one after another on one input and fuses them by :func:`majority_vote`.

    ``forward(x)`` returns ``B x C`` scores whose integer part is the votes per class. Members
    that are :class:`ArchModule` s run in their own execution order with their planned in-place
    reuse and drop each tensor after its last reader; the input is released after the last
    member's last reader of it.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 1:
            raise EnsembleError("MajorityVote needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor) -> Tensor:
        return self.execute([x])

    def execute(self, holder: list[Tensor], inplace: bool = True,
                on_stage: Callable[[int], None] | None = None) -> Tensor:
        """Run on ``holder[0]``, which is taken out of the list once the last member has it.
        ``on_stage(k)`` is called before member ``k``, before the vote (``k = n``) and at the
        end (``n + 1``)."""
        n = len(self.members)
        logits: list[Tensor] = []
        for k, member in enumerate(self.members):
            if on_stage is not None:
                on_stage(k)
            inner = [holder[0]] if k < n - 1 else [holder.pop()]
            if isinstance(member, ArchModule):
                logits.append(member.execute(inner, member.order, inplace))
            else:
                logits.append(member(inner.pop()))
            del inner
        if on_stage is not None:
            on_stage(n)
        out = majority_vote(logits, consume=True)
        if on_stage is not None:
            on_stage(n + 1)
        return out


# ------------------------------------------------------------------------------ the memory
@dataclass(frozen=True)
class SequentialPeak:
    """Peak live activation bytes of an ensemble run member by member; ``stage_bytes`` holds
    the largest bytes alive while each member runs, then during the vote."""

    peak_bytes: int
    stage_bytes: tuple[int, ...]


def sequential_peak(graphs: Sequence[ArchGraph], orders: Sequence[Sequence[str] | None] | None = None,
                    dtype: str = "fp32", inplace: bool = True) -> SequentialPeak:
    """The analytic peak of :meth:`MajorityVote.execute` over members built from ``graphs``
    (each run in its order), from their lifetime tables (paper 000 section 3.4)."""
    bpe = bytes_per_element(dtype)
    orders = list(orders) if orders is not None else [None] * len(graphs)
    stages: list[int] = []
    kept = 0  # logits of the members already run
    for k, (graph, order) in enumerate(zip(graphs, orders)):
        if len(graph.outputs) != 1:
            raise EnsembleError(f"member {k} has {len(graph.outputs)} outputs; a voter needs one")
        table = lifetime_table(graph, order, dtype, inplace)
        buffers = table.plan.buffers
        entry = next(b for b in buffers if INPUT in b.tensors)
        out = next(b for b in buffers if graph.outputs[0] in b.tensors)
        held = entry.elements * bpe if k < len(graphs) - 1 else 0  # later members need it
        stages.append(kept + max(t + (held if s > entry.death else 0)
                                 for s, t in enumerate(table.totals)))
        kept += out.elements * bpe
    batch, classes = graphs[0].shape(graphs[0].outputs[0])
    workspace = max(batch * classes * bpe, batch * (_INDEX_BYTES + bpe))
    stages.append(kept + batch * classes * bpe + workspace)
    return SequentialPeak(max(stages), tuple(stages))


def measure_sequential_peak(module: MajorityVote, input_shape: Sequence[int], inplace: bool = True,
                            seed: int = 0) -> SequentialPeak:
    """Run ``module`` once on a random fp32 input and measure the live activation bytes of each
    stage, as ``fitnas.costs.measure.measure_peak`` does for one network (weights excluded)."""
    from ..costs.measure import _LiveStorages

    module.eval()
    excluded = {t.untyped_storage().data_ptr() for t in (*module.parameters(), *module.buffers())}
    tracker = _LiveStorages(excluded)
    stages: list[int] = []

    def on_stage(stage: int) -> None:
        if stage > 0:
            stages.append(tracker.high)
        tracker.high = tracker.live

    with torch.inference_mode():
        holder = [torch.randn(tuple(input_shape), generator=torch.Generator().manual_seed(seed))]
        with tracker:
            tracker.track(holder[0])
            out = module.execute(holder, inplace, on_stage)
        del out
    return SequentialPeak(max(stages), tuple(stages))


# ---------------------------------------------------------------------------- the ensemble
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


def _open(study: Any) -> Any:
    if isinstance(study, (str, Path)):
        from .setup import build_study, load_settings

        return build_study(load_settings(study), Path(study), attach=True)
    return study


def select_members(study: Any, top: int = 4, trials: Sequence[int] | None = None) -> list[Any]:
    """The trials to fuse: ``trials`` if given, else the ``top`` best usable ones."""
    where = str(study.directory) if study.directory is not None else "this in-memory study"
    if trials is None:
        if isinstance(top, bool) or not isinstance(top, int) or top < 2:
            raise EnsembleError(f"top must be a whole number of at least 2 (an ensemble of one "
                                f"model is that model), got {top!r}")
        usable = [t for t in study.trials((TrialState.COMPLETE,)) if t.feasible and t.accuracy is not None
                  and study.weights_path(t.number) is not None]
        usable.sort(key=lambda t: (-t.accuracy, t.costs.get("total_memory_bytes", 0), t.number))
        if len(usable) < 2:
            raise EnsembleError(f"{where} has {len(usable)} COMPLETE trial(s) that meet the limits "
                                "and have trained weights; an ensemble needs at least 2")
        return usable[:top]
    numbers = list(trials)
    if len(numbers) < 2:
        raise EnsembleError(f"an ensemble needs at least 2 trials, got {len(numbers)} ({numbers})")
    if len(set(numbers)) != len(numbers):
        raise EnsembleError(f"trial numbers repeat in {numbers}; name each member once")
    known = {t.number: t for t in study.trials()}
    chosen = []
    for n in numbers:
        if n not in known:
            raise EnsembleError(f"no trial {n} in {where}; its trials are numbered "
                                f"0-{max(known)}" if known else f"{where} has no trials")
        t = known[n]
        if t.state != TrialState.COMPLETE or study.weights_path(n) is None:
            raise EnsembleError(f"trial {n} in {where} is {t.state} without trained weights; "
                                "members must be COMPLETE trials with saved weights")
        chosen.append(t)
    return chosen


@torch.no_grad()
def _accuracy(module: nn.Module, x: Tensor, y: Tensor, batch: int = 256) -> float:
    module.eval()
    correct = 0
    for i in range(0, len(x), batch):  # a copy: inference may reuse buffers in place
        correct += int((module(x[i:i + batch].clone()).argmax(1) == y[i:i + batch]).sum())
    return correct / max(1, len(x))


def build_ensemble(study: Any, top: int = 4, trials: Sequence[int] | None = None) -> Ensemble:
    """The majority-vote ensemble of ``study`` (a Study, or a run folder of ``fitnas search``):
    the ``top`` best usable trials, or the given ``trials``, evaluated on the run's dataset."""
    study = _open(study)
    data = getattr(study.evaluator, "data", None)
    if data is None or not hasattr(data, "val"):
        raise EnsembleError(
            f"the run in {study.directory} scored its trials by "
            f"{type(study.evaluator).__name__} (table look-up), so it has no trained weights "
            "and no dataset to vote on; an ensemble needs a run that trained its candidates")
    if study.directory is None:
        raise EnsembleError("the study keeps no weights (directory=None); give it a run folder")
    chosen = select_members(study, top, trials)
    dtype = study.constraints.limits.dtype
    graphs, orders, modules, members = [], [], [], []
    for t in chosen:
        graph = study.space.decode(study.space.from_data(t.encoding))
        order = tuple(study.constraints.order(graph))
        module = build(graph, order).eval()
        module.load_state_dict(torch.load(study.weights_path(t.number), map_location="cpu"))
        params = count_params(graph)
        members.append(Member(
            trial=t.number, encoding=t.encoding, fingerprint=graph.fingerprint(),
            search_accuracy=float(t.accuracy), val_accuracy=_accuracy(module, data.val.x, data.val.y),
            test_accuracy=_accuracy(module, data.test.x, data.test.y), params=params,
            param_bytes=params * bytes_per_element(dtype), macs=count_macs(graph),
            peak_activation_bytes=lifetime_table(graph, order, dtype).peak_bytes))
        graphs.append(graph)
        orders.append(order)
        modules.append(module)
    classes = {g.shape(g.outputs[0])[-1] for g in graphs}
    if len(classes) != 1 or len({g.input_shape for g in graphs}) != 1:
        raise EnsembleError("members disagree on the input shape or the number of classes")
    vote = MajorityVote(modules).eval()
    peak = sequential_peak(graphs, orders, dtype)
    param_bytes = sum(m.param_bytes for m in members)
    costs = {"dtype": dtype, "params": sum(m.params for m in members), "param_bytes": param_bytes,
             "macs": sum(m.macs for m in members), "peak_activation_bytes": peak.peak_bytes,
             "total_memory_bytes": param_bytes + peak.peak_bytes,
             "largest_member_peak_bytes": max(m.peak_activation_bytes for m in members),
             "stage_bytes": list(peak.stage_bytes)}
    return Ensemble(
        run=str(study.directory), members=tuple(members), module=vote, graphs=tuple(graphs),
        orders=tuple(orders), val_accuracy=_accuracy(vote, data.val.x, data.val.y),
        test_accuracy=_accuracy(vote, data.test.x, data.test.y), costs=costs, dataset=data.name,
        input_shape=tuple(graphs[0].input_shape), classes=classes.pop(),
        violations=study.constraints.violations(costs))


# ------------------------------------------------------------------------------- the export
def _onnx(ensemble: Ensemble, path: Path) -> None:
    """Write the vote as ONNX (batch dimension dynamic) and check it under onnxruntime."""
    import warnings

    import numpy as np
    import onnx
    import onnxruntime as ort

    from ..export import ONNX_OPSET, TOLERANCE, ExportError

    module = ensemble.module.eval()
    x = torch.randn((8, *ensemble.input_shape[1:]), generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (x[:1].clone(),), str(path), dynamo=False,
                              opset_version=ONNX_OPSET, input_names=["input"],
                              output_names=["output"], do_constant_folding=True,
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    except Exception as err:
        raise ExportError(f"ONNX export of the ensemble failed: {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}") from err
    model = onnx.load(str(path))
    model.producer_name = "fitnas"
    for key, value in (("fitnas.ensemble.trials", json.dumps([m.trial for m in ensemble.members])),
                       ("fitnas.ensemble.output", "votes + mean softmax probability / (n + 1)"),
                       ("fitnas.input_shape", json.dumps(list(ensemble.input_shape)))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = module(x.clone()).numpy()
    diff = float(np.max(np.abs(got - want)))
    if not diff <= TOLERANCE or not (got.argmax(1) == want.argmax(1)).all():
        raise ExportError(f"the ensemble's ONNX model differs from torch by {diff:.3g} (allowed "
                          f"{TOLERANCE:g}) under onnxruntime")


def export_ensemble(ensemble: Ensemble, folder: str | Path) -> dict[str, Path]:
    """Write ``model.onnx`` (checked under onnxruntime), ``members.json`` and ``ensemble.json``
    to ``folder``. Everything is written and checked in a scratch folder first, so a failure
    leaves what ``folder`` held untouched."""
    folder = Path(folder)
    scratch = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    names = {"onnx": "model.onnx", "members": "members.json", "ensemble": "ensemble.json"}
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        _onnx(ensemble, scratch / names["onnx"])
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
