"""``fitnas report DIR`` and ``fitnas export DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import FitnasError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="write report.html and charts for a run folder")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--objectives", metavar="LIST",
                   help="costs of the Pareto front besides accuracy, comma-separated (e.g. "
                        "energy_uj,latency_ms; default: the run's own)")
    p.set_defaults(handler=run_report)
    e = subparsers.add_parser("export", help="export a trained trial as ONNX or TorchScript")
    e.add_argument("dir", metavar="DIR")
    e.add_argument("--trial", type=int, help="trial number (default: the best)")
    e.add_argument("--format", default="onnx", choices=("onnx", "torchscript"))
    e.add_argument("--out", help="folder to write to (default DIR/export/trial-N)")
    e.set_defaults(handler=run_export)


def run_report(args: argparse.Namespace) -> int:
    from ..report.study_report import write_report
    from ..study import load_run

    objectives = None
    if args.objectives is not None:
        from ..study.run import OBJECTIVE_COSTS

        objectives = [n.strip() for n in args.objectives.split(",") if n.strip()]
        bad = [n for n in objectives if n not in OBJECTIVE_COSTS] or ([] if objectives else [""])
        if bad:
            raise FitnasError(f"unknown objective {bad[0]!r}; accepted: "
                              f"{', '.join(OBJECTIVE_COSTS)}")
    with load_run(args.dir) as run:
        out = write_report(run, objectives=objectives)
    print(f"report written to {out}")
    return 0


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
        written = export_trial(run, number, folder, (args.format,))
    key = "onnx" if args.format == "onnx" else "torchscript"
    print(f"trial {number} exported to {written[key]} (with arch.json, weights.pt, memory_plan.json)")
    return 0
