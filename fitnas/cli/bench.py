"""``fitnas bench``: benchmark search strategies on tabular benchmarks, without training.

``fitnas bench nb201 --table nb201_12epoch.csv`` runs every registered strategy and the Optuna
baselines on NAS-Bench-201 for several seeds and prints the median regret at checkpoints and the
median hypervolume of each strategy's front at the last one (see :mod:`fitnas.bench.nb201` for
the rules).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import FitnasError
from .limits import add_limit_arguments, limits_from_args

__all__ = ["register", "run_bench_grid", "run_bench_nb201"]

_EXAMPLE_TABLE = "../shared/benchmarks/nb201_12epoch.csv"
#: The limit flags of the analytic costs (a grid sets these itself).
MEDIAN_LIMIT_FLAGS = ("max_peak_mem", "max_param_mem", "max_total_mem", "max_params", "max_macs")


def register(subparsers: Any) -> None:
    b = subparsers.add_parser(
        "bench", help="benchmark search strategies on a tabular benchmark (no training)",
        description="Run search strategies on a benchmark table, many seeds in seconds.")
    sub = b.add_subparsers(dest="benchmark", metavar="BENCHMARK", parser_class=type(b))
    b.set_defaults(handler=lambda _: _missing(b))

    p = sub.add_parser(
        "nb201", help="strategies on NAS-Bench-201: median regret over seeds",
        description="Run search strategies on a NAS-Bench-201 table (accuracy by look-up) under "
        "hard limits and report the median regret (the table's best value among the "
        "architectures that meet the limits minus the best found) after N evaluations. A "
        "proposal over the limits is not evaluated and does not count.",
        epilog="A limit on an analytic cost (--max-peak-mem, --max-param-mem, --max-total-mem, "
        "--max-params, --max-macs) may be 'median' or a percentile 'pNN' (e.g. p25) of that "
        f"cost over the table's architectures. Example: fitnas bench nb201 --table {_EXAMPLE_TABLE} "
        "--max-peak-mem median --strategy random --strategy optuna-tpe")
    p.add_argument("--table", metavar="CSV",
                   help=f"the NAS-Bench-201 table (a CSV with a cellstr column), e.g. {_EXAMPLE_TABLE}")
    p.add_argument("--metric", default="cifar10_test", help="the table column to maximize")
    p.add_argument("--strategy", action="append", metavar="NAME[:KEY=VALUE,...]",
                   help="a strategy to run (repeatable); default: every registered strategy and "
                        "the Optuna baselines optuna-tpe and optuna-nsga2")
    p.add_argument("--evals", type=int, default=100, help="evaluations per run (default 100)")
    p.add_argument("--seeds", type=int, default=None,
                   help="runs per strategy (default 5; 20 with --grid)")
    p.add_argument("--seed-base", type=int, default=0, help="the first seed (default 0)")
    p.add_argument("--checkpoints", metavar="N,N,...",
                   help="evaluation counts to report (default 10, 25, 50, 100, ... up to --evals)")
    p.add_argument("--max-proposals", type=int, metavar="N",
                   help="proposals per run at most, infeasible ones included (default 50 x --evals)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="processes that compute the table's costs (default: every core); with "
                        "--grid also the processes that run the grid's cells (default 1)")
    g = p.add_argument_group(
        "grid", "--grid runs every strategy on every test-accuracy column of the table x five "
        "sets of limits (peak-p50, params-p50, macs-p50, peak-p25, params-p25+macs-p50: each "
        "limit a percentile of its cost over the table) x 20 seeds, reports each cell's median "
        "regret at N = 25, 50, 100, 200 and, per strategy, the cells where it is worse than "
        "random and its median regret over the grid")
    g.add_argument("--grid", action="store_true", help="run the benchmark grid")
    g.add_argument("--grid-metrics", metavar="COL,COL",
                   help="the grid's columns (default: every *_test column of the table)")
    g.add_argument("--grid-limits", metavar="NAME,NAME",
                   help="the grid's limits by name (default: all five)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write the cost cache ($FITNAS_CACHE_DIR, else "
                        "$XDG_CACHE_HOME/fitnas or ~/.cache/fitnas)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--out", metavar="FILE", help="also write the JSON results to FILE")
    p.add_argument("--archs", action="store_true",
                   help="add each run's evaluated architectures (cellstrs) to the JSON")
    add_limit_arguments(p, device_default=None, analytic_only=True)
    p.set_defaults(handler=run_bench_nb201)


def _missing(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _checkpoints(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        values = []
    if not values:
        raise FitnasError(f"bad --checkpoints {text!r}: expected evaluation counts joined by "
                          "commas, e.g. 25,50,100")
    return values


def _limits(args: argparse.Namespace) -> tuple[Any, dict[str, float]]:
    from ..bench import MEDIAN_LIMITS, parse_relative_limit

    if args.device is not None and args.device.lower() == "none":
        args.device = None
    percentiles: dict[str, float] = {}
    for name in MEDIAN_LIMITS:
        value = getattr(args, name, None)
        percentile = parse_relative_limit(value) if isinstance(value, str) else None
        if percentile is not None:
            percentiles[name] = percentile
            setattr(args, name, None)
    limits, _ = limits_from_args(args)
    return limits, percentiles


def _prepare_out(out: str | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FitnasError(f"cannot write --out {out!r}: {err.strerror or err}") from None
    if path.is_dir():
        raise FitnasError(f"--out {out!r} is a folder; give a file name, e.g. {out}/bench.json")
    return path


def run_bench_nb201(args: argparse.Namespace) -> int:
    """The ``fitnas bench nb201`` command."""
    from ..bench import NB201Bench, check_strategies, known_strategies, parse_strategy

    if not args.table:
        raise FitnasError(f"give the NAS-Bench-201 table with --table CSV, e.g. --table "
                          f"{_EXAMPLE_TABLE} (any CSV with a cellstr column and the metric)")
    if args.grid:
        return run_bench_grid(args)
    if args.grid_metrics or args.grid_limits:
        raise FitnasError("--grid-metrics and --grid-limits go with --grid")
    args.seeds = 5 if args.seeds is None else args.seeds
    if args.evals < 1:
        raise FitnasError(f"--evals must be at least 1, got {args.evals}")
    if args.seeds < 1:
        raise FitnasError(f"--seeds must be at least 1, got {args.seeds}")
    if args.jobs is not None and args.jobs < 1:
        raise FitnasError(f"--jobs must be at least 1, got {args.jobs}")
    specs = list({s.label: s for s in map(parse_strategy, args.strategy or known_strategies())
                  }.values())
    check_strategies(specs, args.metric)
    checkpoints = _checkpoints(args.checkpoints)
    limits, percentiles = _limits(args)
    out = _prepare_out(args.out)

    from rich.console import Console

    err = Console(stderr=True)
    bench = NB201Bench(args.table, args.metric, limits, (), args.evals, args.max_proposals,
                       args.jobs, not args.no_cache, notify=lambda line: err.print(line),
                       percentiles=percentiles)
    total = len(specs) * args.seeds
    if args.json:
        result = bench.run(specs, args.seeds, args.seed_base, checkpoints)
    else:
        from rich.progress import Progress

        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("runs", total=total)
            result = bench.run(specs, args.seeds, args.seed_base, checkpoints,
                               progress=lambda label, seed: progress.advance(task))
    if not _emit_json(result.to_dict(archs=args.archs), out, args.json):
        _print(result, out)
    return 0


def _emit_json(data: dict[str, Any], out: Path | None, to_stdout: bool) -> bool:
    """Write ``data`` to ``out`` (if given) and print it with ``--json``; whether it printed."""
    if out is not None:
        try:
            out.write_text(json.dumps(data, indent=2) + "\n")
        except OSError as e:
            raise FitnasError(f"cannot write --out {str(out)!r}: {e.strerror or e}") from None
    if to_stdout:
        print(json.dumps(data, indent=2))
    return to_stdout


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print(result: Any, out: Path | None) -> None:
    import statistics

    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{result.table}[/bold]: {result.table_rows:,} architectures, metric "
                  f"{result.metric}, {result.evals} evaluations x {result.seeds} seeds "
                  f"(from {result.seed_base})")
    for line in result.limits.describe():
        console.print(f"  limit: {line}")
    for name, percentile in result.percentile_limits.items():
        what = "median" if percentile == 50 else f"{percentile:g}th percentile"
        console.print(f"  {name}: the {what} over the table")
    console.print(f"{result.feasible_rows:,} architectures meet the limits; the best: "
                  f"[bold]{result.table_best_feasible:g}[/bold] {result.table_best_cellstr}")
    costs = result.costs
    if costs["computed"]:
        console.print(f"costs: {costs['computed']:,} architectures computed in "
                      f"{costs['seconds']:.1f} s" + (f", cached in {costs['cache']}"
                                                     if costs["cache"] else ""))
    regret_table = Table(title=f"median regret after N evaluations ({result.metric})")
    best_table = Table(title=f"median best {result.metric} found after N evaluations")
    for t in (regret_table, best_table):
        t.add_column("strategy", no_wrap=True)
        for c in result.checkpoints:
            t.add_column(f"N={c}", justify="right")
    n = result.final_checkpoint
    for head in (f"HV N={n}", "proposals", "repeats", "s/run"):
        regret_table.add_column(head, justify="right")
    notes = []
    for name, runs in result.runs.items():
        regret, best = result.median_regret(name), result.median_best(name)
        regret_table.add_row(name, *(_fmt(regret[c]) for c in result.checkpoints),
                             f"{result.median_hypervolume(name):.4g}",
                             f"{statistics.median(r.proposals for r in runs):g}",
                             f"{statistics.median(r.repeated for r in runs):g}",
                             f"{result.seconds_per_run(name):.2f}")
        best_table.add_row(name, *(_fmt(best[c]) for c in result.checkpoints))
        notes += [f"{name} seed {r.seed}: {r.note}" for r in runs if r.note]
    console.print(regret_table)
    console.print(best_table)
    console.print("regret: the best value above minus the best found, in the table's units; "
                  "'-': half the runs or more had found nothing yet. Per run (medians): "
                  "proposals, infeasible ones included; repeats, evaluations of an architecture "
                  "evaluated before (they count, as retraining would); seconds. Proposals over "
                  "the limits are not evaluated and do not count.")
    reference = ", ".join(f"{k} {v:g}" for k, v in result.hypervolume_reference.items())
    console.print(f"HV N={n}: median hypervolume of the front of {result.metric} (maximized) "
                  f"against {', '.join(result.hypervolume_costs)} (minimized) of the first {n} "
                  f"evaluations, in raw units, up to the reference point {reference}.")
    for note in notes:
        console.print(f"[yellow]note[/yellow]: {note}")
    if out is not None:
        console.print(f"written to {out}")


def run_bench_grid(args: argparse.Namespace) -> int:
    """``fitnas bench nb201 --grid``: the grid of :mod:`fitnas.bench.grid`."""
    from ..bench.grid import (
        DEFAULT_GRID_STRATEGIES,
        GRID_CHECKPOINTS,
        GRID_SEEDS,
        grid_columns,
        parse_grid_limits,
        run_grid,
    )
    from ..bench.nb201 import parse_strategy

    given = [f"--{n.replace('_', '-')}" for n in (*MEDIAN_LIMIT_FLAGS, "max_latency_ms")
             if getattr(args, n, None) is not None]
    if given or args.device is not None:
        raise FitnasError(f"--grid sets its own limits; drop {', '.join(given) or '--device'} "
                          "(choose among the grid's with --grid-limits)")
    seeds = GRID_SEEDS if args.seeds is None else args.seeds
    if seeds < 1:
        raise FitnasError(f"--seeds must be at least 1, got {seeds}")
    jobs = 1 if args.jobs is None else args.jobs
    if jobs < 1:
        raise FitnasError(f"--jobs must be at least 1, got {jobs}")
    checkpoints = _checkpoints(args.checkpoints) or list(GRID_CHECKPOINTS)
    if min(checkpoints) < 1:
        raise FitnasError(f"bad --checkpoints {args.checkpoints!r}: counts must be >= 1")
    specs = list({s.label: s for s in map(parse_strategy, args.strategy or
                                          DEFAULT_GRID_STRATEGIES)}.values())
    if "random" not in [s.label for s in specs]:
        raise FitnasError("--grid compares every strategy with random search: add "
                          "--strategy random")
    known = grid_columns(args.table)
    columns = known
    if args.grid_metrics:
        columns = [c.strip() for c in args.grid_metrics.split(",") if c.strip()]
        for column in columns:
            if column not in known:
                raise FitnasError(f"--grid-metrics: {column!r} is not a test-accuracy column "
                                  f"of {args.table}; accepted: {', '.join(known)}")
    limits = parse_grid_limits(args.grid_limits)
    out = _prepare_out(args.out)

    from rich.console import Console

    err = Console(stderr=True)
    total = len(columns) * len(limits) * len(specs)
    done = [0]

    def progress(line: str) -> None:
        done[0] += 1
        if not args.json:
            err.print(f"[{done[0]}/{total}] {line}")

    result = run_grid(args.table, specs, columns, limits, seeds, args.seed_base, checkpoints,
                      jobs, not args.no_cache, notify=lambda line: err.print(line),
                      progress=progress)
    if not _emit_json(result.to_dict(), out, args.json):
        _print_grid(result, out)
    return 0


def _print_grid(result: Any, out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{result.table}[/bold]: {len(result.cells)} cells x "
                  f"{len(result.strategies)} strategies x {result.seeds} seeds, "
                  f"{max(result.checkpoints)} evaluations per run, in {result.seconds:.0f} s "
                  f"with {result.jobs} process(es)")
    cells = Table(title="median regret per cell (the table's best under the limits minus the "
                        "best found)")
    for head in ("column", "limits", "strategy"):
        cells.add_column(head, no_wrap=True)
    for c in result.checkpoints:
        cells.add_column(f"N={c}", justify="right")
    for cell in result.cells:
        for k, strategy in enumerate(result.strategies):
            worse = [cell.regret(strategy, c) > cell.regret("random", c) + 1e-9
                     for c in result.checkpoints]
            cells.add_row(cell.metric if k == 0 else "", cell.limit if k == 0 else "", strategy,
                          *(_fmt(cell.median_regret[strategy][c]) + ("*" if w else " ")
                            for c, w in zip(result.checkpoints, worse, strict=True)),
                          end_section=k == len(result.strategies) - 1)
    console.print(cells)
    summary = Table(title="summary over the grid: cells worse than random / median regret")
    summary.add_column("strategy", no_wrap=True)
    for c in result.checkpoints:
        summary.add_column(f"worse N={c}", justify="right")
    for c in result.checkpoints:
        summary.add_column(f"regret N={c}", justify="right")
    for strategy in result.strategies:
        summary.add_row(strategy,
                        *(str(result.worse_than_random(strategy, c)) for c in result.checkpoints),
                        *(_fmt(result.grid_median(strategy, c)) for c in result.checkpoints))
    console.print(summary)
    console.print("*: worse than random search in that cell. '-': half the runs or more had "
                  "found nothing yet.")
    for cell in result.cells:
        for note in cell.notes:
            console.print(f"[yellow]note[/yellow] ({cell.name}): {note}")
    if out is not None:
        console.print(f"written to {out}")
