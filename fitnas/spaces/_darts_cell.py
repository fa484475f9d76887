"""The operations, the cell and the macro network of the ``darts`` space, as primitive nodes.

Written after DARTS' evaluation code (Liu et al., "DARTS: Differentiable Architecture Search",
ICLR 2019; ``operations.py``, ``model.py`` ``Cell`` and ``NetworkCIFAR``), the network paper 004
(DCA-NAS, appendix D) searches and trains:

* ``max_pool_3x3``: 3x3 max pool, padding 1; ``avg_pool_3x3``: 3x3 average pool, padding 1,
  ``count_include_pad=False``; no BN after either (the evaluation network's ``OPS``);
* ``skip_connect``: the identity at stride 1; at stride 2 DARTS' ``FactorizedReduce``, written
  here as ReLU, one 1x1 stride-2 conv (no bias), BN (see below);
* ``sep_conv_kxk``: (ReLU, depthwise kxk conv, pointwise conv, BN) twice, the stride on the
  first depthwise conv, padding k // 2;
* ``dil_conv_kxk``: ReLU, depthwise kxk conv with dilation 2 (padding k - 1), pointwise conv, BN.

Convolutions have no bias; every BN is affine (the evaluation network's, and the builder's
default). On a reduction cell the edges from the two cell inputs have stride 2; every op maps a
side ``h`` to ``ceil(h / 2)`` there.

``FactorizedReduce`` (two 1x1 stride-2 convs to C/2 channels each, one on ``x`` and one on ``x``
shifted by one pixel, concatenated, BN) has no exact form in fitnas' op catalogue (no shift or
crop op): it is written as ReLU, one 1x1 stride-2 conv to C channels, BN. The parameters
(``2 * C_in * C/2 = C_in * C`` weights, ``2C`` for BN) and the MACs (even sides: both halves see
``(h/2)^2`` positions) are exactly DARTS'; only the pixel offset of half the channels differs,
and it accepts odd sides where DARTS' concatenation fails.

Cell ``k`` of the macro network reads the outputs of cells ``k-2`` and ``k-1`` (the stem's for
the first cells), preprocessed to the cell's width C: ``preprocess0`` is a ``FactorizedReduce``
when cell ``k-1`` was a reduction cell (cell ``k-2``'s output has twice the side), else ReLU,
1x1 conv, BN; ``preprocess1`` is ReLU, 1x1 conv, BN. Intermediate node ``i`` is the sum of its
two edges' ops; the cell's output is the concatenation of the four nodes (4C channels).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._emit import Emitter

__all__ = ["EDGES", "GENOTYPE_OPS", "NODES", "OPS", "edge_params", "emit_cell", "emit_head",
           "emit_op", "emit_stem"]

#: DARTS' ``PRIMITIVES``, in its order (``genotypes.py``).
OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5")
#: The operations a derived cell (a genotype) may hold: DARTS' derivation never keeps ``none``.
GENOTYPE_OPS = OPS[1:]
#: Intermediate nodes of a cell.
NODES = 4
#: The 14 edges ``(node, source)`` of a cell in DARTS' order (node ``i`` reads sources
#: ``0..i+1``: 0 and 1 the cell inputs, ``k >= 2`` intermediate node ``k - 2``).
EDGES = tuple((i, j) for i in range(NODES) for j in range(i + 2))


def edge_params(op: str, width: int, stride: int) -> int:
    """Parameters of one edge's op at ``width`` channels in and out (BN's 2 per channel
    included): the figures :func:`emit_op` writes."""
    one_bn = 2 * width
    if op in ("none", "max_pool_3x3", "avg_pool_3x3") or (op == "skip_connect" and stride == 1):
        return 0
    if op == "skip_connect":  # FactorizedReduce
        return width * width + one_bn
    k = int(op[-1])
    unit = k * k * width + width * width + one_bn  # depthwise, pointwise, BN
    return 2 * unit if op.startswith("sep") else unit


def emit_op(em: Emitter, x: str, op: str, width: int, stride: int, prefix: str = "") -> str:
    """One edge's op on ``x`` (``width`` channels in and out), every node named ``prefix...``."""
    if op == "max_pool_3x3":
        return em.add("maxpool", (x,), prefix, kernel=3, stride=stride, padding=1)
    if op == "avg_pool_3x3":
        return em.add("avgpool", (x,), prefix, kernel=3, stride=stride, padding=1,
                      count_include_pad=False)
    if op == "skip_connect":
        if stride == 1:
            return em.add("identity", (x,), prefix)
        return em.relu_conv_bn(x, width, 1, stride, prefix=prefix)  # FactorizedReduce
    if op in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"):
        k = int(op[-1])
        dilation = 2 if op.startswith("dil") else 1
        for s in ((stride, 1) if op.startswith("sep") else (stride,)):
            x = em.add("relu", (x,), prefix)
            x = em.add("dwconv", (x,), prefix, kernel=k, stride=s, padding=dilation * (k // 2),
                       dilation=dilation)
            x = em.add("pwconv", (x,), prefix, out_channels=width)
            x = em.add("batchnorm", (x,), prefix)
        return x
    raise ValueError(f"unknown darts operation {op!r}")


def _preprocess(em: Emitter, x: str, width: int, stride: int, prefix: str = "") -> str:
    """ReLU, 1x1 conv (stride 2: the ``FactorizedReduce`` substitute), BN."""
    return em.relu_conv_bn(x, width, 1, stride, prefix=prefix)


def emit_cell(em: Emitter, s0: str, s1: str, pairs: Sequence[tuple[str, int]], width: int,
              reduction: bool, reduction_prev: bool, prefix: str = "") -> str:
    """One cell over the outputs ``s0``, ``s1`` of the two cells before it; ``pairs`` are the 8
    ``(op, source)`` pairs (2i and 2i+1 for node i). The nodes of the op on the edge from
    ``source`` into node ``i`` are named ``f"{prefix}n{i}_s{source}_..."``, and no other node's
    name starts so. Preprocessing, edges and the whole cell are copied from pieces written once
    per process (:meth:`Emitter.template`)."""
    states = [em.template(_preprocess, (s0,), width, 2 if reduction_prev else 1,
                          prefix=prefix + "pre0_"),
              em.template(_preprocess, (s1,), width, 1, prefix=prefix + "pre1_")]
    for i in range(NODES):
        terms = []
        for op, source in pairs[2 * i: 2 * i + 2]:
            stride = 2 if reduction and source < 2 else 1
            terms.append(em.template(emit_op, (states[source],), op, width, stride,
                                     prefix=f"{prefix}n{i}_s{source}_"))
        states.append(em.add("add", terms, f"{prefix}n{i}_"))
    return em.add("concat", states[2:], prefix)


def _cell_piece(em: Emitter, s0: str, s1: str, pairs: tuple[tuple[str, int], ...], width: int,
                reduction: bool, reduction_prev: bool, prefix: str = "") -> str:
    """:func:`emit_cell` in the form :meth:`Emitter.template` copies."""
    return emit_cell(em, s0, s1, pairs, width, reduction, reduction_prev, prefix)


def emit_cells(em: Emitter, x: str, cells: Sequence[tuple[tuple[str, int], ...]],
               widths: Sequence[int], reductions: Sequence[int]) -> str:
    """The stacked cells over the stem output ``x``; cell ``k`` (prefix ``c{k}_``) has the
    pairs ``cells[k]`` and width ``widths[k]``. A cell recurs with its pairs, width and input
    shapes (the normal cells of a stage): it is written once and copied."""
    prev_prev = prev = x
    reduction_prev = False
    for k, (pairs, width) in enumerate(zip(cells, widths)):
        reduction = k in reductions
        out = em.template(_cell_piece, (prev_prev, prev), pairs, width, reduction,
                          reduction_prev, prefix=f"c{k}_")
        prev_prev, prev, reduction_prev = prev, out, reduction
    return prev


def emit_stem(em: Emitter, x: str, channels: int, prefix: str = "") -> str:
    """DARTS' stem: 3x3 conv (padding 1, no bias) to ``channels``, BN."""
    x = em.add("conv2d", (x,), prefix, out_channels=channels, kernel=3, padding=1, bias=False)
    return em.add("batchnorm", (x,), prefix)


def emit_head(em: Emitter, x: str, classes: int, prefix: str = "") -> str:
    """DARTS' head: global average pool, linear classifier (no BN or ReLU before it)."""
    x = em.add("global_avgpool", (x,), prefix, keepdim=False)
    return em.add("linear", (x,), prefix, out_features=classes)
