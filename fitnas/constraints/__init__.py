"""Hard limits (paper 002 eq. 1) as violation values, their parsing, and latency on this host.

``fitnas.constraints.latency`` measures latency (onnxruntime, imported on first measurement);
``fitnas.constraints.arguments`` adds the limit flags to a command-line parser.
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
