"""Parameter counts, parameter bytes and MACs of an :class:`ArchGraph`.

Conventions (DESIGN.md, convention 8):

* Parameters are trainable weights, ``sum(p.numel() for p in module.parameters())`` of the built
  module; batch-norm running statistics are buffers, not parameters.
* Parameter bytes are parameters times the bytes per element of the deployment dtype
  (paper 002 eq. 6, ``B_pe * sum |theta|``).
* MACs are multiply-accumulates of convolution and linear layers for the whole input batch, one
  per weight use (not 2x), bias not counted: the convention of torchvision's weight metadata
  (``_ops``, GMACs at 224x224). ``count_bias=True`` adds one per output element of a layer with
  bias, the count of paper 002 eq. 7 (convolution) and eq. 8 (fully connected).
"""

from __future__ import annotations

from ..arch import ArchGraph
from .dtypes import bytes_per_element

__all__ = ["count_macs", "count_params", "macs_per_node", "param_bytes"]


def count_params(graph: ArchGraph) -> int:
    """Trainable parameters of the whole graph."""
    return graph.total_params()


def param_bytes(graph: ArchGraph, dtype: str = "fp32") -> int:
    """Bytes to store every parameter at ``dtype``."""
    return count_params(graph) * bytes_per_element(dtype)


def macs_per_node(graph: ArchGraph, count_bias: bool = False) -> dict[str, int]:
    """MACs of each node (zero for nodes other than convolutions and linear layers)."""
    return {name: graph.node_macs(name, count_bias) for name in graph.order}


def count_macs(graph: ArchGraph, count_bias: bool = False) -> int:
    """Total MACs of one forward pass over the graph's input batch (each node's MACs come from
    its op's formula, evaluated once when the graph's shapes are inferred)."""
    return graph.total_macs(count_bias)
