"""``fitnas search`` and ``fitnas resume``: run a constrained architecture search."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FitnasError
from ..interrupt import SearchInterrupted
from ..study.setup import DEFAULT_DEVICE, SearchSettings
from .limits import add_limit_arguments, device_model_from_args, limits_from_args

if TYPE_CHECKING:
    from ..study import Study

__all__ = ["register", "run_resume", "run_search"]

#: The names ``--space`` and ``--strategy`` list in the help (kept here so that ``fitnas --help``
#: imports neither torch nor the strategies; a test checks them against the registries).
SPACE_NAMES = ("chain", "cells", "nb201", "dppnet", "darts")
STRATEGY_NAMES = ("random", "coordinate", "evolution", "growtrim", "reinforce", "progressive",
                  "dcanas")

RUN_FILES = ("study.db", "study.db-wal", "study.db-shm", "pareto.csv", "summary.json",
             "report.html", "pareto.png", "progress.png", "lifetime.png", "device_fronts.png")
RUN_FOLDERS = ("trials", "best", "export", "ensemble")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "search", help="search for the most accurate network that fits the limits",
        description="Search architectures under hard limits. With no arguments: digits, the "
        "chain space, random search, the default microcontroller profile, 3 minutes.")
    p.add_argument("--data", default="digits",
                   help="dataset: digits, fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, "
                        "cifar100:DIR, imagefolder:DIR or synthetic[:CxHxW,...] (see `fitnas "
                        "datasets`)")
    p.add_argument("--subset", type=float,
                   help="use this fraction (<1) or number of training images (default: all)")
    p.add_argument("--space", default="chain",
                   help=f"NAME or NAME:KEY=VALUE,...: {', '.join(SPACE_NAMES)} (see `fitnas "
                        "spaces NAME` for its options)")
    p.add_argument("--strategy", default="random",
                   help=f"NAME or NAME:KEY=VALUE,...: {', '.join(STRATEGY_NAMES)} (see README, "
                        "'Search strategies', for each one's options)")
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
    p.add_argument("--workers", type=worker_count, default=1,
                   help=f"evaluations run at once (1 to {MAX_WORKERS})")
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="where evaluations run: local processes or a Ray cluster")
    p.add_argument("--address", help="Ray cluster address to join (default: start a local Ray)")
    p.add_argument("--objectives", metavar="LIST",
                   help="costs of the Pareto front besides accuracy, comma-separated: params, "
                        "param_bytes, macs, peak_activation_bytes, total_memory_bytes, "
                        "latency_ms, energy_uj, avg_power_mw, peak_power_mw (default: the "
                        "limited costs, else params and peak_activation_bytes)")
    p.add_argument("--objective", action="append", metavar="COST[@DEVICE]",
                   help="one cost of the Pareto front besides accuracy, repeatable (instead of "
                        "--objectives): a cost name as for --objectives, or a device cost on a "
                        "device profile, e.g. latency@stm32f746-disco or energy@rpi-zero-2w "
                        "(modelled at the profile's dtype; several devices at once, DPP-Net)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds sampling, the strategy, data splits and training")
    p.add_argument("--out", help="run folder (default runs/search-DATE-TIME)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out with its own settings (--budget, --workers "
                        "and --backend may change; other flags that differ are refused)")
    p.add_argument("--allow-changed-settings", action="store_true",
                   help="with --resume: apply changed limits, --device, --dtype, --schedule, "
                        "--latency, --objectives and epochs to the trials still to run "
                        "(finished trials keep what they got; data, space, strategy and seed "
                        "never change)")
    p.add_argument("--force", action="store_true", help="replace the run in --out")
    p.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    add_limit_arguments(p, device_default=DEFAULT_DEVICE)
    p.set_defaults(handler=run_search, _parser=p)

    r = subparsers.add_parser("resume", help="continue a search that stopped or was killed",
                              description="Continue the run in DIR with its own settings.")
    r.add_argument("dir", metavar="DIR", help="the run folder to continue (holds study.db)")
    r.add_argument("--budget", help="a new total budget (default: the run's own)")
    r.add_argument("--workers", type=worker_count, default=1,
                   help=f"evaluations run at once (1 to {MAX_WORKERS})")
    r.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="where evaluations run: local processes or a Ray cluster")
    r.add_argument("--address", help="Ray cluster address to join (default: start a local Ray)")
    r.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
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
    objectives, objective_devices = _objectives(getattr(args, "objectives", None),
                                                getattr(args, "objective", None))
    for flag, value in (("--epochs", args.epochs), ("--early-epochs", args.early_epochs),
                        ("--finetune-epochs", args.finetune_epochs)):
        if value is not None and not 0 < value <= MAX_EPOCHS:
            raise FitnasError(f"{flag} must be a number of epochs in (0, {MAX_EPOCHS:,}], got "
                              f"{value:g}")
    subset = _subset(args.subset)
    if not 0 <= args.seed <= MAX_SEED:
        raise FitnasError(f"--seed must be an integer from 0 to {MAX_SEED:,}, got {args.seed}")
    space_options = parse_options(space_opts, "--space")
    decided = sorted({"input_shape", "classes"} & set(space_options))
    if decided and not args.table:
        raise FitnasError(f"--space {space}: {decided[0]!r} is set by the dataset (--data "
                          f"{args.data}); remove it from the space options")
    return SearchSettings(
        data=args.data, space=space, space_options=space_options,
        strategy=strategy, strategy_options=parse_options(strategy_opts, "--strategy"),
        device=device.name if device is not None else None, limits=limits.to_dict(),
        device_model=device_model, latency=latency, objectives=objectives,
        objective_devices=objective_devices,
        epochs=args.epochs, early_epochs=args.early_epochs,
        finetune_epochs=args.finetune_epochs, subset=subset, table=args.table, metric=args.metric,
        seed=args.seed, budget=parse_budget(args.budget).to_dict())


#: The most evaluations ``--workers`` may run at once (each local worker is a process).
MAX_WORKERS = 256


def worker_count(text: str) -> int:
    """``--workers``: an int from 1 to :data:`MAX_WORKERS` (argparse reports a bad one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {MAX_WORKERS}, got "
                                         f"{text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {MAX_WORKERS}, got "
                                         f"{value}")
    return value


