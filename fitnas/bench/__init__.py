"""Benchmarks of search strategies on tabular benchmarks (no training): ``fitnas bench``.

:mod:`fitnas.bench.nb201` runs strategies on one NAS-Bench-201 setting; :mod:`fitnas.bench.grid`
on the grid of accuracy columns x limits (``fitnas bench nb201 --grid``)."""

from __future__ import annotations

from ._record import RunResult
from .costs import CostTable, cache_dir, cost_model_version, table_costs
from .nb201 import (
    MEDIAN_LIMITS,
    BenchResult,
    NB201Bench,
    StrategySpec,
    check_strategies,
    default_checkpoints,
    known_strategies,
    load_table,
    parse_relative_limit,
    parse_strategy,
    percentile_low,
    run_nb201,
    space_for_metric,
)
from .optuna_baselines import OPTUNA_STRATEGIES

__all__ = [
    "MEDIAN_LIMITS",
    "OPTUNA_STRATEGIES",
    "BenchResult",
    "CostTable",
    "NB201Bench",
    "RunResult",
    "StrategySpec",
    "cache_dir",
    "check_strategies",
    "cost_model_version",
    "default_checkpoints",
    "known_strategies",
    "load_table",
    "parse_relative_limit",
    "parse_strategy",
    "percentile_low",
    "run_nb201",
    "space_for_metric",
    "table_costs",
]
