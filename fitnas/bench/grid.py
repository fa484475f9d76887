"""``fitnas bench nb201 --grid``: every strategy on a grid of accuracy columns and limits.

One benchmark setting can be tuned to; a grid cannot. A *cell* of the grid is one accuracy
column of the NAS-Bench-201 table (every ``*_test`` column by default: ``cifar10_test``,
``cifar100_test``, ``imagenet16_120_test``) under one set of limits (:data:`GRID_LIMITS`: peak
activation memory, parameters or MACs at most their median over the table, peak memory at most
its 25th percentile, parameters at most their 25th percentile together with MACs at most
their median). In each cell every strategy runs with ``seeds`` seeds (20 by default) for the
largest checkpoint's evaluations, through :class:`~fitnas.bench.nb201.NB201Bench` (the rules
of :mod:`fitnas.bench.nb201`: proposals over the limits are not evaluated and do not count),
and the cell reports each strategy's median regret over the seeds at each checkpoint (25, 50,
100 and 200 evaluations by default).

The summary, per strategy and checkpoint: in how many cells its median regret is larger than
random search's (``random`` must be among the strategies), and its median regret over all
cells. A median regret that is infinite (half the runs or more found nothing yet) counts as
larger than any finite one.

``jobs`` processes run the (cell, strategy) pairs in parallel (each with one torch thread);
the costs of the table are computed (or read from the cache) once per network before.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constraints import Limits
from ..errors import FitnasError
from .costs import CostTable, table_costs
from .nb201 import (
    NB201Bench,
    StrategySpec,
    check_strategies,
    load_table,
    parse_strategy,
    space_for_metric,
)

__all__ = ["DEFAULT_GRID_STRATEGIES", "GRID_CHECKPOINTS", "GRID_LIMITS", "GRID_SEEDS",
           "CellResult", "GridLimit", "GridResult", "grid_columns", "parse_grid_limits",
           "run_grid"]


@dataclass(frozen=True)
class GridLimit:
    """One set of limits of the grid: a name and the percentile of each limited cost."""

    name: str
    percentiles: Mapping[str, float]


#: The limits of the grid (issue 13): each limit a percentile of its cost over the table.
GRID_LIMITS: tuple[GridLimit, ...] = (
    GridLimit("peak-p50", {"max_peak_mem": 50}),
    GridLimit("params-p50", {"max_params": 50}),
    GridLimit("macs-p50", {"max_macs": 50}),
    GridLimit("peak-p25", {"max_peak_mem": 25}),
    GridLimit("params-p25+macs-p50", {"max_params": 25, "max_macs": 50}),
)
GRID_CHECKPOINTS: tuple[int, ...] = (25, 50, 100, 200)
GRID_SEEDS = 20
#: The strategies of a grid run unless others are named: every fitnas strategy as a user gets
#: it (``growtrim``'s default is ``lambda_beta=0``) and the Optuna baselines.
DEFAULT_GRID_STRATEGIES: tuple[str, ...] = (
    "random", "coordinate", "growtrim", "evolution", "reinforce", "optuna-tpe", "optuna-nsga2")


def grid_columns(table: str | Path) -> list[str]:
    """The test-accuracy columns (``*_test``) of ``table``, in file order."""
    try:
        with open(table, newline="") as f:
            header = next(csv.reader(f), [])
    except OSError as err:
        raise FitnasError(f"cannot read --table {str(table)!r}: {err.strerror or err}") from None
    columns = [c for c in header if c.endswith("_test")]
    if not columns:
        raise FitnasError(f"{table} has no test-accuracy column (a name ending in _test); "
                          f"its columns: {', '.join(header) or 'none'}")
    return columns


def parse_grid_limits(text: str | None) -> tuple[GridLimit, ...]:
    """The grid limits named in ``text`` (comma-separated names of :data:`GRID_LIMITS`);
    ``None``: all of them."""
    if text is None:
        return GRID_LIMITS
    known = {g.name: g for g in GRID_LIMITS}
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in known:
            raise FitnasError(f"unknown grid limit {name!r}; accepted: {', '.join(known)}")
    if not names:
        raise FitnasError(f"bad --grid-limits {text!r}: give names joined by commas, e.g. "
                          f"{GRID_LIMITS[0].name},{GRID_LIMITS[1].name}")
    return tuple(known[n] for n in dict.fromkeys(names))


@dataclass
class CellResult:
    """One cell of the grid: a column under one set of limits, every strategy's runs."""

    metric: str
    limit: str
    limits: dict[str, Any]
    feasible_rows: int
    table_best_feasible: float
    #: strategy label -> checkpoint -> median regret over the seeds (``None``: infinite)
    median_regret: dict[str, dict[int, float | None]] = field(default_factory=dict)
    #: strategy label -> median seconds per run
    seconds_per_run: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.metric} {self.limit}"

    def regret(self, strategy: str, checkpoint: int) -> float:
        value = self.median_regret[strategy][checkpoint]
        return math.inf if value is None else value

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellResult:
        """The cell of a saved grid (:meth:`to_dict`)."""
        return cls(data["metric"], data["limit"], dict(data["limits"]), data["feasible_rows"],
                   data["table_best_feasible"],
                   {s: {int(c): v for c, v in r.items()} for s, r in data["median_regret"].items()},
                   dict(data["seconds_per_run"]), list(data.get("notes", [])))

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "limit": self.limit, "limits": self.limits,
                "feasible_rows": self.feasible_rows,
                "table_best_feasible": self.table_best_feasible,
                "median_regret": {s: {str(c): v for c, v in r.items()}
                                  for s, r in self.median_regret.items()},
                "seconds_per_run": self.seconds_per_run, "notes": self.notes}