#: The largest ``--seed`` (numpy, torch and SQLite all take it).
MAX_SEED = 2**63 - 1
#: The most epochs a candidate may train for.
MAX_EPOCHS = 100_000


def _subset(value: float | None) -> float | int | None:
    """``--subset``: a fraction in (0, 1), or a whole number of training images."""
    if value is None:
        return None
    if not (0 < value < 1 or (1 <= value <= 10**9 and value == int(value))):
        raise FitnasError(f"--subset must be a fraction in (0, 1) or a whole number of training "
                          f"images from 1 to 1,000,000,000, got {value:g}")
    return value if value < 1 else int(value)


def _objectives(text: str | None, repeated: list[str] | None
                ) -> tuple[list[str] | None, list[dict[str, Any]]]:
    """``--objectives`` (comma-separated) or ``--objective`` (repeatable) as canonical names
    (``fitnas.costs.objectives``), and the compute profiles of the devices they name (stored
    with the run); the names are checked with the constraints they need."""
    from ..costs.objectives import check_unique, device_key, objective_devices, split_objective

    if text is not None and repeated:
        raise FitnasError("give the objectives as --objectives LIST or as repeated --objective "
                          "NAME, not both")
    if repeated:
        names, flag = [n.strip() for n in repeated], "--objective"
        if "" in names:
            raise FitnasError("--objective '': expected a cost name, e.g. params or "
                              "latency@stm32f746-disco")
    elif text is not None:
        names, flag = [n.strip() for n in text.split(",") if n.strip()], "--objectives"
        if not names:
            raise FitnasError(f"--objectives {text!r}: expected comma-separated cost names")
    else:
        return None, []
    names = check_unique(names, flag)
    from ..devices import load_device

    profiles: list[dict[str, Any]] = []
    named: dict[str, str] = {}  # the device as given -> its profile's name
    for given in objective_devices(names):
        board = load_device(given)  # a profile's name, or the path of a .toml file
        if board.compute is None:
            raise FitnasError(f"device profile {board.name} has no [compute] table, which the "
                              f"objective latency@{given} needs; add one or calibrate a "
                              "profile (`fitnas calibrate`)")
        board.compute.require(f"the objective latency@{given}")
        profiles.append(board.compute.to_dict())
        named[given] = board.compute.name
    # a device given by its file is named by its profile in the costs
    keys = []
    for name in names:
        cost, device = split_objective(name)
        keys.append(cost if device is None else device_key(cost, named[device]))
    return check_unique(keys, flag), profiles


