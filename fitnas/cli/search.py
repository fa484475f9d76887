"""``fitnas search`` and ``fitnas resume``: run a constrained architecture search."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FitnasError
from ..study.setup import DEFAULT_DEVICE, SearchSettings
from .limits import add_limit_arguments, device_model_from_args, limits_from_args

if TYPE_CHECKING:
    from ..study import Study

__all__ = ["register", "run_resume", "run_search"]

RUN_FILES = ("study.db", "study.db-wal", "study.db-shm", "pareto.csv", "summary.json",
             "report.html", "pareto.png", "progress.png", "lifetime.png")
RUN_FOLDERS = ("trials", "best", "export", "ensemble")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "search", help="search for the most accurate network that fits the limits",
        description="Search architectures under hard limits. With no arguments: digits, the "
        "chain space, random search, the default microcontroller profile, 3 minutes.")
    p.add_argument("--data", default="digits", help="dataset (see `fitnas datasets`)")
    p.add_argument("--subset", type=float, help="use this fraction (<1) or number of training images")
    p.add_argument("--space", default="chain", help="NAME or NAME:KEY=VALUE,... (see `fitnas spaces`)")
    p.add_argument("--strategy", default="random",
                   help="NAME or NAME:KEY=VALUE,...: random (default), coordinate, evolution or "
                        "growtrim (see README, 'Search strategies')")
    p.add_argument("--budget", default="3m", help="trials (50), time (10m, 2h) or both (50,10m)")
    p.add_argument("--epochs", type=float, default=8.0, help="training epochs per candidate")
    p.add_argument("--early-epochs", type=float,
                   help="epochs of an early-assessed candidate (coordinate's random and first "
                        "adaptive samples; default a quarter of --epochs)")
    p.add_argument("--finetune-epochs", type=float,
                   help="epochs of a trimmed candidate fine-tuned from its parent (growtrim; "
                        "default a third of --epochs)")
    p.add_argument("--table", help="score candidates by look-up in this CSV instead of training")
    p.add_argument("--metric", default="cifar10_val", help="the --table column to maximize")
    p.add_argument("--workers", type=int, default=1, help="evaluations run at once")
    p.add_argument("--backend", default="local", choices=("local", "ray"))
    p.add_argument("--address", help="Ray cluster address to join (default: start a local Ray)")
    p.add_argument("--objectives", metavar="LIST",
                   help="costs of the Pareto front besides accuracy, comma-separated: params, "
                        "param_bytes, macs, peak_activation_bytes, total_memory_bytes, "
                        "latency_ms, energy_uj, avg_power_mw, peak_power_mw (default: the "
                        "limited costs, else params and peak_activation_bytes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder (default runs/search-DATE-TIME)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--force", action="store_true", help="replace the run in --out")
    p.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    add_limit_arguments(p, device_default=DEFAULT_DEVICE)
    p.set_defaults(handler=run_search)

    r = subparsers.add_parser("resume", help="continue a search that stopped or was killed",
                              description="Continue the run in DIR with its own settings.")
    r.add_argument("dir", metavar="DIR")
    r.add_argument("--budget", help="a new total budget (default: the run's own)")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--backend", default="local", choices=("local", "ray"))
    r.add_argument("--address")
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=run_resume)


def settings_from_args(args: argparse.Namespace) -> Any:
    """Every flag of ``fitnas search``, parsed and checked (before any file is touched)."""
    from ..constraints import parse_budget
    from ..study.setup import SearchSettings, parse_options

    space, _, space_opts = args.space.partition(":")
    strategy, _, strategy_opts = args.strategy.partition(":")
    if args.device is not None and args.device.lower() == "none":
        args.device = None
    limits, device = limits_from_args(args)
    device_model, latency = device_model_from_args(args, limits, device)
    objectives = _objectives(getattr(args, "objectives", None))
    for flag, value in (("--epochs", args.epochs), ("--early-epochs", args.early_epochs),
                        ("--finetune-epochs", args.finetune_epochs)):
        if value is not None and value <= 0:
            raise FitnasError(f"{flag} must be positive, got {value:g}")
    if args.subset is not None and args.subset <= 0:
        raise FitnasError(f"--subset must be positive, got {args.subset}")
    subset: float | int | None = args.subset
    if subset is not None and subset >= 1:
        subset = int(subset)
    return SearchSettings(
        data=args.data, space=space, space_options=parse_options(space_opts, "--space"),
        strategy=strategy, strategy_options=parse_options(strategy_opts, "--strategy"),
        device=device.name if device is not None else None, limits=limits.to_dict(),
        device_model=device_model, latency=latency, objectives=objectives,
        epochs=args.epochs, early_epochs=args.early_epochs,
        finetune_epochs=args.finetune_epochs, subset=subset, table=args.table, metric=args.metric,
        seed=args.seed, budget=parse_budget(args.budget).to_dict())


def _objectives(text: str | None) -> list[str] | None:
    """``--objectives`` as a list (the names are checked with the constraints they need)."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise FitnasError(f"--objectives {text!r}: expected comma-separated cost names")
    return names


