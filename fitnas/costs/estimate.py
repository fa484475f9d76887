"""All analytic costs of one :class:`ArchGraph` in one object.

``total_memory_bytes`` is parameter bytes plus peak activation bytes, paper 000 Table 2's
"Total Mem" (Params Mem + Inters Mem).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..arch import ArchGraph
from .chan import chan_memory_bytes
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
) -> Estimate:
    """Parameters, MACs, peak activation, Chan's and total memory of ``graph``."""
    bpe = bytes_per_element(dtype)
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
