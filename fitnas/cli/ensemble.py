"""``fitnas ensemble DIR``: fuse the best trials of a run by majority vote (paper 002 section 4.1).

Builds :func:`fitnas.study.ensemble.build_ensemble` from the run folder, prints each member's
accuracy and costs and the vote's, and writes ``model.onnx``, ``members.json`` and
``ensemble.json`` to ``DIR/ensemble/`` (or ``--out``). Nothing is written before the ensemble
is built and its ONNX model checked, so an error leaves an earlier export as it was.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import FitnasError
from ..files import staged_folder

__all__ = ["parse_trials", "register", "run"]

DEFAULT_TOP = 4


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ensemble", help="fuse the best trials of a run by majority vote",
        description="Fuse the top N trials of a run (COMPLETE, within the limits, with trained "
        "weights) by majority vote, as paper 002 section 4.1's Async Ensemble: report the "
        "vote's validation and test accuracy, the summed parameters, parameter bytes and MACs, "
        "and the peak activation memory of running the members one after another; export it "
        "as one ONNX model.")
    p.add_argument("dir", metavar="DIR", help="a run folder made by `fitnas search`")
    p.add_argument("--top", type=int, metavar="N",
                   help=f"how many of the best trials to fuse (default {DEFAULT_TOP})")
    p.add_argument("--trials", metavar="N,N,...", help="fuse these trials instead, e.g. 3,5,9")
    p.add_argument("--out", metavar="FOLDER", help="where to write (default DIR/ensemble)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def parse_trials(text: str) -> list[int]:
    """``"3,5,9"`` -> ``[3, 5, 9]``."""
    try:
        numbers = [int(p) for p in (s.strip() for s in text.split(",")) if p]
    except ValueError:
        numbers = []
    if not numbers or any(n < 0 for n in numbers):
        raise FitnasError(f"bad --trials {text!r}: expected trial numbers separated by commas, "
                          "e.g. 3,5,9")
    return numbers


def run(args: argparse.Namespace) -> int:
    from ..study.ensemble import build_ensemble, export_ensemble

    if args.top is not None and args.trials is not None:
        raise FitnasError("give --top or --trials, not both")
    if args.top is not None and args.top < 2:
        raise FitnasError(f"--top must be at least 2 (an ensemble of one model is that model), "
                          f"got {args.top}")
    trials = parse_trials(args.trials) if args.trials is not None else None
    if not (Path(args.dir) / "study.db").exists():
        raise FitnasError(f"{args.dir!r} holds no fitnas run (no study.db)")
    folder = Path(args.out) if args.out else Path(args.dir) / "ensemble"
    # refused before any work when the folder exists; written all or nothing
    with staged_folder(folder, args.force, "fitnas ensemble") as scratch:
        ensemble = build_ensemble(args.dir, top=args.top or DEFAULT_TOP, trials=trials)
        written = {k: folder / p.name for k, p in export_ensemble(ensemble, scratch).items()}
    if args.json:
        data = ensemble.to_dict()
        data["files"] = {k: str(v) for k, v in written.items()}
        print(json.dumps(data, indent=2))
    else:
        _print(ensemble, folder)
    return 0


def _print(ensemble: Any, folder: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..report.formats import format_accuracy as pct
    from ..units import format_bytes, format_count

    costs = ensemble.costs
    t = Table(title=f"majority vote of {len(ensemble.members)} trials of {ensemble.run} "
                    "(paper 002 section 4.1)",
              caption=f"{ensemble.dataset}; memory at {costs['dtype']}; the vote's peak runs the "
                      "members one after another")
    for name in ("trial", "val acc", "test acc", "params", "param bytes", "MACs", "peak act."):
        t.add_column(name, justify="left" if name == "trial" else "right")
    for m in ensemble.members:
        t.add_row(str(m.trial), pct(m.val_accuracy), pct(m.test_accuracy),
                  format_count(m.params), format_bytes(m.param_bytes), format_count(m.macs),
                  format_bytes(m.peak_activation_bytes))
    t.add_section()
    t.add_row("[bold]vote[/bold]", f"[bold]{pct(ensemble.val_accuracy)}[/bold]",
              f"[bold]{pct(ensemble.test_accuracy)}[/bold]", format_count(costs["params"]),
              format_bytes(costs["param_bytes"]), format_count(costs["macs"]),
              format_bytes(costs["peak_activation_bytes"]))
    console = Console()
    console.print(t)
    best = ensemble.best_member
    gain = 100 * (ensemble.test_accuracy - best.test_accuracy)
    console.print(f"best single member: trial {best.trial}, test accuracy {pct(best.test_accuracy)}; "
                  f"the vote: {pct(ensemble.test_accuracy)} ({gain:+.2f} points); total memory "
                  f"{format_bytes(costs['total_memory_bytes'])}")
    over = {name: v for name, v in ensemble.violations.items() if v > 0}
    if over:
        console.print("[yellow]the ensemble is over the run's limits: " + ", ".join(
            f"{name} by {100 * v:.0f}%" for name, v in over.items()) + "[/yellow]")
    elif ensemble.violations:
        console.print("the ensemble meets the run's limits")
    console.print(f"written to {folder}/: model.onnx, members.json, ensemble.json")
