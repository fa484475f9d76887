"""``fitnas report DIR`` and ``fitnas export DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import FitnasError

__all__ = ["open_study", "register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="write report.html and charts for a run folder")
    p.add_argument("dir", metavar="DIR")
    p.set_defaults(handler=run_report)
    e = subparsers.add_parser("export", help="export a trained trial as ONNX or TorchScript")
    e.add_argument("dir", metavar="DIR")
    e.add_argument("--trial", type=int, help="trial number (default: the best)")
    e.add_argument("--format", default="onnx", choices=("onnx", "torchscript"))
    e.add_argument("--out", help="folder to write to (default DIR/export/trial-N)")
    e.set_defaults(handler=run_export)


def open_study(folder: str) -> Any:
    """The finished Study in a run folder made by ``fitnas search``, without running it."""
    from ..study.setup import build_study, load_settings

    return build_study(load_settings(folder), Path(folder), attach=True)


def run_report(args: argparse.Namespace) -> int:
    from ..report.study_report import write_report

    out = write_report(open_study(args.dir))
    print(f"report written to {out}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..study.outputs import export_trial

    study = open_study(args.dir)
    number = args.trial
    if number is None:
        best = study.best_trial()
        if best is None:
            raise FitnasError(f"{args.dir!r} has no COMPLETE trial that meets the limits")
        number = best.number
    folder = Path(args.out or Path(args.dir) / "export" / f"trial-{number}")
    written = export_trial(study, number, folder, (args.format,))
    key = "onnx" if args.format == "onnx" else "torchscript"
    print(f"trial {number} exported to {written[key]} (with arch.json, weights.pt, memory_plan.json)")
    return 0
