"""The Study's own cost per trial, and the throughput of 1 and 2 local workers.

Run: ``python benchmarks/search_overhead.py``. Writes the ``search`` section of BENCHMARKS.md.

* Overhead: a random search on NAS-Bench-201 scored by table look-up (``TableEvaluator``), so
  evaluation is nearly free; everything else per trial (ask, decode, the analytic constraint
  check, the two SQLite transactions with ``synchronous=FULL``, tell) is the Study's overhead.
  The evaluator's own time is subtracted.
* Throughput: real training on digits (chain space, a few epochs per candidate), the same
  seed and number of trials with 1 worker (in-process, every core for torch) and with 2 worker
  processes (one torch thread each); trials per hour and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.constraints import Constraints, Limits
from fitnas.evaluators import TableEvaluator, TrainerEvaluator
from fitnas.spaces import create_space
from fitnas.states import TrialState
from fitnas.strategies import create_strategy
from fitnas.study import Study

TABLE = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "nb201_12epoch.csv"


def overhead(trials: int, repeats: int) -> tuple[float, float]:
    per_trial = []
    for seed in range(repeats):
        space = create_space("nb201")
        evaluator = TableEvaluator(TABLE, "cifar10_val", key_fn=space.format)
        with tempfile.TemporaryDirectory() as folder:
            study = Study(space, create_strategy("random", space, seed=seed), evaluator,
                          Constraints(Limits(max_peak_mem=2 * 1024 * 1024)), folder)
            start = time.perf_counter()
            study.optimize(trials)
            wall = time.perf_counter() - start
            evaluated = study.trials((TrialState.COMPLETE, TrialState.FAILED))
            eval_seconds = sum(float(t.result.get("seconds", 0.0)) for t in evaluated)
            per_trial.append((wall - eval_seconds) / len(study.trials()))
    return statistics.median(per_trial), min(per_trial)


def throughput(workers: int, trials: int, epochs: float, threads: int | None
               ) -> tuple[float, float]:
    """Trials per hour over the whole run, and after start-up (from the moment every worker
    has finished its first trial: the process start and torch's first-use warm-up excluded)."""
    from fitnas.data import create_dataset
    from fitnas.train import TrainConfig

    data = create_dataset("digits")
    space = create_space("chain", input_shape=data.input_shape, classes=data.classes)
    config = TrainConfig(epochs=epochs, seed=0, threads=threads)
    evaluator = TrainerEvaluator(data, config, decode=space.decode)
    with tempfile.TemporaryDirectory() as folder:
        study = Study(space, create_strategy("random", space, seed=0), evaluator, None, folder)
        start = time.time()
        study.optimize(trials, workers=workers)
        end = time.time()
        finished = sorted(t.finished or end for t in study.trials())
    warm = finished[workers - 1]
    return trials / (end - start) * 3600.0, (trials - workers) / (finished[-1] - warm) * 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-trials", type=int, default=40)
    parser.add_argument("--epochs", type=float, default=5.0)
    args = parser.parse_args()

    median, best = overhead(args.trials, args.repeats)
    cores = os.cpu_count() or 1
    one_thread = throughput(1, args.train_trials, args.epochs, 1)
    one_all = throughput(1, args.train_trials, args.epochs, cores)
    two = throughput(2, args.train_trials, args.epochs, None)  # each worker: cores // 2 threads
    lines = [
        "## search: the Study's overhead and worker throughput",
        "",
        "Command: `python benchmarks/search_overhead.py`. " + machine_line(),
        "",
        f"Overhead per trial (everything but evaluation; random search on NAS-Bench-201 with a "
        f"peak-memory limit, {args.trials} trials, {args.repeats} runs): median "
        f"**{median * 1e3:.1f} ms**, best run {best * 1e3:.1f} ms. Goal: under 20 ms.",
        "",
        f"Throughput on real training (digits, chain space, {args.epochs:g} epochs per "
        f"candidate, {args.train_trials} trials, same seed), in trials per hour:",
        "",
        "| workers | torch threads per worker | whole run | after start-up | 2 workers / this,"
        " after start-up |",
        "|---|---:|---:|---:|---:|",
        f"| 1 (in-process) | 1 | {one_thread[0]:,.0f} | {one_thread[1]:,.0f} | "
        f"**{two[1] / one_thread[1]:.2f}x** |",
        f"| 1 (in-process) | {cores} (all cores) | {one_all[0]:,.0f} | {one_all[1]:,.0f} | "
        f"**{two[1] / one_all[1]:.2f}x** |",
        f"| 2 (processes) | {max(1, cores // 2)} | {two[0]:,.0f} | {two[1]:,.0f} | 1.00x |",
        "",
        "Goal: 2 workers at least 1.7 times the trials per hour of 1. 'After start-up' counts "
        "from the moment every worker has finished its first trial: starting a worker process "
        "(`spawn`, importing torch: about 3 s) and torch's first training in a process (about "
        "2 s more) happen once per search, so a search of minutes or hours runs at that rate. "
        "The first ratio is the pool's own scaling (the same threads per trial); the second is "
        "against one worker using every core, which these small networks use only partly.",
    ]
    write_section("search", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