@dataclass
class GridResult:
    """The cells of a grid run and its summary (``to_dict`` is the ``--json`` output)."""

    table: str
    strategies: list[str]
    seeds: int
    seed_base: int
    checkpoints: list[int]
    cells: list[CellResult]
    seconds: float
    jobs: int

    def worse_than_random(self, strategy: str, checkpoint: int) -> int | None:
        """Cells where ``strategy``'s median regret exceeds random's (``None``: no random)."""
        if "random" not in self.strategies:
            return None
        return sum(c.regret(strategy, checkpoint) > c.regret("random", checkpoint) + 1e-9
                   for c in self.cells)

    def grid_median(self, strategy: str, checkpoint: int) -> float | None:
        """The median over the cells of ``strategy``'s median regret (``None``: infinite)."""
        value = statistics.median(c.regret(strategy, checkpoint) for c in self.cells)
        return round(value, 6) if math.isfinite(value) else None

    def summary(self) -> dict[str, dict[str, dict[str, float | int | None]]]:
        return {s: {"worse_than_random": {str(c): self.worse_than_random(s, c)
                                          for c in self.checkpoints},
                    "median_regret": {str(c): self.grid_median(s, c) for c in self.checkpoints}}
                for s in self.strategies}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GridResult:
        """A saved grid (the ``--json`` output, :meth:`to_dict`)."""
        return cls(data["table"], list(data["strategies"]), data["seeds"], data["seed_base"],
                   [int(c) for c in data["checkpoints"]],
                   [CellResult.from_dict(c) for c in data["cells"]], float(data["seconds"]),
                   int(data["jobs"]))

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "strategies": self.strategies, "seeds": self.seeds,
                "seed_base": self.seed_base, "checkpoints": self.checkpoints,
                "seconds": round(self.seconds, 1), "jobs": self.jobs,
                "cells": [c.to_dict() for c in self.cells], "summary": self.summary()}


@dataclass(frozen=True)
class _Unit:
    """One piece of work: one strategy's seeds in one cell."""

    table: str
    metric: str
    limit: GridLimit
    spec: StrategySpec
    seeds: int
    seed_base: int
    checkpoints: tuple[int, ...]
    cost_table: CostTable


@dataclass
class _UnitResult:
    metric: str
    limit: str
    label: str
    limits: dict[str, Any]
    feasible_rows: int
    table_best_feasible: float
    median_regret: dict[int, float | None]
    seconds_per_run: float
    notes: list[str]


def _run_unit(unit: _Unit) -> _UnitResult:
    bench = NB201Bench(unit.table, unit.metric, Limits(), evals=max(unit.checkpoints),
                       percentiles=unit.limit.percentiles, cost_table=unit.cost_table)
    result = bench.run([unit.spec], unit.seeds, unit.seed_base, unit.checkpoints)
    label = unit.spec.label or unit.spec.name
    notes = [f"{label} seed {r.seed}: {r.note}" for r in result.runs[label] if r.note]
    return _UnitResult(unit.metric, unit.limit.name, label, bench.limits.to_dict(),
                       bench.feasible_rows, bench.best_feasible, result.median_regret(label),
                       round(result.seconds_per_run(label), 4), notes)


