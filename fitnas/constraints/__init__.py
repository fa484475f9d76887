"""Hard limits (paper 002 eq. 1) as violation values, and their parsing.

The costs the limits are compared with come from ``fitnas.costs.model.CostModel``; latency on
this host is measured by ``fitnas.costs.latency``. The command-line flags that set limits are
in ``fitnas.cli.limits``.
"""

from __future__ import annotations

from ._base import LIMIT_COSTS, LIMIT_NAMES, SCHEDULES, Limits, format_limit
from .constraints import COST_KEYS, CheckResult, Constraints
from .limits import (
    Budget,
    LimitError,
    parse_budget,
    parse_count,
    parse_milliseconds,
    parse_size,
)

__all__ = [
    "COST_KEYS",
    "LIMIT_COSTS",
    "LIMIT_NAMES",
    "SCHEDULES",
    "Budget",
    "CheckResult",
    "Constraints",
    "LimitError",
    "Limits",
    "format_limit",
    "parse_budget",
    "parse_count",
    "parse_milliseconds",
    "parse_size",
]