def _prepare_folder(out: Path, resume: bool, force: bool) -> None:
    """Check ``--resume``/``--force`` against the folder and make it; deletes nothing (a
    forced run is set aside by :func:`_set_aside` once the folder's lock is held)."""
    if resume and force:
        raise FitnasError("give --resume or --force, not both")
    exists = (out / "study.db").exists()
    if resume and not exists:
        _no_supernet_checkpoint(out, "--resume")
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


def _no_supernet_checkpoint(out: Path, what: str) -> None:
    """A folder a dcanas search was killed in during its supernet phase holds no run yet,
    only the supernet's checkpoint: say how to continue it."""
    from ..supernet.run import checkpoint_path

    if checkpoint_path(out, 0).exists():
        raise FitnasError(f"{what}: {str(out)!r} holds an unfinished dcanas supernet search, "
                          "not a run yet: run the same `fitnas search` command again to "
                          "continue it")


def _set_aside(out: Path) -> Path:
    """Move the run in ``out`` into a hidden folder in it (``--force``; the caller holds the
    folder's lock): removed by :func:`_drop_aside` once the new run is built, put back by
    :func:`_put_back` when building it fails, so a bad setting found late loses nothing."""
    aside = out / f".replaced-{os.getpid()}"
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir()
    for name in (*RUN_FILES, *RUN_FOLDERS):
        if (out / name).exists():
            os.replace(out / name, aside / name)
    return aside


def _put_back(out: Path, aside: Path) -> None:
    for name in (*RUN_FILES, *RUN_FOLDERS):
        if (aside / name).exists():
            if (out / name).is_dir():
                shutil.rmtree(out / name, ignore_errors=True)
            else:
                (out / name).unlink(missing_ok=True)
            os.replace(aside / name, out / name)
    shutil.rmtree(aside, ignore_errors=True)


def _drop_aside(aside: Path | None) -> None:
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def run_search(args: argparse.Namespace) -> int:
    from ..study.lock import RunLock
    from ..study.setup import build_study, load_settings
    from .changes import ALLOW_FLAG, given_flags, resumed_settings

    settings = settings_from_args(args)
    out = Path(args.out or time.strftime("runs/search-%Y%m%d-%H%M%S"))
    if args.allow_changed_settings and not args.resume:
        raise FitnasError(f"{ALLOW_FLAG} applies to --resume only")
    if not args.resume:
        _validate(settings)
    _prepare_folder(out, args.resume, args.force)
    lock = RunLock(out).acquire()  # before anything in the folder is read, changed or removed
    aside: Path | None = None
    try:
        changes: list[str] = []
        if args.resume:
            settings, changes = resumed_settings(out, load_settings(out), settings,
                                                 given_flags(args), args.allow_changed_settings)
            if changes:
                _validate(settings)
        elif args.force:
            aside = _set_aside(out)
        if not args.resume and _is_differentiable(settings) \
                and not settings.strategy_options.get("derived"):
            from .lug import supernet_phase

            settings = supernet_phase(settings, out, quiet=args.json)
        study = build_study(settings, out, resume=args.resume, lock=lock)
    except BaseException:
        if aside is not None:  # e.g. a space option the dataset's shape rules out
            _put_back(out, aside)
        lock.release()
        raise
    _drop_aside(aside)
    if changes:
        _note_changes(study, changes)
    try:
        return _run(study, settings, out, args)
    finally:
        study.close()  # the folder's lock goes now, not when the study is collected


