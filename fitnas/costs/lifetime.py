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

from collections.abc import Sequence
from dataclasses import dataclass

from ..arch import ArchGraph
from ..arch.buffers import Buffer, BufferPlan, plan_buffers
from .dtypes import bytes_per_element

__all__ = ["Buffer", "BufferPlan", "LifetimeTable", "lifetime_table", "peak_activation_bytes",
           "plan_buffers"]


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
