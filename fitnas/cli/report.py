"""``fitnas report DIR`` and ``fitnas export DIR``.

Both write all or nothing (issue 18): the export is made in a scratch folder that replaces its
output folder in one rename (an existing one is refused without ``--force``); the report is
made in a scratch folder and each file then replaces the run's old one.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import FitnasError
from ..files import staged_folder

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="write report.html and charts for a run folder",
        description="Write DIR/report.html (the Pareto front, the search's progress, the best "
        "network's memory plan and lifetime chart, its hypervolume) and the PNG charts beside "
        "it, from the run's record alone: the dataset and the search space's code are not "
        "needed.")
    p.add_argument("dir", metavar="DIR", help="a run folder (holds study.db)")
    p.add_argument("--out", metavar="FOLDER",
                   help="write the report here instead (default: into DIR, replacing its "
                        "report files)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.add_argument("--objectives", metavar="LIST",
                   help="costs of the Pareto front besides accuracy, comma-separated (e.g. "
                        "energy_uj,latency_ms; default: the run's own)")
    p.set_defaults(handler=run_report)
    e = subparsers.add_parser(
        "export", help="export a trained trial as ONNX or TorchScript",
        description="Export trial N of the run in DIR (default: the best) with its trained "
        "weights: model.onnx (checked against torch under onnxruntime) or model.pt "
        "(TorchScript), arch.json, weights.pt, memory_plan.json (the execution order its "
        "costs were checked under) and preprocess.json (the input normalization).")
    e.add_argument("dir", metavar="DIR", help="a run folder (holds study.db)")
    e.add_argument("--trial", type=int, help="trial number (default: the best)")
    e.add_argument("--format", default="onnx", choices=("onnx", "torchscript"),
                   help="ONNX (checked under onnxruntime) or TorchScript")
    e.add_argument("--out", help="folder to write to (default DIR/export/trial-N)")
    e.add_argument("--force", action="store_true", help="replace an existing output folder")
    e.add_argument("--include-normalization", action="store_true",
                   help="bake the run's input normalization ((x - mean) / std per channel, see "
                        "preprocess.json) into the model as its first layer: it takes raw images")
    e.set_defaults(handler=run_export)


def run_report(args: argparse.Namespace) -> int:
    from ..report.study_report import write_report
    from ..study import load_run

    objectives = None
    if args.objectives is not None:
        from ..costs.objectives import check_unique, split_objective
        from ..study.run import OBJECTIVE_COSTS

        objectives = [n.strip() for n in args.objectives.split(",") if n.strip()]
        bad = [n for n in objectives if split_objective(n)[0] not in OBJECTIVE_COSTS] or (
            [] if objectives else [""])
        if bad:
            raise FitnasError(f"unknown objective {bad[0]!r}; accepted: "
                              f"{', '.join(OBJECTIVE_COSTS)}, or a device cost on a device "
                              "the run modelled, e.g. latency@stm32f746-disco")
        objectives = check_unique(objectives, "--objectives")
    with load_run(args.dir) as run:
        from ..study.pareto import device_fronts

        fronts = device_fronts(run.judged(), objectives or run.cost_objectives())
        if args.out is None:  # the run's own report files: regenerated, each file atomically
            out = _report_into_run(run, objectives)
        else:
            folder = Path(args.out)
            with staged_folder(folder, args.force, "fitnas report --out") as scratch:
                write_report(run, scratch, objectives=objectives)
            out = folder / "report.html"
    print(f"report written to {out}")
    if fronts:
        print(panacea_line(fronts))
    return 0


def panacea_line(fronts: dict[str, list[Any]]) -> str:
    """One line on the per-device fronts and the trials on all of them (DPP-Net's Panacea)."""
    from ..study.pareto import panacea

    sizes = ", ".join(f"{device} {len(front)}" for device, front in fronts.items())
    both = panacea(fronts)
    if len(fronts) < 2:
        return f"front on {sizes} trial(s)"
    if not both:
        return f"per-device fronts ({sizes} trials): no trial is on every device's front"
    return (f"per-device fronts ({sizes} trials); on every device's front (Panacea): "
            + ", ".join(f"trial {t.number}" for t in both))


#: The files ``fitnas report`` writes into a run folder.
REPORT_FILES = ("report.html", "pareto.png", "progress.png", "lifetime.png", "device_fronts.png")


def _report_into_run(run: Any, objectives: list[str] | None) -> Path:
    """Write the report of ``run`` into its own folder: everything is made in a scratch
    folder first, then each file replaces the old one (a failure leaves the old report)."""
    import tempfile

    from ..report.study_report import write_report

    folder = Path(run.directory)
    scratch = Path(tempfile.mkdtemp(prefix=".report.tmp-", dir=folder))
    try:
        write_report(run, scratch, objectives=objectives)
        for name in REPORT_FILES:
            if (scratch / name).exists():
                os.replace(scratch / name, folder / name)
            else:  # e.g. no best trial any more: no lifetime chart
                (folder / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder / "report.html"


def run_export(args: argparse.Namespace) -> int:
    from ..study import load_run
    from ..study.outputs import export_trial

    with load_run(args.dir) as run:
        number = args.trial
        if number is None:
            best = run.best_trial()
            if best is None:
                raise FitnasError(f"{args.dir!r} has no COMPLETE trial that meets the limits")
            number = best.number
        folder = Path(args.out or Path(args.dir) / "export" / f"trial-{number}")
        with staged_folder(folder, args.force, "fitnas export") as scratch:
            written = export_trial(run, number, scratch, (args.format,),
                                   include_normalization=args.include_normalization)
    key = "onnx" if args.format == "onnx" else "torchscript"
    print(f"trial {number} exported to {folder / written[key].name} (with "
          f"{', '.join(sorted(p.name for k, p in written.items() if k != key))})")
    return 0