def _note_changes(study: Study, changes: list[str]) -> None:
    """One line on stderr: the changes a resumed run applies, and what they leave as it was."""
    import sys

    from ..states import TrialState

    judged = [t for t in study.trials((TrialState.COMPLETE,)) if t.feasible]
    exceeding = sum(any(v > 0 for v in study.constraints.violations(dict(t.costs)).values())
                    for t in judged)
    print(f"fitnas search: --resume with changed settings: {', '.join(changes)}; they apply to "
          "the trials still to run, finished trials keep what they got"
          + (f" ({exceeding} that met the old limits exceed the new ones and no longer count "
             "as best or on the front)" if exceeding else ""),
          file=sys.stderr)


def run_resume(args: argparse.Namespace) -> int:
    from ..constraints import parse_budget
    from ..study.lock import RunLock
    from ..study.setup import build_study, load_settings

    out = Path(args.dir)
    if not (out / "study.db").exists():
        _no_supernet_checkpoint(out, "fitnas resume")
        load_settings(out)  # the one-line error for a folder without a run
    lock = RunLock(out).acquire()
    try:
        settings = load_settings(out)
        if args.budget:
            settings = dataclasses.replace(settings, budget=parse_budget(args.budget).to_dict())
        study = build_study(settings, out, resume=True, lock=lock)
    except BaseException:
        lock.release()
        raise
    try:
        return _run(study, settings, out, args)
    finally:
        study.close()


def _is_differentiable(settings: SearchSettings) -> bool:
    """Whether the strategy trains a supernet before the Study (``dcanas``)."""
    from ..strategies import strategy_class

    return bool(getattr(strategy_class(settings.strategy), "differentiable", False))


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
                              latency=settings.latency, devices=settings.objective_devices)
    check_objectives(settings.objectives, constraints)
    needed = strategy_class(settings.strategy).required_costs(settings.strategy_options)
    check_costs(needed, constraints, f"--strategy {settings.strategy} (its reward)")


def _run(study: Study, settings: SearchSettings, out: Path, args: argparse.Namespace) -> int:
    from ..constraints import Budget
    from ..study.outputs import write_outputs
    from .progress import SearchProgress

    budget = Budget.from_dict(settings.budget)
    try:
        with SearchProgress(budget, quiet=args.json) as progress:
            study.optimize(budget, workers=args.workers, backend=args.backend,
                           address=args.address, callback=progress.update)
    except SearchInterrupted as stop:
        return _stopped(study, out, args, stop)
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


def _stopped(study: Study, out: Path, args: argparse.Namespace, stop: SearchInterrupted) -> int:
    """A search stopped by SIGINT or SIGTERM: write the outputs of what finished, say so in
    one line on stderr, and exit with 128 + the signal (130, 143)."""
    import sys

    from ..states import FINISHED
    from ..study.outputs import write_outputs

    write_outputs(study.record)
    kept = len(study.trials(FINISHED))
    again = (f", {len(stop.running)} interrupted trial{'s' if len(stop.running) != 1 else ''} "
             "will run again" if stop.running else "")
    print(f"fitnas {args.command}: stopped by {stop.signame}: {kept} finished trials kept"
          f"{again}; outputs written to {out}/; continue with: fitnas resume {out}",
          file=sys.stderr)
    return stop.exit_code


def _print_result(data: dict[str, Any], study: Study, out: Path) -> None:
    from rich.console import Console

    from ..report.formats import format_accuracy
    from ..units import format_bytes, format_count

    console = Console()
    counts = ", ".join(f"{n} {s.lower()}" for s, n in data["counts"].items() if n)
    console.print(f"trials: {counts or 'none'}")
    best = data["best"]
    if best is None:
        console.print("[yellow]no trial both met the limits and trained successfully[/yellow]")
    else:
        console.print(
            f"[bold]best: trial {best['trial']}[/bold], validation accuracy "
            f"{format_accuracy(best['accuracy'])}, test accuracy "
            f"{format_accuracy(best.get('test_accuracy'), 'not measured')}, "
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
                  + (", best/ (arch.json, weights.pt, model.onnx, memory_plan.json, "
                     "preprocess.json)"
                     if exported else ""))
    if best is not None and not exported:
        console.print("no best/ folder: the best trial has no trained weights (a --table search "
                      "looks accuracies up instead of training)")
    console.print(f"next: fitnas report {out}")
