"""Data lifetime and peak activation memory for an execution order (paper 000, section 3.4).

Paper 000 (MemNet, section 3.4 and Table 1) defines the lifetime of a tensor as the time from the
step that produces it to the last step that consumes it; the memory needed at a step is the sum
of the tensors alive then, and the peak over all steps is the network's activation memory. We
apply that definition exactly, with these conventions:

* Step 0 holds the network input alone (Table 1's ``T=1``); step ``k`` runs the ``k``-th node of
  the order. A tensor is alive at every step from its producer's through its last consumer's,
  both included, so at a node's step its inputs and its output are alive together.
* The network input is alive until its last consumer; the outputs stay alive to the last step;
  a tensor nothing reads is alive only at its own step.
* Memory is counted per buffer, not per tensor. ``identity``, ``flatten`` and ``dropout`` return
  their input's buffer (a view). An op that may run in place (activations, add, mul) writes into
  an input buffer of the output's shape when no later step reads that buffer, it is not the
  network input (which belongs to the caller) and it is no output. ``inplace=False`` turns this
  reuse off (every op allocates its output, as a framework without in-place kernels would).
* An op's workspace (the 1xk result inside a factorized conv) is alive at its step only.
* Weights (``parameter`` nodes) are parameters, not activations: zero activation bytes.
* Bytes are elements times the bytes per element of the dtype; batch included.

:func:`plan_buffers` decides the buffers once; the builder follows the same plan when it runs
the module, so the measured peak (``fitnas.costs.measure``) equals the analytic one to the byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..arch import INPUT, ArchGraph, OpSpec, check_order
from ..arch.ops import numel
from .dtypes import bytes_per_element

__all__ = ["Buffer", "BufferPlan", "LifetimeTable", "lifetime_table", "peak_activation_bytes",
           "plan_buffers"]


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


@dataclass(frozen=True)
class LifetimeTable:
    """Paper 000 Table 1 in bytes: which buffer is alive at which step, and the totals."""

    plan: BufferPlan
    dtype: str
    bytes_per_element: int
    totals: tuple[int, ...]

    @property
    def steps(self) -> tuple[str, ...]:
        return self.plan.steps

    @property
    def rows(self) -> tuple[Buffer, ...]:
        """The buffers that hold activations (weights left out)."""
        return tuple(b for b in self.plan.buffers if b.elements > 0)

    @property
    def peak_bytes(self) -> int:
        return max(self.totals)

    @property
    def peak_step(self) -> int:
        """The first step at which the peak is reached."""
        return self.totals.index(self.peak_bytes)

    @property
    def peak_node(self) -> str:
        """The node running at the peak step (``"input"`` if the input alone is the peak)."""
        return self.steps[self.peak_step]

    def alive(self, step: int) -> list[Buffer]:
        """Buffers alive at ``step``, largest first."""
        return sorted((b for b in self.rows if b.alive_at(step)), key=lambda b: -b.elements)

    def buffer_bytes(self, buffer: Buffer) -> int:
        return buffer.elements * self.bytes_per_element

    def workspace_bytes(self, step: int) -> int:
        return self.plan.workspace_elements[step] * self.bytes_per_element


def lifetime_table(
    graph: ArchGraph,
    order: Sequence[str] | None = None,
    dtype: str = "fp32",
    inplace: bool = True,
) -> LifetimeTable:
    """The lifetime table and per-step totals for ``order`` (default: the graph's order)."""
    plan = plan_buffers(graph, order, inplace)
    bpe = bytes_per_element(dtype)
    n_steps = len(plan.steps)
    delta = [0] * (n_steps + 1)
    for b in plan.buffers:
        delta[b.birth] += b.elements
        delta[b.death + 1] -= b.elements
    totals = []
    alive = 0
    for step in range(n_steps):
        alive += delta[step]
        totals.append((alive + plan.workspace_elements[step]) * bpe)
    return LifetimeTable(plan, dtype, bpe, tuple(totals))


def peak_activation_bytes(
    graph: ArchGraph,
    order: Sequence[str] | None = None,
    dtype: str = "fp32",
    inplace: bool = True,
) -> int:
    """The largest sum of alive activation bytes over the steps of ``order``."""
    return lifetime_table(graph, order, dtype, inplace).peak_bytes
