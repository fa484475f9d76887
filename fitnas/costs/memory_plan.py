"""The memory plan of a network: its execution order and the bytes alive at every step.

DESIGN.md: every exported model carries ``memory_plan.json`` next to it, so that whoever deploys
it can run the nodes in the order whose peak was checked. The figures are those of the lifetime
model (paper 000, section 3.4; ``fitnas.costs.lifetime``): step 0 holds the input, step ``k``
runs the ``k``-th node of ``order``; ``step_bytes[k]`` is the bytes of the buffers alive at step
``k`` plus that step's workspace. The peak is the largest; ``peak_node`` runs at the first step
that reaches it, and ``peak_tensor`` is the largest buffer alive then (named by the tensor that
allocated it). ``alive_at_peak`` lists every buffer alive at the peak, largest first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..arch import ArchGraph
from ..errors import FitnasError
from ..jsonio import loads
from .lifetime import lifetime_table

__all__ = ["MemoryPlan", "MemoryPlanError", "memory_plan"]

FORMAT = "fitnas.memory_plan/1"


class MemoryPlanError(FitnasError):
    """A memory plan file or dictionary that cannot be read."""


@dataclass(frozen=True)
class MemoryPlan:
    """Execution order, bytes alive per step, and where the peak is."""

    order: tuple[str, ...]
    step_bytes: tuple[int, ...]
    peak_bytes: int
    peak_step: int
    peak_node: str
    peak_tensor: str
    alive_at_peak: tuple[tuple[str, int], ...]
    dtype: str = "fp32"
    inplace: bool = True
    fingerprint: str = ""
    default_peak_bytes: int | None = None
    exact: bool | None = None

    @property
    def steps(self) -> tuple[str, ...]:
        """``("input", *order)``: what runs at each step."""
        return ("input", *self.order)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "order": list(self.order), "step_bytes": list(self.step_bytes),
            "peak_bytes": self.peak_bytes, "peak_step": self.peak_step,
            "peak_node": self.peak_node, "peak_tensor": self.peak_tensor,
            "alive_at_peak": [[name, size] for name, size in self.alive_at_peak],
            "dtype": self.dtype, "inplace": self.inplace, "fingerprint": self.fingerprint,
            "default_peak_bytes": self.default_peak_bytes, "exact": self.exact,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemoryPlan:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise MemoryPlanError(f"not a memory plan: format {got!r}, expected {FORMAT!r}")
        try:
            plan = cls(
                order=tuple(str(n) for n in data["order"]),
                step_bytes=tuple(int(b) for b in data["step_bytes"]),
                peak_bytes=int(data["peak_bytes"]), peak_step=int(data["peak_step"]),
                peak_node=str(data["peak_node"]), peak_tensor=str(data["peak_tensor"]),
                alive_at_peak=tuple((str(n), int(b)) for n, b in data["alive_at_peak"]),
                dtype=str(data["dtype"]), inplace=bool(data["inplace"]),
                fingerprint=str(data.get("fingerprint", "")),
                default_peak_bytes=(None if data.get("default_peak_bytes") is None
                                    else int(data["default_peak_bytes"])),
                exact=None if data.get("exact") is None else bool(data["exact"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise MemoryPlanError(f"memory plan is missing or has a bad field: {err}") from None
        if len(plan.step_bytes) != len(plan.order) + 1:
            raise MemoryPlanError(f"memory plan has {len(plan.step_bytes)} step_bytes for "
                                  f"{len(plan.order)} nodes; expected one per node plus the input")
        return plan

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> MemoryPlan:
        return cls.from_dict(loads(text, "the memory plan", MemoryPlanError))

    def write(self, path: str | Path) -> Path:
        """Write the plan as JSON (e.g. ``best/memory_plan.json``); returns the path."""
        path = Path(path)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> MemoryPlan:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise MemoryPlanError(f"cannot read memory plan {str(path)!r}: {err}") from None
        return cls.from_json(text)


def memory_plan(
    graph: ArchGraph,
    order: Sequence[str] | None = None,
    dtype: str = "fp32",
    inplace: bool = True,
    default_peak_bytes: int | None = None,
    exact: bool | None = None,
) -> MemoryPlan:
    """The memory plan of ``graph`` run in ``order`` (default: the graph's own order).

    ``default_peak_bytes`` and ``exact`` record, when the order came from
    :func:`~fitnas.costs.schedule.best_order`, the peak under the graph's order and whether the
    order is proven optimal; pass ``schedule.default_peak_bytes`` and ``schedule.exact``.
    """
    table = lifetime_table(graph, order, dtype, inplace)
    step = table.peak_step
    alive = table.alive(step)
    alive_at_peak = tuple((b.name, table.buffer_bytes(b)) for b in alive)
    workspace = table.workspace_bytes(step)
    if workspace:
        alive_at_peak += ((f"{table.steps[step]}:workspace", workspace),)
        alive_at_peak = tuple(sorted(alive_at_peak, key=lambda item: -item[1]))
    return MemoryPlan(
        order=table.plan.order, step_bytes=table.totals, peak_bytes=table.peak_bytes,
        peak_step=step, peak_node=table.peak_node,
        peak_tensor=alive_at_peak[0][0] if alive_at_peak else "input",
        alive_at_peak=alive_at_peak, dtype=dtype, inplace=inplace,
        fingerprint=graph.fingerprint(), default_peak_bytes=default_peak_bytes, exact=exact,
    )
