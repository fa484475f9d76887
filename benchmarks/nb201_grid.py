"""Search quality over a grid of accuracy data and limits: ``fitnas bench nb201 --grid``.

Run: ``python benchmarks/nb201_grid.py [--jobs 2] [--seeds 20] [--strategy NAME ...]``.
Writes the ``nb201-grid`` section of BENCHMARKS.md (``--no-write`` prints it instead).

The grid (:mod:`fitnas.bench.grid`): every test column of ``../shared/benchmarks/nb201_12epoch.csv``
(``cifar10_test``, ``cifar100_test``, ``imagenet16_120_test``) x five sets of limits (peak
activation memory <= median; parameters <= median; MACs <= median; peak <= 25th percentile;
parameters <= 25th percentile and MACs <= median; percentiles of our own costs over the
table's 15,625 networks) x 20 seeds, 200 evaluations per run. The section gives, per cell, the
median regret of every strategy at N = 25, 50, 100 and 200, and the summary: per strategy, the
number of cells where it is worse than random search and its median regret over the cells;
then the goal of issue 13, checked on these numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.bench.grid import DEFAULT_GRID_STRATEGIES, GRID_SEEDS, GridResult, run_grid

TABLE = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "nb201_12epoch.csv"
#: The fitnas strategies the goal names (``growtrim:lambda_beta=0`` is ``growtrim``'s default
#: now), and the baseline it compares them with.
GOAL_STRATEGIES = ("coordinate", "growtrim")
BASELINE = "optuna-tpe"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _goal(result: GridResult) -> list[str]:
    """Issue 13's goal, line by line, on the grid's numbers."""
    lines = []
    late = [c for c in result.checkpoints if c >= 50]
    fitnas = [s for s in result.strategies if not s.startswith("optuna-") and s != "random"]
    if BASELINE not in result.strategies:
        return [f"(the goal compares with {BASELINE}, which was not run)"]
    for name in GOAL_STRATEGIES:
        if name not in result.strategies:
            lines.append(f"- {name}: not run")
            continue
        worse = {c: result.worse_than_random(name, c) for c in late}
        ok_random = all(w == 0 for w in worse.values())
        cmp = []
        for c in (50, 100, 200):
            if c not in result.checkpoints:
                continue
            ours, tpe = result.grid_median(name, c), result.grid_median(BASELINE, c)
            met = ours is not None and tpe is not None and ours <= tpe + 1e-9
            cmp.append(f"N={c}: {_fmt(ours)} vs {_fmt(tpe)} ({'met' if met else 'not met'})")
        lines.append(f"- {name}: worse than random in "
                     + ", ".join(f"{w} cells at N={c}" for c, w in worse.items())
                     + f" ({'met' if ok_random else 'not met'}); median regret over the grid "
                       f"against {BASELINE}'s: " + "; ".join(cmp))
    if "reinforce" in result.strategies:  # issue 15's goal for MONAS' policy search
        late = [c for c in result.checkpoints if c >= 100]
        worse = {c: result.worse_than_random("reinforce", c) for c in late}
        ours, tpe = result.grid_median("reinforce", 200), result.grid_median(BASELINE, 200)
        met = ours is not None and tpe is not None and ours <= tpe + 1e-9
        lines.append("- reinforce: worse than random in "
                     + ", ".join(f"{w} cells at N={c}" for c, w in worse.items())
                     + f" ({'met' if all(w == 0 for w in worse.values()) else 'not met'}); "
                     f"median regret over the grid at N=200: {_fmt(ours)} vs {BASELINE}'s "
                     f"{_fmt(tpe)} ({'met' if met else 'not met'})")
    if 100 in result.checkpoints and fitnas:
        regrets = {s: result.grid_median(s, 100) for s in fitnas}
        finite = {s: r for s, r in regrets.items() if r is not None}
        tpe = result.grid_median(BASELINE, 100)
        if finite and tpe is not None:
            best = min(finite, key=lambda s: finite[s])
            met = finite[best] <= tpe / 2 + 1e-9
            lines.append(f"- the best fitnas strategy at N=100, {best}: {_fmt(finite[best])}, "
                         f"half of {BASELINE}'s is {tpe / 2:.2f} ({'met' if met else 'not met'})")
    return lines


def _same_cells(result: GridResult) -> list[str]:
    """A line naming the cells of one column whose limits admit the same networks (their
    results are then identical; e.g. the peak takes few values over the table, and MACs are
    affine in parameters for this macro network)."""
    pairs = []
    for i, a in enumerate(result.cells):
        for b in result.cells[i + 1:]:
            if (a.metric == b.metric and a.feasible_rows == b.feasible_rows
                    and a.median_regret == b.median_regret):
                pairs.append(f"{a.limit} and {b.limit} ({a.metric})")
    if not pairs:
        return []
    return ["Cells whose limits admit the same networks, so their results are identical: "
            + "; ".join(pairs) + ". Each still counts as a cell in the summary.", ""]


def render(result: GridResult, command: str) -> str:
    checkpoints = result.checkpoints
    out = ["## NAS-Bench-201 grid: search quality over accuracy data and limits", "",
           f"Command: `{command}`", "",
           machine_line().replace("torch threads", "torch threads here") + " Each process of "
           "the grid uses one torch thread.", "",
           f"Table `{Path(result.table).name}`; {len(result.cells)} cells (each test column x "
           f"each set of limits, every limit a percentile of our costs over the table: fp32, "
           f"the graph's own order), {len(result.strategies)} strategies, {result.seeds} seeds, "
           f"{max(checkpoints)} evaluations per run; the whole grid took "
           f"{result.seconds:.0f} s with {result.jobs} processes. Regret: the table's best "
           f"value among the networks that meet the limits minus the best found, in percentage "
           f"points; the median over the seeds. A proposal over the limits is not evaluated and "
           f"does not count (fitnas strategies through the Study, Optuna by the same rule).", "",
           *_same_cells(result), "### Summary", "",
           "| strategy | " + " | ".join(f"worse than random, N={c}" for c in checkpoints) + " | "
           + " | ".join(f"median regret, N={c}" for c in checkpoints) + " |",
           "|---|" + "---:|" * (2 * len(checkpoints))]
    for s in result.strategies:
        out.append(f"| {s} | " + " | ".join(str(result.worse_than_random(s, c))
                                            for c in checkpoints) + " | "
                   + " | ".join(_fmt(result.grid_median(s, c)) for c in checkpoints) + " |")
    out += ["", "Goal (issue 13): `coordinate` and `growtrim:lambda_beta=0` (`growtrim`'s default "
            "now) worse than random in no cell at N >= 50, their median regret over the grid at "
            "most TPE's at N = 50, 100 and 200, and the best fitnas strategy's at N = 100 at most "
            "half of TPE's. Goal (issue 15): `reinforce` worse than random in no cell at N >= 100, "
            "and its median regret over the grid at N = 200 at most TPE's.", "",
            *_goal(result), "", "### Per cell", "",
            "Median regret after N evaluations; `*`: worse than random search in that cell.", "",
            "| column | limits | feasible | strategy | " + " | ".join(f"N={c}" for c in checkpoints)
            + " | s/run |", "|---|---|---:|---|" + "---:|" * (len(checkpoints) + 1)]
    for cell in result.cells:
        for k, s in enumerate(result.strategies):
            marks = ["*" if cell.regret(s, c) > cell.regret("random", c) + 1e-9 else ""
                     for c in checkpoints]
            out.append(f"| {cell.metric if k == 0 else ''} | {cell.limit if k == 0 else ''} | "
                       f"{f'{cell.feasible_rows:,}' if k == 0 else ''} | {s} | "
                       + " | ".join(_fmt(cell.median_regret[s][c]) + m
                                    for c, m in zip(checkpoints, marks, strict=True))
                       + f" | {cell.seconds_per_run[s]:.2f} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=str(TABLE))
    parser.add_argument("--strategy", action="append", help="default: " +
                        ", ".join(DEFAULT_GRID_STRATEGIES))
    parser.add_argument("--seeds", type=int, default=GRID_SEEDS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--from-json", metavar="FILE",
                        help="render a grid saved by `fitnas bench nb201 --grid --out FILE` "
                             "instead of running one")
    args = parser.parse_args()
    if args.from_json:
        import json

        saved = GridResult.from_dict(json.loads(Path(args.from_json).read_text()))
        command = (f"fitnas bench nb201 --table {saved.table} --grid --jobs {saved.jobs}"
                   + (f" --seeds {saved.seeds}" if saved.seeds != GRID_SEEDS else "")
                   + "".join(f" --strategy {s}" for s in saved.strategies
                             if list(saved.strategies) != list(DEFAULT_GRID_STRATEGIES)))
        _emit(render(saved, command), args.no_write)
        return
    if not Path(args.table).exists():
        sys.exit(f"the table {args.table} is missing (see ../shared/benchmarks/README.md)")
    strategies = args.strategy or list(DEFAULT_GRID_STRATEGIES)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = run_grid(args.table, strategies, seeds=args.seeds, jobs=args.jobs,
                      notify=progress, progress=progress)
    command = "python benchmarks/nb201_grid.py" + (f" --jobs {args.jobs}" if args.jobs != 2
                                                    else " --jobs 2")
    if args.seeds != GRID_SEEDS:
        command += f" --seeds {args.seeds}"
    for s in args.strategy or []:
        command += f" --strategy {s}"
    _emit(render(result, command), args.no_write)


def _emit(text: str, no_write: bool) -> None:
    if not no_write:
        write_section("nb201-grid", text)
    print(text)


if __name__ == "__main__":
    main()