def _one_thread() -> None:
    """Worker initializer: one torch thread per process (the processes share the cores)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.set_num_threads(1)


def run_grid(table: str | Path, strategies: Sequence[str | StrategySpec] | None = None,
             columns: Sequence[str] | None = None, limits: Sequence[GridLimit] | None = None,
             seeds: int = GRID_SEEDS, seed_base: int = 0,
             checkpoints: Sequence[int] = GRID_CHECKPOINTS, jobs: int = 1,
             use_cache: bool = True, notify: Callable[[str], None] | None = None,
             progress: Callable[[str], None] | None = None) -> GridResult:
    """Run the grid (see the module docstring).

    Args:
        table: the NAS-Bench-201 CSV; columns: its columns to maximize (default: every
            ``*_test`` column); limits: the grid's limits (default :data:`GRID_LIMITS`).
        strategies: labels such as ``"coordinate"`` (default :data:`DEFAULT_GRID_STRATEGIES`).
        seeds, seed_base: runs per strategy and cell, seeds ``seed_base ..``.
        checkpoints: evaluation counts to report; each run makes the largest number.
        jobs: processes running (cell, strategy) pairs at once.
        use_cache: read and extend the cost cache (:func:`~fitnas.bench.costs.table_costs`).
        notify: called with a line before a long cost computation; progress: with a line after
            each (cell, strategy) pair.
    """
    start = time.perf_counter()
    if seeds < 1:
        raise FitnasError(f"--seeds must be at least 1, got {seeds}")
    if jobs < 1:
        raise FitnasError(f"--jobs must be at least 1, got {jobs}")
    checkpoints = sorted(set(checkpoints))
    if not checkpoints or checkpoints[0] < 1:
        raise FitnasError(f"grid checkpoints must be evaluation counts >= 1, got {checkpoints}")
    specs = [s if isinstance(s, StrategySpec) else parse_strategy(s)
             for s in (strategies or DEFAULT_GRID_STRATEGIES)]
    specs = list({s.label or s.name: s for s in specs}.values())
    columns = list(columns) if columns else grid_columns(table)
    limits = tuple(limits) if limits else GRID_LIMITS
    for metric in columns:
        check_strategies(specs, metric)
    cost_tables = _cost_tables(table, columns, jobs, use_cache, notify)
    units = [_Unit(str(table), metric, limit, spec, seeds, seed_base, tuple(checkpoints),
                   cost_tables[metric])
             for metric in columns for limit in limits for spec in specs]
    results: list[_UnitResult] = []
    if jobs == 1:
        for unit in units:
            results.append(_run_unit(unit))
            if progress is not None:
                progress(_describe(results[-1]))
    else:
        import multiprocessing

        # spawn, not fork: a forked child of a process that has used torch can hang
        pool = multiprocessing.get_context("spawn").Pool(jobs, initializer=_one_thread)
        try:
            for result in pool.imap_unordered(_run_unit, units):
                results.append(result)
                if progress is not None:
                    progress(_describe(result))
            pool.close()
        except BaseException:
            pool.terminate()  # Ctrl-C or an error: no worker is left running
            raise
        finally:
            pool.join()
    cells = _cells(results, columns, limits, [s.label or s.name for s in specs])
    return GridResult(str(table), [s.label or s.name for s in specs], seeds, seed_base,
                      checkpoints, cells, time.perf_counter() - start, jobs)


def _describe(result: _UnitResult) -> str:
    return f"{result.metric} {result.limit}: {result.label} done"


def _cost_tables(table: str | Path, columns: Sequence[str], jobs: int, use_cache: bool,
                 notify: Callable[[str], None] | None) -> dict[str, CostTable]:
    """The table's costs on each column's network, computed once per network."""
    by_space: dict[str, CostTable] = {}
    out = {}
    for metric in columns:
        space = space_for_metric(metric)
        key = repr(sorted(space.get_config().items()))
        if key not in by_space:
            cellstrs = list(load_table(table, metric, space).columns[metric])
            by_space[key] = table_costs(space.get_config(), cellstrs, jobs=jobs,
                                        use_cache=use_cache, notify=notify)
        out[metric] = by_space[key]
    return out


def _cells(results: Sequence[_UnitResult], columns: Sequence[str], limits: Sequence[GridLimit],
           labels: Sequence[str]) -> list[CellResult]:
    """The unit results gathered into cells, in grid order (column, then limit)."""
    cells: dict[tuple[str, str], CellResult] = {}
    for r in results:
        cell = cells.setdefault((r.metric, r.limit), CellResult(
            r.metric, r.limit, r.limits, r.feasible_rows, r.table_best_feasible))
        cell.median_regret[r.label] = r.median_regret
        cell.seconds_per_run[r.label] = r.seconds_per_run
        cell.notes.extend(r.notes)
    ordered = []
    for metric in columns:
        for limit in limits:
            cell = cells[(metric, limit.name)]
            cell.median_regret = {s: cell.median_regret[s] for s in labels}
            cell.seconds_per_run = {s: cell.seconds_per_run[s] for s in labels}
            ordered.append(cell)
    return ordered
