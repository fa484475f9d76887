"""All analytic costs of one :class:`ArchGraph` in one object.

``total_memory_bytes`` is parameter bytes plus peak activation bytes, paper 000 Table 2's
"Total Mem" (Params Mem + Inters Mem). Chan's memory is paper 002 eq. 6
(``fitnas.costs.chan``); the peak is the data-lifetime peak of paper 000 section 3.4
(``fitnas.costs.lifetime``).

:func:`estimate` computes everything in one pass over the graph's compact integer form
(``fitnas.costs.compact``), made once per graph. ``fast=False`` computes the same numbers the
reference way, from the lifetime table (:func:`~fitnas.costs.lifetime.lifetime_table`), Chan's
:func:`~fitnas.costs.chan.chan_memory_bytes` and the graph's counts; so does passing ``table``.
Both give equal :class:`Estimate` objects (``tests/costs/test_compact.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..arch import ArchGraph
from .chan import chan_memory_bytes
from .compact import compact, peak
from .counts import count_macs, count_params
from .dtypes import bytes_per_element
from .lifetime import LifetimeTable, lifetime_table

__all__ = ["Estimate", "estimate"]


@dataclass(frozen=True)
class Estimate:
    """The analytic costs of a graph at one dtype and execution order (all integers)."""

    params: int
    param_bytes: int
    macs: int
    peak_activation_bytes: int
    chan_memory_bytes: int
    total_memory_bytes: int
    dtype: str
    input_shape: tuple[int, ...]
    opaque_nodes: tuple[str, ...]
    peak_node: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["opaque_nodes"] = list(self.opaque_nodes)
        return data


def estimate(
    graph: ArchGraph,
    dtype: str = "fp32",
    inplace: bool = True,
    count_bias: bool = False,
    order: Sequence[str] | None = None,
    table: LifetimeTable | None = None,
    fast: bool = True,
) -> Estimate:
    """Parameters, MACs, peak activation, Chan's and total memory of ``graph`` for ``order``
    (default: the graph's order). ``table``: use this lifetime table's peak (the reference
    path); ``fast=False``: the reference path throughout."""
    bpe = bytes_per_element(dtype)
    if table is None and fast:
        found = peak(graph, order, inplace)
        cg = compact(graph)
        params = cg.params
        peak_bytes = found.peak_elements * bpe
        return Estimate(
            params=params,
            param_bytes=params * bpe,
            macs=cg.macs + cg.bias_macs if count_bias else cg.macs,
            peak_activation_bytes=peak_bytes,
            chan_memory_bytes=bpe * (params + cg.largest_layer_io),
            total_memory_bytes=params * bpe + peak_bytes,
            dtype=dtype,
            input_shape=graph.input_shape,
            opaque_nodes=cg.opaque_nodes,
            peak_node=found.peak_node,
        )
    table = table or lifetime_table(graph, order, dtype, inplace)
    params = count_params(graph)
    return Estimate(
        params=params,
        param_bytes=params * bpe,
        macs=count_macs(graph, count_bias),
        peak_activation_bytes=table.peak_bytes,
        chan_memory_bytes=chan_memory_bytes(graph, dtype),
        total_memory_bytes=params * bpe + table.peak_bytes,
        dtype=dtype,
        input_shape=graph.input_shape,
        opaque_nodes=graph.opaque_nodes,
        peak_node=table.peak_node,
    )
