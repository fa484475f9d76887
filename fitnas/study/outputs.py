"""What a finished search leaves in its run folder besides ``study.db``.

* ``pareto.csv``: the non-dominated feasible trials over accuracy and the run's cost objectives
  (``--objectives``, else each constrained cost), with every cost a trial has (latency, energy
  and power from a device model included);
* ``summary.json``: the best trial, the counts by state, the constraints, the objectives, the
  Pareto front's trials and its ``hypervolume`` (``value``, ``objectives``, ``reference``: the
  reference point, accuracy 0 and each cost's limit, else its largest value among the feasible
  completed trials; see :mod:`fitnas.study.pareto`);
* ``best/``: the best trial's ``arch.json``, trained ``weights.pt``, ``model.onnx`` (checked
  against torch under onnxruntime) and ``memory_plan.json`` (execution order, bytes alive per
  step, peak) under the run's dtype and schedule.

Everything is read from the run's record (:class:`~fitnas.study.run.RunRecord`): the network
stored with the trial and the execution order its costs were checked under, so the memory plan
exported is the plan that was checked, and exporting needs neither the dataset nor the space.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .pareto import hypervolume
from .run import RunRecord
from .trial import TrialRecord, TrialState

__all__ = ["COST_COLUMNS", "export_trial", "write_outputs"]

COST_COLUMNS = ("params", "param_bytes", "macs", "peak_activation_bytes", "total_memory_bytes",
                "latency_ms", "energy_uj", "avg_power_mw", "peak_power_mw")


def _row(trial: TrialRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"trial": trial.number, "accuracy": trial.accuracy}
    for key in COST_COLUMNS:
        if key in trial.costs:
            row[key] = trial.costs[key]
    row["encoding"] = json.dumps(trial.encoding, separators=(",", ":"))
    return row


def write_pareto_csv(run: RunRecord, path: Path) -> list[TrialRecord]:
    front = run.pareto_front()
    columns = ["trial", "accuracy", *[c for c in COST_COLUMNS
                                      if any(c in t.costs for t in front)], "encoding"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for trial in front:
            writer.writerow(_row(trial))
    return front


def summary(run: RunRecord) -> dict[str, Any]:
    best = run.best_trial()
    data: dict[str, Any] = {
        "best": None,
        "counts": run.counts(),
        "constraints": run.constraints.get_config(),
        "objectives": ["accuracy", *run.cost_objectives()],
        "pareto_trials": [t.number for t in run.pareto_front()],
        "hypervolume": hypervolume(run.trials((TrialState.COMPLETE,)), run.cost_objectives(),
                                   run.constraints.limits).to_dict(),
    }
    if best is not None:
        data["best"] = {
            "trial": best.number, "accuracy": best.accuracy, "test_accuracy": best.test_accuracy,
            **{k: best.costs.get(k) for k in ("params", "param_bytes", "macs",
                                              "peak_activation_bytes", "total_memory_bytes")},
            "violations": dict(best.violations), "encoding": best.encoding,
        }
        for key in ("latency_ms", "energy_uj", "avg_power_mw", "peak_power_mw"):
            if key in best.costs:
                data["best"][key] = best.costs[key]
    return data


def export_trial(run: RunRecord, number: int, folder: Path, formats: tuple[str, ...] = ("onnx",)
                 ) -> dict[str, Path]:
    """Write a trial's arch.json, weights, memory plan and exported model(s) to ``folder``:
    the stored network, run in the order its costs were checked under."""
    import torch

    from ..costs import memory_plan
    from ..export import export_onnx, export_torchscript
    from .restore import restore_trial

    module = restore_trial(run, number)  # the stored network, built in its checked order
    graph, order = module.graph, module.order
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    (folder / "arch.json").write_text(graph.to_json())
    written["arch"] = folder / "arch.json"
    plan = memory_plan(graph, order, run.constraints.limits.dtype)
    (folder / "memory_plan.json").write_text(json.dumps(plan.to_dict(), indent=2))
    written["memory_plan"] = folder / "memory_plan.json"
    torch.save(module.state_dict(), folder / "weights.pt")
    written["weights"] = folder / "weights.pt"
    if "onnx" in formats:
        written["onnx"] = export_onnx(graph, folder / "model.onnx", module=module, order=order)
    if "torchscript" in formats:
        written["torchscript"] = export_torchscript(graph, folder / "model.pt", module=module,
                                                    order=order)
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
