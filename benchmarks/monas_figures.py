"""Paper 003 (MONAS) Fig. 1 and Fig. 2 on NAS-Bench-201: costs from our device model, accuracy
from the table, no training.

Run: ``python benchmarks/monas_figures.py [--seeds 5] [--device stm32f746-disco]``. Writes the
``monas-figures`` section of BENCHMARKS.md and ``benchmarks/monas_fig1.png`` and
``benchmarks/monas_fig2.png`` (``--no-write`` prints the section and writes no file).

The networks are the 15,625 NAS-Bench-201 cells on CIFAR-10 (the ``nb201`` space at 1x3x32x32,
10 classes); the accuracy of each is the ``cifar10_test`` column of
``../shared/benchmarks/nb201_12epoch.csv``; energy per inference and peak power come from the
device model (``fitnas.costs.device``) of the profile named by ``--device``, at its dtype.
Every run goes through the real :class:`~fitnas.study.Study` (in memory) with the table as its
evaluator and the device model in its cost model, as ``fitnas search --device`` does.

* **Fig. 1** (paper 003: the share of proposals that meet the power limit rises as the policy
  learns): ``reinforce`` (its default accuracy reward) under a hard energy limit that about 10%
  of the space meets (the 10th percentile of the energy over the table). A proposal over the
  limit is recorded INFEASIBLE by the Study before evaluation and rewarded 0. The share of
  feasible proposals in each window of 50 proposals, over 1,000 proposals, median over the
  seeds, against the share of uniform random sampling (the fraction of the space under the
  limit, which is what the untrained policy draws). Goal (issue 15): at least 90% within
  1,000 proposals.
* **Fig. 2** (paper 003: the mixed reward's alpha moves the proposals along the front):
  ``reinforce:reward=mixed`` with ``alpha=0.25`` and ``alpha=0.75``, and random search, no
  limit, ``--fig2-evals`` evaluations each. Per alpha, the median energy and the median
  accuracy of its proposals (median over the seeds of each run's median); and the
  accuracy-energy Pareto front of each run with its hypervolume
  (:func:`fitnas.study.pareto.front_hypervolume`), against one reference point for all runs
  (accuracy 0, and the largest energy over the table), as a share of the box between
  (100%, 0 uJ) and that point.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.bench.nb201 import load_table, percentile_low, space_for_metric
from fitnas.constraints import Constraints, Limits
from fitnas.costs.model import CostModel
from fitnas.devices import load_device
from fitnas.evaluators.table import TableEvaluator
from fitnas.states import TrialState
from fitnas.strategies import create_strategy
from fitnas.study import Study
from fitnas.study.pareto import front_hypervolume

HERE = Path(__file__).resolve().parent
TABLE = HERE.parents[1] / "shared" / "benchmarks" / "nb201_12epoch.csv"
METRIC = "cifar10_test"
FIG1_PROPOSALS = 1000
FIG1_WINDOW = 50
FIG1_PERCENTILE = 10
FIG1_GOAL = 0.90


class _Stop(Exception):
    pass


def device_table(space: Any, cells: Sequence[str], profile: Any) -> dict[str, dict[str, float]]:
    """Energy (uJ) and peak power (mW) of every cell by the device model."""
    model = CostModel(profile.dtype, device=profile, latency="model")
    out = {}
    for cellstr in cells:
        costs = model.costs(space.decode(space.parse(cellstr)))
        out[cellstr] = {"energy_uj": float(costs["energy_uj"]),
                        "peak_power_mw": float(costs["peak_power_mw"])}
    return out


def run_study(space: Any, strategy: str, seed: int, evaluator: TableEvaluator,
              limits: Limits, profile: Any, proposals: int | None, evals: int,
              options: dict[str, Any]) -> list[tuple[str, bool, float | None]]:
    """One run: ``(cellstr, feasible, accuracy)`` per proposal, in order; stops after
    ``proposals`` proposals (``None``: after ``evals`` evaluations)."""
    strat = create_strategy(strategy, space, seed=seed, budget=evals, **options)
    constraints = Constraints(limits, device=profile, latency="model")
    study = Study(space, strat, evaluator, constraints, None)
    log: list[tuple[str, bool, float | None]] = []

    def callback(_: Any, record: Any) -> None:
        cellstr = space.format(space.from_data(record.encoding))
        feasible = record.state != TrialState.INFEASIBLE
        log.append((cellstr, feasible, record.accuracy if feasible else None))
        if proposals is not None and len(log) >= proposals:
            raise _Stop

    try:
        study.optimize(evals, callback=callback)
    except _Stop:
        pass
    finally:
        study.storage.close()
    return log


def fig1(space: Any, evaluator: TableEvaluator, profile: Any, energy: dict[str, float],
         seeds: int) -> dict[str, Any]:
    limit = percentile_low(list(energy.values()), FIG1_PERCENTILE)
    uniform = sum(1 for e in energy.values() if e <= limit) / len(energy)
    limits = Limits(dtype=profile.dtype, max_energy_uj=limit)
    windows: list[list[float]] = []
    reached: list[int | None] = []
    for seed in range(seeds):
        log = run_study(space, "reinforce", seed, evaluator, limits, profile, FIG1_PROPOSALS,
                        10 * FIG1_PROPOSALS, {})
        shares = [sum(f for _, f, _ in log[i:i + FIG1_WINDOW]) / FIG1_WINDOW
                  for i in range(0, FIG1_PROPOSALS, FIG1_WINDOW)]
        windows.append(shares)
        hit = next((i for i, s in enumerate(shares) if s >= FIG1_GOAL), None)
        reached.append(None if hit is None else (hit + 1) * FIG1_WINDOW)
    median = [statistics.median(w[i] for w in windows) for i in range(len(windows[0]))]
    return {"limit_uj": limit, "uniform_share": uniform, "windows": windows,
            "median": median, "reached": reached}


def fig2(space: Any, evaluator: TableEvaluator, profile: Any, energy: dict[str, float],
         seeds: int, evals: int) -> dict[str, Any]:
    reference = [0.0, max(energy.values())]
    runs: dict[str, list[dict[str, Any]]] = {}
    for label, strategy, options in (("alpha=0.25", "reinforce", {"alpha": 0.25}),
                                     ("alpha=0.75", "reinforce", {"alpha": 0.75}),
                                     ("random", "random", {})):
        runs[label] = []
        for seed in range(seeds):
            log = run_study(space, strategy, seed, evaluator, Limits(dtype=profile.dtype),
                            profile, None, evals, options)
            # the Study's accuracy is a fraction; the figure and the table show percent
            points = [(100 * acc, energy[c]) for c, f, acc in log if f and acc is not None]
            box = 100 * reference[1]
            runs[label].append({
                "median_energy_uj": statistics.median(e for _, e in points),
                "median_accuracy": statistics.median(a for a, _ in points),
                "hypervolume": front_hypervolume(points, reference) / box,
                "points": points})
    return {"reference": reference, "runs": runs}


def _front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The accuracy-energy front (accuracy up, energy down), by energy."""
    front, best = [], -1.0
    for acc, e in sorted(points, key=lambda p: (p[1], -p[0])):
        if acc > best:
            front.append((acc, e))
            best = acc
    return front


