"""The buffer plan of an execution order: which buffer holds each tensor, and when it lives.

The execution model of paper 000 (MemNet) section 3.4, shared by the builder (which runs a
graph by this plan, ``fitnas.arch.builder``) and the cost models (which count its bytes,
``fitnas.costs.lifetime``); it lives here, beside the graph, so that neither imports the
other. The conventions (what is a view, when an op writes in place, how long a tensor lives)
are written out in ``fitnas.costs.lifetime``'s docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .graph import INPUT, ArchGraph, check_order
from .ops import OpSpec, numel

__all__ = ["Buffer", "BufferPlan", "plan_buffers"]


_NO_WORKSPACE = OpSpec.workspace


class Buffer(NamedTuple):
    """One allocation: the tensors that share it, its size, and the steps it is alive."""

    number: int
    tensors: tuple[str, ...]
    elements: int
    birth: int
    death: int

    @property
    def name(self) -> str:
        """The tensor that allocated it."""
        return self.tensors[0]

    def alive_at(self, step: int) -> bool:
        return self.birth <= step <= self.death


@dataclass(frozen=True)
class BufferPlan:
    """Which buffer holds each tensor, for one execution order.

    ``steps[0]`` is ``"input"``, ``steps[k]`` the ``k``-th node run. ``last_read[t]`` is the
    last step that reads tensor ``t`` (the last step for outputs): the executor may drop ``t``
    after that step. ``inplace_operand[node]`` is the operand a node overwrites.
    """

    steps: tuple[str, ...]
    inplace: bool
    buffers: tuple[Buffer, ...]
    buffer_of: Mapping[str, int]
    inplace_operand: Mapping[str, int]
    last_read: Mapping[str, int]
    workspace_elements: tuple[int, ...]

    @property
    def order(self) -> tuple[str, ...]:
        return self.steps[1:]


def plan_buffers(
    graph: ArchGraph, order: Sequence[str] | None = None, inplace: bool = True
) -> BufferPlan:
    """Assign every tensor to a buffer for ``order`` (default: the graph's order)."""
    order = tuple(order) if order is not None else graph.order
    if order != graph.order:
        check_order(graph, order)
    else:
        order = graph.order
    steps = (INPUT, *order)
    end = len(steps) - 1
    outputs = set(graph.outputs)
    spec_of, shape_of, numel_of = graph.spec, graph.shape, graph.numel
    nodes = graph.nodes if order is graph.order else tuple(graph.node(n) for n in order)
    last_read: dict[str, int] = {INPUT: 0}
    for step, node in enumerate(nodes, start=1):
        last_read[node.name] = step
        for src in node.inputs:
            last_read[src] = step  # steps increase, so the last write is the last reader
    for name in outputs:
        last_read[name] = end

    members: list[list[str]] = [[INPUT]]
    sizes: list[int] = [graph.numel(INPUT)]
    births: list[int] = [0]
    deaths: list[int] = [last_read[INPUT]]
    pinned: list[bool] = [True]  # the caller's input, weights and outputs are never overwritten
    weights: set[int] = set()
    buffer_of: dict[str, int] = {INPUT: 0}
    inplace_operand: dict[str, int] = {}
    workspace = [0] * len(steps)

    for step, node in enumerate(nodes, start=1):
        name = node.name
        spec = spec_of(name)
        if type(spec).workspace is not _NO_WORKSPACE:
            shapes = spec.workspace(node.attrs, graph.input_shapes(name))
            workspace[step] = sum(numel(s) for s in shapes)
        target: int | None = None
        if spec.alias:
            target = buffer_of[node.inputs[0]]
        elif spec.inplace and inplace:
            out_shape = shape_of(name)
            for k, src in enumerate(node.inputs):
                b = buffer_of[src]
                # no later step reads any tensor of this buffer (its death is this step)
                if not pinned[b] and deaths[b] <= step and shape_of(src) == out_shape:
                    target = b
                    inplace_operand[name] = k
                    break
        if target is None:
            target = len(members)
            members.append([])
            sizes.append(numel_of(name) if spec.activation else 0)
            births.append(step)
            deaths.append(step)
            pinned.append(not spec.activation)
            if not spec.activation:
                weights.add(target)
        members[target].append(name)
        buffer_of[name] = target
        if last_read[name] > deaths[target]:
            deaths[target] = last_read[name]
        if name in outputs:
            pinned[target] = True

    buffers = tuple(Buffer(b, tuple(ts), sizes[b], births[b], deaths[b])
                    for b, ts in enumerate(members))
    return BufferPlan(steps, inplace, buffers, buffer_of, inplace_operand, last_read,
                      tuple(workspace))
