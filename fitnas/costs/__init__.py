"""Cost models that read only :class:`~fitnas.arch.ArchGraph` (analytic), and measurements
of the built module (``fitnas.costs.measure``, which imports torch)."""

from __future__ import annotations

from .chan import chan_memory_bytes, largest_layer_io
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

__all__ = [
    "DTYPE_BYTES",
    "Buffer",
    "BufferPlan",
    "Estimate",
    "LifetimeTable",
    "bytes_per_element",
    "chan_memory_bytes",
    "count_macs",
    "count_params",
    "estimate",
    "largest_layer_io",
    "lifetime_table",
    "macs_per_node",
    "param_bytes",
    "peak_activation_bytes",
    "plan_buffers",
]
