"""Cost models that read only :class:`~fitnas.arch.ArchGraph` (analytic), and measurements
of the built module (``fitnas.costs.measure``, which imports torch)."""

from __future__ import annotations

from .chan import chan_memory_bytes, largest_layer_io
from .compact import CompactGraph, compact
from .counts import count_macs, count_params, macs_per_node, param_bytes
from .dtypes import DTYPE_BYTES, bytes_per_element
from .estimate import Estimate, estimate
from .lifetime import (
    Buffer,
    BufferPlan,
    LifetimeTable,
    lifetime_table,
    peak_activation_bytes,
    plan_buffers,
)
from .memory_plan import MemoryPlan, MemoryPlanError, memory_plan
from .schedule import Schedule, ScheduleError, best_order

__all__ = [
    "DTYPE_BYTES",
    "Buffer",
    "BufferPlan",
    "CompactGraph",
    "Estimate",
    "LifetimeTable",
    "MemoryPlan",
    "MemoryPlanError",
    "Schedule",
    "ScheduleError",
    "best_order",
    "bytes_per_element",
    "chan_memory_bytes",
    "compact",
    "count_macs",
    "count_params",
    "estimate",
    "largest_layer_io",
    "lifetime_table",
    "macs_per_node",
    "memory_plan",
    "param_bytes",
    "peak_activation_bytes",
    "plan_buffers",
]
