"""The layers and the cell body of the ``cells`` space (paper 000 section 3.1).

The seven operations of paper 000, written as primitive nodes (the lifetime model sees every
tensor), with the conventions of NASNet and DARTS where paper 000 leaves them open:

* ``conv3x3``: ReLU, 3x3 conv (no bias), BN;
* ``sep3x3``, ``sep5x5`` (the "3x3 and 5x5 depthwise convolution"): DARTS' separable conv,
  twice ReLU, depthwise kxk conv, pointwise conv, BN (the stride on the first depthwise conv);
* ``fac1x7``: ReLU, 1x7 then 7x1 conv (``fac_conv``), BN;
* ``avgpool3x3``: 3x3 average pool, padding 1, ``count_include_pad=False``;
* ``maxpool3x3``: 3x3 max pool, padding 1;
* ``dil3x3``: ReLU, 3x3 conv with dilation 2 (padding 2), BN;
* ``identity`` (only from a trim): the input itself; in a reduction cell, on the cell input, a
  1x1 average pool of stride 2 (plain subsampling).

Every layer gives the cell's filter count ``F``: a pool or identity whose input has other
channels (a ``concat`` block gives 2F) is followed by ReLU, 1x1 conv, BN. Each cell starts with
ReLU, 1x1 conv, BN from its input to ``F`` (NASNet's preprocessing). In a reduction cell the
layers reading the cell input have stride 2. Every window op pads so that a stride-2 layer maps
a side ``h`` to ``ceil(h / 2)``: the same size for every op, and never below 1x1.
Blocks that are cut from the cell's end and read by no connected block are not emitted.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._emit import Emitter

__all__ = ["COMBINATIONS", "OPS", "emit_cell", "emit_layer"]

#: Paper 000's seven layer operations.
OPS = ("conv3x3", "sep3x3", "sep5x5", "fac1x7", "avgpool3x3", "maxpool3x3", "dil3x3")
#: How a block combines its two layers.
COMBINATIONS = ("add", "concat")


def emit_layer(em: Emitter, x: str, op: str, width: int, stride: int, prefix: str) -> str:
    """One layer: ``op`` on tensor ``x``, giving ``width`` channels."""
    if op == "conv3x3":
        return em.relu_conv_bn(x, width, 3, stride, 1, prefix=prefix)
    if op == "dil3x3":
        return em.relu_conv_bn(x, width, 3, stride, 2, dilation=2, prefix=prefix)
    if op in ("sep3x3", "sep5x5"):
        k = 3 if op == "sep3x3" else 5
        for s in (stride, 1):
            x = em.add("relu", (x,), prefix)
            x = em.add("dwconv", (x,), prefix, kernel=k, stride=s, padding=k // 2)
            x = em.add("pwconv", (x,), prefix, out_channels=width)
            x = em.add("batchnorm", (x,), prefix)
        return x
    if op == "fac1x7":
        x = em.add("relu", (x,), prefix)
        x = em.add("fac_conv", (x,), prefix, out_channels=width, kernel=7, stride=stride)
        return em.add("batchnorm", (x,), prefix)
    if op == "avgpool3x3":
        x = em.add("avgpool", (x,), prefix, kernel=3, stride=stride, padding=1,
                   count_include_pad=False)
    elif op == "maxpool3x3":
        x = em.add("maxpool", (x,), prefix, kernel=3, stride=stride, padding=1)
    elif op == "identity":
        x = (em.add("identity", (x,), prefix) if stride == 1
             else em.add("avgpool", (x,), prefix, kernel=1, stride=stride))
    else:
        raise ValueError(f"unknown cells operation {op!r}")
    if em.channels(x) != width:
        x = em.relu_conv_bn(x, width, 1, prefix=prefix + "proj_")
    return x


def emit_cell(em: Emitter, x: str, blocks: Sequence[tuple[int, int, str, str, str]],
              skip: set[tuple[int, int]], cut: Sequence[int], width: int, reduction: bool,
              output: str, prefix: str) -> str:
    """One cell over input ``x``; ``skip`` holds the ``(block, layer)`` pairs made identity."""
    connected = [b for b in range(1, len(blocks) + 1) if b not in cut]
    live = set(connected)
    for b in range(len(blocks), 0, -1):
        if b in live:
            live.update(i for i in blocks[b - 1][:2] if i > 0)
    states = {0: em.relu_conv_bn(x, width, 1, prefix=prefix + "pre_")}
    for b, (i1, i2, o1, o2, comb) in enumerate(blocks, start=1):
        if b not in live:
            continue
        outs = []
        for layer, (src, op) in enumerate(((i1, o1), (i2, o2)), start=1):
            op = "identity" if (b, layer) in skip else op
            stride = 2 if reduction and src == 0 else 1
            outs.append(emit_layer(em, states[src], op, width, stride, f"{prefix}b{b}l{layer}_"))
        states[b] = em.add(comb, outs, f"{prefix}b{b}_")
    ends = [states[b] for b in connected]
    if len(ends) == 1:
        return ends[0]
    if output == "add":
        ends = [e if em.channels(e) == width else
                em.relu_conv_bn(e, width, 1, prefix=f"{prefix}end{k}_")
                for k, e in enumerate(ends)]
    return em.add(output, ends, prefix + "out_")
