"""Chan et al.'s memory estimate with ping-pong buffers (paper 002, section 3.7, eq. 6).

``mem = B_pe * (sum |theta_conv| + sum |theta_fc| + max_l (|x_l| + |y_l|))``: every weight stays
in memory, and two reused buffers hold the input and the output of the layer being computed,
sized for the layer whose input plus output is largest. The printed equation writes
``max_l(|x_l|, |y_l|)``; the paper's own VGG-19 figure needs the sum of the two (see
``tests/costs/test_chan.py``, which reproduces its 82.7 MB = 78.91 MiB).

Here every weight is every trainable parameter (batch-norm scale and shift included), and a
layer is every node that computes a new tensor: views (identity, flatten, dropout) and weights
are not layers. ``|x_l|`` sums a layer's activation inputs (an add or a concat reads several).
"""

from __future__ import annotations

from ..arch import INPUT, ArchGraph
from .counts import count_params
from .dtypes import bytes_per_element

__all__ = ["chan_memory_bytes", "largest_layer_io"]


def largest_layer_io(graph: ArchGraph) -> int:
    """``max_l (|x_l| + |y_l|)`` in elements over the layers of the graph."""
    best = 0
    numel, spec = graph.numel, graph.spec
    for node in graph.nodes:
        node_spec = spec(node.name)
        if node_spec.alias or not node_spec.activation:
            continue
        inputs = node.inputs
        if len(inputs) == 1:
            x = numel(inputs[0]) if inputs[0] == INPUT or spec(inputs[0]).activation else 0
        else:
            x = sum(numel(i) for i in set(inputs) if i == INPUT or spec(i).activation)
        total = x + numel(node.name)
        if total > best:
            best = total
    return best


def chan_memory_bytes(graph: ArchGraph, dtype: str = "fp32") -> int:
    """Paper 002 eq. 6 in bytes at ``dtype``."""
    return bytes_per_element(dtype) * (count_params(graph) + largest_layer_io(graph))