def _prepare_folder(out: Path, resume: bool, force: bool) -> None:
    if resume and force:
        raise FitnasError("give --resume or --force, not both")
    exists = (out / "study.db").exists()
    if resume and not exists:
        raise FitnasError(f"--resume: {str(out)!r} holds no run to continue")
    if exists and not resume and not force:
        raise FitnasError(f"{str(out)!r} already holds a run; continue it with --resume (or "
                          "`fitnas resume`), replace it with --force, or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".fitnas-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise FitnasError(f"cannot write to the output folder {str(out)!r}: "
                          f"{err.strerror or err}") from None
    if force and exists:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            shutil.rmtree(out / name, ignore_errors=True)


def run_search(args: argparse.Namespace) -> int:
    from ..study.setup import build_study, load_settings

    settings = settings_from_args(args)
    out = Path(args.out or time.strftime("runs/search-%Y%m%d-%H%M%S"))
    if args.resume:
        _prepare_folder(out, True, False)
        settings = load_settings(out)
    else:
        _validate(settings)
        _prepare_folder(out, False, args.force)
    study = build_study(settings, out, resume=args.resume)
    return _run(study, settings, out, args)


def run_resume(args: argparse.Namespace) -> int:
    from ..constraints import parse_budget
    from ..study.setup import build_study, load_settings

    out = Path(args.dir)
    settings = load_settings(out)
    if args.budget:
        settings = dataclasses.replace(settings, budget=parse_budget(args.budget).to_dict())
    study = build_study(settings, out, resume=True)
    return _run(study, settings, out, args)


def _validate(settings: SearchSettings) -> None:
    """Fail on unknown names before the run folder is touched."""
    from ..spaces import space_class
    from ..strategies import list_strategies

    space_class(settings.space)
    if settings.strategy not in list_strategies():
        raise FitnasError(f"unknown strategy {settings.strategy!r}; known: "
                          f"{', '.join(list_strategies())}")
    if not settings.table:
        from ..data import dataset_info

        dataset_info(settings.data.partition(":")[0].strip().lower())
    from ..constraints import Constraints, Limits
    from ..strategies import strategy_class
    from ..study.run import check_costs, check_objectives

    constraints = Constraints(Limits.from_dict(settings.limits), device=settings.device_model,
                              latency=settings.latency)
    check_objectives(settings.objectives, constraints)
    needed = strategy_class(settings.strategy).required_costs(settings.strategy_options)
    check_costs(needed, constraints, f"--strategy {settings.strategy} (its reward)")


def _run(study: Study, settings: SearchSettings, out: Path, args: argparse.Namespace) -> int:
    from ..constraints import Budget
    from ..study.outputs import write_outputs
    from .progress import SearchProgress

    budget = Budget.from_dict(settings.budget)
    with SearchProgress(budget, quiet=args.json) as progress:
        study.optimize(budget, workers=args.workers, backend=args.backend, address=args.address,
                       callback=progress.update)
    written = write_outputs(study.record)
    from ..study.outputs import summary

    data = summary(study.record)
    data["run"] = str(out)
    data["files"] = {k: str(v) for k, v in written.items()}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_result(data, study, out)
    return 0


def _print_result(data: dict[str, Any], study: Study, out: Path) -> None:
    from rich.console import Console

    from ..units import format_bytes, format_count

    console = Console()
    counts = ", ".join(f"{n} {s.lower()}" for s, n in data["counts"].items() if n)
    console.print(f"trials: {counts or 'none'}")
    best = data["best"]
    if best is None:
        console.print("[yellow]no trial both met the limits and trained successfully[/yellow]")
    else:
        console.print(
            f"[bold]best: trial {best['trial']}[/bold], accuracy {best['accuracy']:.4f}, "
            f"{format_count(best['params'])} parameters ({format_bytes(best['param_bytes'])}), "
            f"peak activations {format_bytes(best['peak_activation_bytes'])}, "
            f"{format_count(best['macs'])} MACs")
        device = study.constraints.cost_model.device
        on = []
        if best.get("latency_ms") is not None:
            source = f"on {device.name}" if study.constraints.cost_model.models_latency and \
                device is not None else "measured here"
            on.append(f"latency {best['latency_ms']:.4g} ms ({source})")
        if best.get("energy_uj") is not None:
            on.append(f"energy {best['energy_uj']:.4g} uJ, peak power "
                      f"{best['peak_power_mw']:.4g} mW")
        if on:
            console.print("  " + "; ".join(on))
    for line in study.constraints.describe():
        console.print(f"  limit: {line}")
    exported = "best" in data["files"]
    console.print(f"written to {out}/: study.db, pareto.csv, summary.json"
                  + (", best/ (arch.json, weights.pt, model.onnx, memory_plan.json)"
                     if exported else ""))
    if best is not None and not exported:
        console.print("no best/ folder: the best trial has no trained weights (a --table search "
                      "looks accuracies up instead of training)")
    console.print(f"next: fitnas report {out}")
