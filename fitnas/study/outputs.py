"""What a finished search leaves in its run folder besides ``study.db``.

* ``pareto.csv``: the non-dominated feasible trials over accuracy and the run's cost objectives
  (``--objectives``, else each constrained cost), with every cost a trial has (latency, energy
  and power from a device model included); ``accuracy`` is the validation accuracy the search
  ranked on, ``test_accuracy`` the held-out test split's, scored once at the end of the search
  (:mod:`fitnas.study.holdout`; empty for a trial without weights or test split);
* ``summary.json``: the best trial (``accuracy`` on validation, ``test_accuracy`` on test),
  ``test_accuracies`` (every scored trial's), the counts by state, the constraints, the
  objectives, the Pareto front's trials and its ``hypervolume`` (``value``, ``objectives``, ``reference``: the
  reference point, accuracy 0 and each cost's limit, else its largest value among the feasible
  completed trials; see :mod:`fitnas.study.pareto`);
* ``best/``: the best trial's ``arch.json``, trained ``weights.pt``, ``model.onnx`` (checked
  against torch under onnxruntime), ``memory_plan.json`` (execution order, bytes alive per
  step, peak) under the run's dtype and schedule, and ``preprocess.json``.

``arch.json`` is the ArchGraph JSON plus one top-level key ``ArchGraph.from_dict`` ignores,
``"run"`` (:data:`ARCH_RUN_KEY`): ``{"trial": N, "dtype": ..., "schedule": ...}``, the dtype
and schedule the run checked its costs under (``fitnas estimate`` uses them). An
``arch.json`` without it (older, or written by ``ArchGraph.to_json``) reads the same.
``preprocess.json`` (:class:`~fitnas.data.preprocess.Preprocess`) is the input the model
expects: the training split's per-channel mean and std in raw pixel units, the raw value
range, the input shape, layout NCHW and the class names, recorded in the run's configuration
when the Study was built (the evaluator's ``preprocess``), so exporting loads no dataset. The
ONNX model carries the same JSON as metadata (``fitnas.preprocess``); with
``include_normalization`` the normalization is baked into the model as its first layer and
``in_model`` is ``true`` (feed raw images).

Everything is read from the run's record (:class:`~fitnas.study.run.RunRecord`): the network
stored with the trial and the execution order its costs were checked under, so the memory plan
exported is the plan that was checked, and exporting needs neither the dataset nor the space.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..arch import ArchGraph
from ..data.preprocess import Preprocess
from .holdout import holdout_accuracies
from .pareto import hypervolume, panacea
from .run import RunRecord
from .trial import TrialRecord, TrialState

__all__ = ["ARCH_RUN_KEY", "COST_COLUMNS", "arch_document", "export_trial", "run_preprocess",
           "summary", "write_outputs", "write_pareto_csv"]

#: The top-level key of an exported ``arch.json`` with the run's dtype and schedule.
ARCH_RUN_KEY = "run"

COST_COLUMNS = ("params", "param_bytes", "macs", "peak_activation_bytes", "total_memory_bytes",
                "latency_ms", "energy_uj", "avg_power_mw", "peak_power_mw")


def _row(trial: TrialRecord, tests: dict[int, float], columns: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"trial": trial.number, "accuracy": trial.accuracy,
                           "test_accuracy": tests.get(trial.number)}
    for key in columns:
        if key in trial.costs:
            row[key] = trial.costs[key]
    row["encoding"] = json.dumps(trial.encoding, separators=(",", ":"))
    return row


def device_columns(front: Sequence[TrialRecord]) -> list[str]:
    """The costs on objective devices (``latency_ms@DEV``, ...) the trials of ``front`` have,
    in first-seen order."""
    found: dict[str, None] = {}
    for trial in front:
        for key in trial.costs:
            if "@" in key:
                found[key] = None
    return list(found)


def write_pareto_csv(run: RunRecord, path: Path) -> list[TrialRecord]:
    front = run.pareto_front()
    tests = holdout_accuracies(run)
    costs = [*[c for c in COST_COLUMNS if any(c in t.costs for t in front)],
             *device_columns(front)]
    fronts = run.device_fronts()
    on_fronts = {t.number: [d for d, f in fronts.items() if any(o.number == t.number for o in f)]
                 for t in front}
    columns = ["trial", "accuracy", "test_accuracy", *costs,
               *(["device_fronts"] if fronts else []), "encoding"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for trial in front:
            row = _row(trial, tests, costs)
            if fronts:  # the devices on whose front the trial is (all of them: the Panacea)
                row["device_fronts"] = ";".join(on_fronts[trial.number])
            writer.writerow(row)
    return front


def summary(run: RunRecord) -> dict[str, Any]:
    best = run.best_trial()
    tests = holdout_accuracies(run)
    fronts = run.device_fronts()
    data: dict[str, Any] = {
        "best": None,
        "counts": run.counts(),
        "constraints": run.constraints.get_config(),
        "objectives": ["accuracy", *run.cost_objectives()],
        "pareto_trials": [t.number for t in run.pareto_front()],
        **({"device_fronts": {d: [t.number for t in f] for d, f in fronts.items()},
            "panacea": [t.number for t in panacea(fronts)]} if fronts else {}),
        "hypervolume": hypervolume(run.trials((TrialState.COMPLETE,)), run.cost_objectives(),
                                   run.constraints.limits).to_dict(),
        "test_accuracies": {str(n): a for n, a in sorted(tests.items())},
    }
    if best is not None:
        data["best"] = {
            "trial": best.number, "accuracy": best.accuracy,
            "test_accuracy": tests.get(best.number),
            **{k: best.costs.get(k) for k in ("params", "param_bytes", "macs",
                                              "peak_activation_bytes", "total_memory_bytes")},
            "violations": dict(best.violations), "encoding": best.encoding,
        }
        for key in ("latency_ms", "energy_uj", "avg_power_mw", "peak_power_mw",
                    *device_columns([best])):
            if key in best.costs:
                data["best"][key] = best.costs[key]
    return data


def run_preprocess(run: RunRecord) -> Preprocess | None:
    """The input normalization the run recorded (its evaluator's ``preprocess``), or ``None``
    (a table run, or one made before fitnas recorded it)."""
    stored = (run.config.get("evaluator") or {}).get("preprocess")
    return Preprocess.from_dict(stored) if stored is not None else None


def arch_document(graph: ArchGraph, run: RunRecord, number: int) -> dict[str, Any]:
    """``arch.json`` of trial ``number``: the graph's JSON and, under :data:`ARCH_RUN_KEY`, the
    dtype and schedule its costs were checked under."""
    limits = run.constraints.limits
    return {**graph.to_dict(),
            ARCH_RUN_KEY: {"trial": number, "dtype": limits.dtype, "schedule": limits.schedule}}


def export_trial(run: RunRecord, number: int, folder: Path, formats: tuple[str, ...] = ("onnx",),
                 include_normalization: bool = False) -> dict[str, Path]:
    """Write a trial's arch.json, weights, memory plan, preprocess.json and exported model(s)
    to ``folder``: the stored network, run in the order its costs were checked under. With
    ``include_normalization`` the models normalize raw input themselves (their first layer)."""
    import torch

    from ..costs import memory_plan
    from ..export import ExportError, export_onnx, export_torchscript
    from .restore import restore_trial

    preprocess = run_preprocess(run)
    if include_normalization and preprocess is None:
        raise ExportError(f"{run.name} records no input normalization (a --table run, or one "
                          "made before fitnas recorded it), so it cannot be included")
    module = restore_trial(run, number)  # the stored network, built in its checked order
    graph, order = module.graph, module.order
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    (folder / "arch.json").write_text(json.dumps(arch_document(graph, run, number), indent=2))
    written["arch"] = folder / "arch.json"
    if preprocess is not None:
        shipped = preprocess.included() if include_normalization else preprocess
        (folder / "preprocess.json").write_text(shipped.to_json())
        written["preprocess"] = folder / "preprocess.json"
    plan = memory_plan(graph, order, run.constraints.limits.dtype)
    (folder / "memory_plan.json").write_text(json.dumps(plan.to_dict(), indent=2))
    written["memory_plan"] = folder / "memory_plan.json"
    torch.save(module.state_dict(), folder / "weights.pt")
    written["weights"] = folder / "weights.pt"
    if "onnx" in formats:
        written["onnx"] = export_onnx(graph, folder / "model.onnx", module=module, order=order,
                                      preprocess=preprocess,
                                      include_normalization=include_normalization)
    if "torchscript" in formats:
        written["torchscript"] = export_torchscript(graph, folder / "model.pt", module=module,
                                                    order=order, preprocess=preprocess,
                                                    include_normalization=include_normalization)
    return written


def write_outputs(run: RunRecord) -> dict[str, Path]:
    """Write pareto.csv, summary.json and best/ into the run's folder."""
    if run.directory is None:
        raise ValueError("an in-memory study has no folder to write outputs to")
    folder = run.directory
    out = {"pareto": folder / "pareto.csv", "summary": folder / "summary.json"}
    write_pareto_csv(run, out["pareto"])
    out["summary"].write_text(json.dumps(summary(run), indent=2))
    best = run.best_trial()
    if best is not None and run.weights_path(best.number) is not None:
        out.update(export_trial(run, best.number, folder / "best"))
        out["best"] = folder / "best"
    return out
