"""The compact integer form of an :class:`ArchGraph` and the one pass that costs it.

:func:`compact` turns a graph, once (the form is kept with the immutable graph), into arrays over
its tensors, index 0 the network input and index ``k`` the ``k``-th node of the graph's order:
the indices of each node's inputs, the elements of each output, the elements of each op's
workspace, and flags (a view, may run in place, a weight, an output); with the totals of
parameters and MACs (``fitnas.costs.counts``) and Chan et al.'s largest layer input plus
output, ``max_l (|x_l| + |y_l|)`` of paper 002 eq. 6 (``fitnas.costs.chan.largest_layer_io``,
the reference: views and weights are not layers, a layer's inputs are its distinct activation
inputs), none of which depends on the execution order. The flags and each layer's input plus
output come with the graph's per-node facts (``NodeFacts.kind``, ``NodeFacts.layer_io``,
computed once per memoized entry), so this is a few passes in C over the graph's arrays.

:func:`peak` then runs one execution order, default the graph's own, through the lifetime model
of paper 000 (MemNAS) section 3.4 in integers, in one pass over the nodes that may share a
buffer (views, and ops that may run in place; every other tensor has a buffer of its own), and
returns the peak of live activation elements and the first step that reaches it, exactly as
:func:`fitnas.costs.lifetime.lifetime_table` counts them (the reference; its docstring lists the
rules: buffers, not tensors; views share their input's buffer; an op that may run in place
overwrites an input buffer of its output's shape that no later step reads, unless that buffer
holds the network input, a weight or an output; workspaces alive at their step only; weights
zero; the input alive until its last reader and outputs to the last step).

Peak bytes are the peak elements times the bytes per element, and the first step of the peak
is the same at every dtype, so one pass serves every dtype.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import accumulate, chain, compress
from operator import add, itemgetter, sub
from typing import Any, NamedTuple

from ..arch import INPUT, ArchGraph, Shape, check_order
from ..arch.graph import NodeArrays
from ..arch.ops._facts import ALIAS, INPLACE, WEIGHT

__all__ = ["ALIAS", "INPLACE", "OUTPUT", "WEIGHT", "CompactGraph", "Pass", "compact", "peak"]

#: Flag: the tensor is an output of the graph (the other flags are the op's
#: :attr:`~fitnas.arch.graph.NodeFacts.kind`: ``ALIAS``, the op returns its first input's buffer
#: (identity, flatten, dropout); ``INPLACE``, it may overwrite an input buffer (activations,
#: add, mul); ``WEIGHT``, the tensor is a weight (a ``parameter`` node), not an activation).
OUTPUT = 8

_KEY = "fitnas.costs.compact"  # where the form is kept with its graph
#: by flag value: the buffer is pinned (a weight or an output, never overwritten); the tensor
#: may share a buffer (a view, an op that may run in place); the op is a layer (Chan's eq. 6)
_PINS = tuple(bool(f & (WEIGHT | OUTPUT)) for f in range(16))
_SHARES = tuple(bool(f & (ALIAS | INPLACE)) for f in range(16))
_LAYER = tuple(not f & (ALIAS | WEIGHT) for f in range(16))


class CompactGraph(NamedTuple):
    """A graph as integer arrays over its tensors (index 0: the input; ``k``: the ``k``-th node
    of the graph's order), with what does not depend on the order. Made by :func:`compact`."""

    names: tuple[str, ...]
    positions: Mapping[str, int]
    inputs: tuple[tuple[int, ...], ...]
    elements: tuple[int, ...]
    #: ``elements`` where the tensor is an activation, 0 for weights.
    activation_elements: tuple[int, ...]
    #: Elements of each op's workspace (alive at its step only); ``None`` when there is none.
    workspace: tuple[int, ...] | None
    flags: tuple[int, ...]
    #: The tensors whose buffer no op may overwrite from their step on: the input, weights
    #: and outputs.
    pinned: tuple[bool, ...]
    shapes: tuple[Shape, ...]
    outputs: tuple[int, ...]
    #: The last step of the graph's order that reads each tensor (its own step if none does).
    last: tuple[int, ...]
    #: ``last``, with the last step for the outputs (alive to the end).
    last_or_end: tuple[int, ...]
    #: The nodes that may share a buffer (views, ops that may run in place), in graph order.
    sharing: tuple[int, ...]
    params: int
    macs: int
    bias_macs: int
    #: Chan's ``max_l (|x_l| + |y_l|)`` (paper 002 eq. 6), in elements.
    largest_layer_io: int
    opaque_nodes: tuple[str, ...]
    graph_order: tuple[str, ...]

    def sequence(self, order: Sequence[str] | None, graph: ArchGraph) -> Sequence[int]:
        """The tensor indices of the nodes of ``order`` in execution order (checked as
        :func:`fitnas.arch.buffers.plan_buffers` checks it); a ``range`` for the graph's
        order."""
        if order is not None:
            order = tuple(order)
            if order != self.graph_order:
                check_order(graph, order)
                where = self.positions
                return [where[name] for name in order]
        return range(1, len(self.names))


def _gather(table: Any, keys: Sequence[Any]) -> tuple[Any, ...]:
    """``tuple(table[k] for k in keys)``, in C."""
    if len(keys) > 1:
        return itemgetter(*keys)(table)
    return tuple(table[k] for k in keys)


def _largest_layer_io(arrays: NodeArrays, flags: tuple[int, ...], act: Sequence[int],
                      weights: bool) -> int:
    """Chan's ``max_l (|x_l| + |y_l|)``: ``|x_l|`` sums a layer's distinct activation inputs
    (all its inputs' elements, less the weights it reads and an input it reads twice)."""
    if not weights and not arrays.repeats:
        return max(arrays.layer_io, default=0)
    inputs = arrays.inputs
    if weights:
        x = [act[i[0]] if len(i) == 1 else sum(act[u] for u in set(i)) for i in inputs[1:]]
    else:
        x = list(arrays.input_elements)
        for v in arrays.repeats:
            x[v - 1] = sum(act[u] for u in set(inputs[v]))
    layers = _gather(_LAYER, flags[1:])
    return max(compress(map(add, x, arrays.elements[1:]), layers), default=0)


def compact(graph: ArchGraph) -> CompactGraph:
    """The compact form of ``graph``, made on first use and kept with the (immutable) graph."""
    found: CompactGraph | None = graph._derived.get(_KEY)
    if found is not None:
        return found
    arrays = graph.arrays()
    kinds = arrays.kinds
    n = len(kinds)
    outputs = arrays.outputs
    flags = [0, *kinds]
    for k in outputs:
        flags[k] |= OUTPUT
    frozen = tuple(flags)
    elements = arrays.elements
    weights = max(kinds) >= WEIGHT  # (the other kinds are at most ALIAS | INPLACE)
    if weights:
        activation = tuple(0 if f & WEIGHT else e for e, f in zip(elements, frozen))
        pinned = (True, *_gather(_PINS, frozen[1:]))
    else:
        activation = elements
        pins = [False] * (n + 1)
        pins[0] = True
        for k in outputs:
            pins[k] = True
        pinned = tuple(pins)
    last_or_end = list(arrays.last_readers)
    for k in outputs:
        last_or_end[k] = n
    made = CompactGraph(
        names=arrays.names,
        positions=arrays.positions,
        inputs=arrays.inputs,
        elements=elements,
        activation_elements=activation,
        workspace=(0, *arrays.workspace) if any(arrays.workspace) else None,
        flags=frozen,
        pinned=pinned,
        shapes=arrays.shapes,
        outputs=outputs,
        last=arrays.last_readers,
        last_or_end=tuple(last_or_end),
        sharing=tuple(compress(range(1, n + 1), _gather(_SHARES, kinds))),
        params=sum(arrays.params),
        macs=sum(arrays.macs),
        bias_macs=sum(arrays.bias_macs),
        largest_layer_io=_largest_layer_io(arrays, frozen, activation, weights),
        opaque_nodes=graph.opaque_nodes,
        graph_order=graph.order,
    )
    graph._derived[_KEY] = made
    return made


class Pass(NamedTuple):
    """What :func:`peak` finds for one execution order (elements, not bytes)."""

    peak_elements: int
    #: The first step at which the peak is reached (0: the input alone).
    peak_step: int
    #: The node run at that step (``"input"`` for step 0).
    peak_node: str


def peak(graph: ArchGraph, order: Sequence[str] | None = None, inplace: bool = True) -> Pass:
    """The lifetime peak of ``order`` (default: the graph's order), in one pass over the
    compact form (the semantics of ``plan_buffers`` + ``lifetime_table``).

    A buffer is named by the tensor that allocates it; a tensor that shares a buffer (a view,
    or an op run in place) joins its owner's and gives up its own. ``death[b]`` is the last
    step that reads any tensor of buffer ``b``, as far as the pass has gone.
    """
    cg = compact(graph)
    seq = cg.sequence(order, graph)
    n = len(seq)
    flags, inputs, shapes = cg.flags, cg.inputs, cg.shapes
    # the last step that reads each tensor (its own step when nothing reads it)
    own = isinstance(seq, range)
    if own:  # the graph's order: a tensor's index is its step
        step: Sequence[int] = range(n + 1)
        last: Sequence[int] = cg.last_or_end
        death = list(last)
        sharing: Sequence[int] = cg.sharing
    else:
        step = [0] * (n + 1)
        for k, v in enumerate(seq, 1):
            step[v] = k
        last = step[:]
        for k, v in enumerate(seq, 1):
            for u in inputs[v]:
                last[u] = k
        sharing = [v for v in seq if flags[v] & (ALIAS | INPLACE)]
        for o in cg.outputs:
            last[o] = n
        death = last[:]
    sizes = list(cg.activation_elements)  # each tensor's own buffer (weights: zero bytes)
    buffer_of = list(range(n + 1))
    pinned = list(cg.pinned)  # the caller's input, weights and outputs are never overwritten
    for v in sharing:
        f = flags[v]
        ins = inputs[v]
        if f & ALIAS:
            b = buffer_of[ins[0]]
        elif inplace:
            now = step[v]
            shape = shapes[v]
            for u in ins:
                b = buffer_of[u]
                # no later step reads this buffer, and it has the output's shape
                if not pinned[b] and death[b] <= now and shapes[u] == shape:
                    break
            else:
                continue
        else:
            continue
        buffer_of[v] = b
        sizes[v] = 0
        if last[v] > death[b]:
            death[b] = last[v]
        if f & OUTPUT:
            pinned[b] = True
    # alive elements per step: buffers born (at their owner's step) less buffers dead (by the
    # step before: ``gone[d]`` holds the buffers whose last step is ``d``)
    gone = [0] * (n + 1)
    for size, d in zip(sizes, death):
        gone[d] += size
    born = sizes if own else [sizes[0], *map(sizes.__getitem__, seq)]
    alive = accumulate(map(sub, born, chain((0,), gone)))
    workspace = cg.workspace
    if workspace is None:
        totals = list(alive)
    else:
        totals = list(map(add, alive, workspace if own else
                          [0, *map(workspace.__getitem__, seq)]))
    best = max(totals)
    at = totals.index(best)
    return Pass(best, at, INPUT if at == 0 else cg.names[seq[at - 1]])
