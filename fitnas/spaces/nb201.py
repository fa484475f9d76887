"""``nb201``: the NAS-Bench-201 cell inside the benchmark's macro network.

Dong & Yang, "NAS-Bench-201", ICLR 2020 (``../shared/benchmarks/README.md``). A cell has 4 nodes;
node 0 is the cell input and node ``j`` is the sum over ``i < j`` of ``op_ij(node_i)``, so the
cell has 6 edges, each one of 5 operations, 5^6 = 15,625 architectures. The cell output is
node 3. The encoding is the tuple of the 6 edge operations in the benchmark's ``cellstr`` order
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3);
:meth:`NB201Space.parse` and :meth:`NB201Space.format` read and write the ``cellstr`` itself.

Operations, following the benchmark's source (AutoDL-Projects ``cell_operations.py``):
``none`` = zeros (``x * 0``), ``skip_connect`` = identity, ``nor_conv_1x1`` and
``nor_conv_3x3`` = ReLU, conv without bias (padding 0 or 1), affine batch norm,
``avg_pool_3x3`` = 3x3 average pool, stride 1, padding 1, ``count_include_pad=False``.

Macro network (defaults C = 16, N = 5, CIFAR-10: input 1x3x32x32, 10 classes): stem 3x3 conv
(no bias) to C channels and BN; N cells at C; a residual reduction block; N cells at 2C; a
reduction block; N cells at 4C; BN, ReLU, global average pool, linear classifier. The reduction
block is the benchmark's ``ResNetBasicblock`` with stride 2: ReLU-conv3x3(stride 2)-BN,
ReLU-conv3x3-BN, plus a shortcut of 2x2 average pooling (stride 2) and a 1x1 conv without bias
or BN; the two are added. Parameter counts equal the benchmark's: 73,306 for the all-``none``
cell and 1,531,546 for the all-``nor_conv_3x3`` cell on CIFAR-10 (``tests/spaces``).

Moves: ``mutations`` change one edge to any other operation (24 neighbours); ``grow`` replaces one
edge's operation by a costlier one along :data:`BY_COST` (``none`` < ``skip_connect`` <
``avg_pool_3x3`` < ``nor_conv_1x1`` < ``nor_conv_3x3``), ``trim`` by a cheaper one, so the two
split the 24 mutations between them (paper 000's augment and trim: adding a connection or
computation, or removing one). Tokens: one per edge, the index
of its operation in :data:`OPS`.

Decoding writes a stage's cell once and copies it for the stage's N cells
(:meth:`Emitter.repeat`), and copies the cell's nodes, the stem, the head and the reduction
blocks from pieces written once per process (:meth:`Emitter.template`, keyed by the operations
of a node's edges, the width and the input shape): the same nodes, names and order as writing
each cell out node by node (the reference writer), in a fraction of the time (the hot path of a
search, and of costing the whole table).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from functools import lru_cache, partial
from typing import Any

from ..arch import INPUT, ArchGraph
from ._base import (
    MAX_CELLS,
    MAX_CHANNELS,
    InvalidEncoding,
    NextTokens,
    SearchSpace,
    SpaceError,
    check_int,
    make_rng,
    register_space,
    step_along,
)
from ._emit import Emitter

__all__ = ["EDGES", "OPS", "NB201Space"]

#: The five operations, in the benchmark's order.
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The six edges ``(from, to)`` in ``cellstr`` order.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: The operations from the cheapest to the costliest (a coordinate step moves one place).
BY_COST = ("none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")


@register_space
class NB201Space(SearchSpace):
    """The NAS-Bench-201 space.

    Args:
        input_shape: default ``(1, 3, 32, 32)`` (CIFAR; ImageNet16-120 uses 16x16).
        classes: default 10 (CIFAR-10; 100 for CIFAR-100, 120 for ImageNet16-120).
        channels: channels of the first stage, C (default 16).
        cells_per_stage: N (default 5).
    """

    name = "nb201"
    summary = "NAS-Bench-201: a cell of 6 edges x 5 ops (15,625 archs) in the benchmark's network"

    def __init__(self, input_shape: Sequence[int] | None = None, classes: int | None = None,
                 channels: int = 16, cells_per_stage: int = 5):
        super().__init__(input_shape, classes)
        self.channels = check_int(channels, "channels", 1, MAX_CHANNELS // 4)
        self.cells_per_stage = check_int(cells_per_stage, "cells_per_stage", 1, MAX_CELLS)
        if min(self.input_shape[2:]) < 4:
            raise SpaceError(f"nb201 halves the input twice with 2x2 pools: it needs at least "
                             f"4x4, got {self.input_shape[2]}x{self.input_shape[3]}")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels,
                "cells_per_stage": self.cells_per_stage}

    # -------------------------------------------------------------- encodings
    def sample(self, seed: int | random.Random | None = None) -> tuple[str, ...]:
        rng = make_rng(seed)
        return tuple(rng.choice(OPS) for _ in EDGES)

    def all_encodings(self) -> Iterator[tuple[str, ...]]:
        """All 15,625 encodings (the product of the edge choices, first edge slowest)."""
        return (tuple(ops) for ops in itertools.product(OPS, repeat=len(EDGES)))

    def from_data(self, data: Any) -> tuple[str, ...]:
        if isinstance(data, str):
            return self.parse(data)
        if not isinstance(data, (list, tuple)) or len(data) != len(EDGES):
            raise InvalidEncoding(f"an nb201 encoding is a list of {len(EDGES)} operation names "
                                  f"(or a cellstr), got {data!r}")
        for op in data:
            if op not in OPS:
                raise InvalidEncoding(f"unknown nb201 operation {op!r}; accepted: {', '.join(OPS)}")
        return tuple(data)

    def to_data(self, enc: tuple[str, ...]) -> list[str]:
        return list(self.validate(enc))

    def parse(self, text: str) -> tuple[str, ...]:
        """An encoding from a ``cellstr`` (``|op~0|+|op~0|op~1|+|...|``) or its JSON list."""
        text = text.strip()
        if text.startswith("["):
            return self.from_json(text)
        groups = text.split("+")
        if len(groups) != 3:
            raise InvalidEncoding(f"an nb201 cellstr has 3 groups joined by '+', e.g. "
                                  f"|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|; "
                                  f"got {text!r}")
        ops: list[str] = []
        for node, group in enumerate(groups, start=1):
            if not (group.startswith("|") and group.endswith("|")):
                raise InvalidEncoding(f"cellstr group {group!r} must start and end with '|'")
            items = group[1:-1].split("|")
            if len(items) != node:
                raise InvalidEncoding(f"cellstr group {node} ({group!r}) needs {node} edge(s), "
                                      f"got {len(items)}")
            for source, item in enumerate(items):
                op, sep, index = item.partition("~")
                if not sep or index != str(source):
                    raise InvalidEncoding(f"cellstr edge {item!r} of node {node} must read "
                                          f"'op~{source}'")
                ops.append(op)
        return self.from_data(ops)

    def format(self, enc: tuple[str, ...]) -> str:
        """The benchmark's ``cellstr`` of an encoding."""
        return _cellstr(self.validate(enc))

    # ------------------------------------------------------------------ moves
    def mutations(self, enc: tuple[str, ...]) -> list[tuple[str, ...]]:
        enc = self.validate(enc)
        return [_replace(enc, e, op) for e in range(len(EDGES)) for op in OPS if op != enc[e]]

    def grow(self, enc: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Every cell with one edge's operation replaced by a costlier one (:data:`BY_COST`):
        a ``none`` edge becomes a connection, a connection a pool or a convolution."""
        enc = self.validate(enc)
        return [_replace(enc, e, op) for e in range(len(EDGES))
                for op in BY_COST[BY_COST.index(enc[e]) + 1:]]

    def grow_roots(self) -> list[tuple[str, ...]]:
        """The all-``none`` cell (no path from the cell's input to its output), which
        :meth:`grow` turns into every cell by making edges costlier one at a time."""
        return [("none",) * len(EDGES)]

    def trim(self, enc: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Every cell with one edge's operation replaced by a cheaper one (:data:`BY_COST`),
        down to cutting the edge (``none``). ``grow`` and ``trim`` together are the 24
        ``mutations``."""
        enc = self.validate(enc)
        return [_replace(enc, e, op) for e in range(len(EDGES))
                for op in BY_COST[:BY_COST.index(enc[e])]]

    def coordinates(self, enc: tuple[str, ...]) -> list[int]:
        """The six edges: a step moves an edge's operation one place along :data:`BY_COST`."""
        return list(range(len(EDGES)))

    def step(self, enc: tuple[str, ...], coordinate: Any, direction: int) -> tuple[str, ...]:
        enc = self.validate(enc)
        if coordinate not in range(len(EDGES)):
            raise InvalidEncoding(f"nb201 coordinate {coordinate!r} is not an edge 0..5")
        return _replace(enc, coordinate,
                        step_along(BY_COST, enc[coordinate], direction, f"edge {coordinate}"))

    # ----------------------------------------------------------------- tokens
    @property
    def vocab_size(self) -> int:
        return len(OPS)

    def to_tokens(self, enc: tuple[str, ...]) -> list[int]:
        return [OPS.index(op) for op in self.validate(enc)]

    def next_tokens(self, prefix: Sequence[int]) -> NextTokens:
        """Any operation on each of the six edges, then the end."""
        prefix = self._check_tokens(prefix)
        if len(prefix) > len(EDGES):
            raise self._refuse(len(EDGES), prefix[len(EDGES)], ())
        if len(prefix) == len(EDGES):
            return NextTokens((), True)
        return NextTokens(tuple(range(len(OPS))), False)

    def from_tokens(self, tokens: Sequence[int]) -> tuple[str, ...]:
        tokens = self._check_tokens(tokens)
        if len(tokens) != len(EDGES):
            raise InvalidEncoding(f"an nb201 token sequence has {len(EDGES)} tokens, "
                                  f"got {len(tokens)}")
        return tuple(OPS[t] for t in tokens)

    # ----------------------------------------------------------------- decode
    def decode(self, enc: tuple[str, ...]) -> ArchGraph:
        enc = self.validate(enc)
        return Emitter.build(self.input_shape, partial(self._write, enc),
                             name=f"nb201:{_cellstr(enc)}")

    def _write(self, enc: tuple[str, ...], em: Emitter) -> None:
        c = self.channels
        x = em.template(_stem, (INPUT,), c, prefix="stem_")
        for stage in range(3):
            width = c * 2**stage
            if stage > 0:
                x = em.template(_reduction, (x,), width, prefix=f"s{stage}_res_")
            # the stage's cells are one piece, written once and copied for each cell
            piece = em.fragment({_CELL_INPUT: x})
            piece.output = _cell(piece, _CELL_INPUT, enc, width, "")
            prefixes = _stage_prefixes(stage, self.cells_per_stage)
            last = em.repeat(piece, prefixes, x)
            if last is None:
                for prefix in prefixes:
                    x = _cell(em, x, enc, width, prefix)
            else:
                x = last
        em.template(_head, (x,), self.classes, prefix="head_")


_CELL_INPUT = "<cell input>"  # a placeholder: no node is named so


def _cell(em: Emitter, x: str, enc: tuple[str, ...], width: int, prefix: str) -> str:
    """One cell over ``x``; each of its nodes 1-3 copied from a piece written once per
    operations of its edges, width and input shape (:meth:`Emitter.template`)."""
    nodes = [x]
    for j, ops in ((1, enc[:1]), (2, enc[1:3]), (3, enc[3:])):
        nodes.append(em.template(_node, nodes[:j], ops, width, prefix=prefix))
    return nodes[3]


def _node(em: Emitter, *args: Any, prefix: str = "") -> str:
    """Cell node ``j``: the sum of its ``j`` edges; ``args`` are the ``j`` earlier nodes, the
    edges' operations (:data:`EDGES` order) and the width."""
    *sources, ops, width = args
    j = len(sources)
    terms = [_edge(em, x, op, width, f"{prefix}e{i}{j}_")
             for i, (x, op) in enumerate(zip(sources, ops))]
    return terms[0] if len(terms) == 1 else em.add("add", terms, f"{prefix}n{j}_")


def _stem(em: Emitter, x: str, channels: int, prefix: str = "") -> str:
    """The stem: 3x3 conv (no bias) to ``channels``, BN."""
    x = em.add("conv2d", (x,), prefix, out_channels=channels, kernel=3, padding=1, bias=False)
    return em.add("batchnorm", (x,), prefix)


def _head(em: Emitter, x: str, classes: int, prefix: str = "") -> str:
    """The head: BN, ReLU, global average pool, linear classifier."""
    x = em.add("batchnorm", (x,), prefix)
    x = em.add("relu", (x,), prefix)
    x = em.add("global_avgpool", (x,), prefix, keepdim=False)
    return em.add("linear", (x,), prefix, out_features=classes)


def _reduction(em: Emitter, x: str, width: int, prefix: str = "") -> str:
    """The residual reduction block (``ResNetBasicblock``, stride 2)."""
    a = em.relu_conv_bn(x, width, 3, 2, 1, prefix=prefix + "a_")
    b = em.relu_conv_bn(a, width, 3, 1, 1, prefix=prefix + "b_")
    s = em.add("avgpool", (x,), prefix + "short_", kernel=2, stride=2)
    s = em.add("pwconv", (s,), prefix + "short_", out_channels=width)
    return em.add("add", (b, s), prefix)


@lru_cache(maxsize=64)
def _stage_prefixes(stage: int, cells: int) -> tuple[str, ...]:
    """The prefixes of a stage's cells (``s0c0_``, ``s0c1_``, ...)."""
    return tuple(f"s{stage}c{k}_" for k in range(cells))


def _cellstr(enc: tuple[str, ...]) -> str:
    """The ``cellstr`` of a valid encoding: ``|a~0|+|b~0|c~1|+|d~0|e~1|f~2|``."""
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*enc)


def _edge(em: Emitter, x: str, op: str, width: int, prefix: str = "") -> str:
    """One edge's operation on ``x``."""
    if op == "none":
        return em.add("zero", (x,), prefix)
    if op == "skip_connect":
        return em.add("identity", (x,), prefix)
    if op == "avg_pool_3x3":
        return em.add("avgpool", (x,), prefix, kernel=3, stride=1, padding=1,
                      count_include_pad=False)
    k = 3 if op == "nor_conv_3x3" else 1
    return em.relu_conv_bn(x, width, k, 1, k // 2, prefix=prefix)


def _replace(enc: tuple[str, ...], edge: int, op: str) -> tuple[str, ...]:
    return (*enc[:edge], op, *enc[edge + 1 :])