def plot(f1: dict[str, Any], f2: dict[str, Any], device: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    x = [(i + 1) * FIG1_WINDOW for i in range(len(f1["median"]))]
    for shares in f1["windows"]:
        ax.plot(x, [100 * s for s in shares], color="steelblue", alpha=0.25, lw=1)
    ax.plot(x, [100 * s for s in f1["median"]], color="steelblue", lw=2.5,
            label="reinforce (median over seeds)")
    ax.axhline(100 * f1["uniform_share"], color="gray", ls="--", label="random sampling")
    ax.axhline(100 * FIG1_GOAL, color="crimson", ls=":", label="goal (90%)")
    ax.set(xlabel="proposals", ylabel=f"feasible proposals per {FIG1_WINDOW} (%)", ylim=(0, 102),
           title=f"NAS-Bench-201, energy <= {f1['limit_uj']:.0f} uJ on {device}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "monas_fig1.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    colors = {"alpha=0.25": "seagreen", "alpha=0.75": "darkorange", "random": "gray"}
    for label, runs in f2["runs"].items():
        run = runs[0]
        acc = [a for a, _ in run["points"]]
        en = [e for _, e in run["points"]]
        ax.scatter(en, acc, s=6, alpha=0.25, color=colors[label])
        front = _front(run["points"])
        ax.step([e for _, e in front], [a for a, _ in front], where="post", lw=2,
                color=colors[label], label=f"{label}: front, HV {100 * run['hypervolume']:.1f}%")
    ax.set_xscale("log")
    ax.set(xlabel=f"energy per inference on {device} (uJ)", ylabel=f"{METRIC} (%)",
           title="proposals and fronts (seed 0)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "monas_fig2.png", dpi=110)
    plt.close(fig)


def section(f1: dict[str, Any], f2: dict[str, Any], device: str, seeds: int, evals: int,
            seconds: float) -> str:
    lines = ["## monas-figures: paper 003 Fig. 1 and Fig. 2 on NAS-Bench-201", "",
             f"Command: `python benchmarks/monas_figures.py --seeds {seeds} --device {device}` "
             f"({seconds:.0f} s). {machine_line()}", "",
             f"CIFAR-10 NAS-Bench-201 cells, accuracy `{METRIC}` of the 12-epoch table, energy and "
             f"peak power from the `{device}` device model; each run is a real in-memory Study "
             "with the table as evaluator.", "",
             f"**Fig. 1** (`monas_fig1.png`): `reinforce` under `--max-energy-uj "
             f"{f1['limit_uj']:.1f}` (the 10th percentile of the table: "
             f"{100 * f1['uniform_share']:.1f}% of the space meets it). Feasible proposals per "
             f"{FIG1_WINDOW}, median over {seeds} seeds:", "",
             "| proposals | " + " | ".join(str((i + 1) * FIG1_WINDOW)
                                         for i in range(len(f1["median"]))) + " |",
             "|---|" + "---:|" * len(f1["median"]),
             "| feasible (%) | " + " | ".join(f"{100 * s:.0f}" for s in f1["median"]) + " |", ""]
    reached = [r for r in f1["reached"] if r is not None]
    ok = len(reached) == len(f1["reached"])
    lines.append(f"Random sampling's share: {100 * f1['uniform_share']:.1f}%. A window of 50 "
                 f"at 90% or more reached by {len(reached)} of {seeds} seeds (at proposals "
                 f"{', '.join(str(r) for r in f1['reached'])}). Goal: 90% within "
                 f"{FIG1_PROPOSALS} proposals, {'met' if ok else 'not met'}.")
    lines += ["", f"**Fig. 2** (`monas_fig2.png`): `reinforce:reward=mixed` with alpha 0.25 and "
              f"0.75 and `random`, {evals} evaluations, no limit, {seeds} seeds (medians over "
              "the seeds). Hypervolume of each run's accuracy-energy front against one "
              f"reference point (accuracy 0, energy {f2['reference'][1]:.1f} uJ, the largest of "
              "the table), as a share of the box from (100%, 0 uJ) to the reference.", "",
              "| strategy | median energy (uJ) | median accuracy (%) | hypervolume |",
              "|---|---:|---:|---:|"]
    med: dict[str, dict[str, float]] = {}
    for label, runs in f2["runs"].items():
        med[label] = {k: statistics.median(r[k] for r in runs)
                      for k in ("median_energy_uj", "median_accuracy", "hypervolume")}
        m = med[label]
        lines.append(f"| {label} | {m['median_energy_uj']:.1f} | {m['median_accuracy']:.2f} | "
                     f"{100 * m['hypervolume']:.2f}% |")
    low, high = med["alpha=0.25"], med["alpha=0.75"]
    e_ok = low["median_energy_uj"] < high["median_energy_uj"]
    a_ok = high["median_accuracy"] > low["median_accuracy"]
    lines += ["", f"alpha=0.25 proposes lower energy than alpha=0.75: "
              f"{'yes' if e_ok else 'no'}; alpha=0.75 higher accuracy than alpha=0.25: "
              f"{'yes' if a_ok else 'no'}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=str(TABLE))
    parser.add_argument("--device", default="stm32f746-disco")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fig2-evals", type=int, default=300)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    profile = load_device(args.device).compute
    if profile is None or not profile.has_energy:
        parser.error(f"device {args.device!r} has no power model")
    space = space_for_metric(METRIC)
    table = load_table(args.table, METRIC, space)
    evaluator = TableEvaluator(args.table, METRIC, key_fn=space.format, table=table)
    cells = [c for c, v in table.columns[METRIC].items() if v == v]
    costs = device_table(space, cells, profile)
    energy = {c: v["energy_uj"] for c, v in costs.items()}
    f1 = fig1(space, evaluator, profile, energy, args.seeds)
    f2 = fig2(space, evaluator, profile, energy, args.seeds, args.fig2_evals)
    body = section(f1, f2, args.device, args.seeds, args.fig2_evals,
                   time.perf_counter() - start)
    if args.no_write:
        print(body)
        return
    plot(f1, f2, args.device)
    write_section("monas-figures", body)
    print(body)


if __name__ == "__main__":
    main()
