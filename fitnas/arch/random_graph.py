"""Random architecture graphs with branches, adds, concatenations and in-place ops.

Used by the property tests (the analytic costs must equal the measurements on any graph, not
only on hand-written ones) and by the benchmarks. Every graph is valid by construction: each op
is chosen among those whose shapes fit the tensors available.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from .graph import INPUT, ArchGraph, Node

__all__ = ["random_graph"]

_UNARY = ("relu", "relu6", "sigmoid", "hardswish", "silu", "batchnorm", "identity", "dropout")


def random_graph(
    seed: int,
    n_nodes: int = 12,
    input_shape: Sequence[int] = (1, 4, 12, 12),
    classes: int = 5,
    max_channels: int = 12,
) -> ArchGraph:
    """A random valid graph of about ``n_nodes`` nodes (plus a pooling and linear head).

    Tensors are drawn from everything produced so far, so branches, long skips, dead ends and
    nodes with several readers all occur.
    """
    rng = random.Random(seed)
    nodes: list[Node] = []
    shapes: dict[str, tuple[int, ...]] = {INPUT: tuple(input_shape)}

    def add(op: str, inputs: Sequence[str], out_shape: tuple[int, ...], **attrs: Any) -> None:
        name = f"n{len(nodes)}_{op}"
        nodes.append(Node(name, op, tuple(inputs), attrs))
        shapes[name] = out_shape

    def pick() -> str:
        names = list(shapes)
        # favour recent tensors so the graph gets deep as well as wide
        return names[-1 - min(int(rng.expovariate(0.6)), len(names) - 1)]

    while len(nodes) < n_nodes:
        src = pick()
        n, c, h, w = shapes[src]
        kind = rng.random()
        if kind < 0.25:
            out_c = rng.randint(2, max_channels)
            k = rng.choice((1, 3, 5))
            stride = 2 if h >= 6 and rng.random() < 0.2 else 1
            groups = c if rng.random() < 0.2 and out_c % c == 0 else 1
            ho = (h + 2 * (k // 2) - k) // stride + 1
            wo = (w + 2 * (k // 2) - k) // stride + 1
            add("conv2d", [src], (n, out_c, ho, wo), out_channels=out_c, kernel=k,
                stride=stride, padding=k // 2, groups=groups, bias=rng.random() < 0.5)
        elif kind < 0.32:
            out_c = rng.randint(2, max_channels)
            add("fac_conv", [src], (n, out_c, h, w), out_channels=out_c, kernel=rng.choice((3, 5)))
        elif kind < 0.38:
            add("dwconv", [src], (n, c, h, w), kernel=3, padding=1)
        elif kind < 0.55:
            op = rng.choice(_UNARY)
            add(op, [src], (n, c, h, w))
        elif kind < 0.62 and h >= 4:
            op = rng.choice(("maxpool", "avgpool"))
            add(op, [src], (n, c, (h - 1) // 2 + 1, (w - 1) // 2 + 1), kernel=3, stride=2,
                padding=1)
        elif kind < 0.77:
            same = [t for t, s in shapes.items() if s == shapes[src] and t != src]
            if same:
                add(rng.choice(("add", "add", "mul")), [src, rng.choice(same)], shapes[src])
        elif kind < 0.87:
            spatial = [t for t, s in shapes.items() if s[2:] == (h, w) and t != src]
            if spatial:
                others = rng.sample(spatial, min(len(spatial), rng.randint(1, 2)))
                total = c + sum(shapes[t][1] for t in others)
                add("concat", [src, *others], (n, total, h, w))
        elif kind < 0.93:
            # squeeze-and-excitation: a broadcast multiply by per-channel gates
            add("global_avgpool", [src], (n, c, 1, 1))
            gate = nodes[-1].name
            add("sigmoid", [gate], (n, c, 1, 1))
            add("mul", [src, nodes[-1].name], (n, c, h, w))
        else:
            add("zero", [src], (n, c, h, w))
    last = nodes[-1].name
    add("global_avgpool", [last], (shapes[last][0], shapes[last][1]), keepdim=False)
    add("linear", [nodes[-1].name], (shapes[last][0], classes), out_features=classes)
    return ArchGraph(tuple(input_shape), nodes, name=f"random-{seed}")
