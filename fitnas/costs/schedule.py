"""The memory-optimal execution order: the topological order of smallest peak activation bytes.

Paper 000 (MemNAS, section 3.4) computes the peak of live activation bytes for one fixed order.
For networks with branches the order of independent operations changes that peak; SERENITY
(Ahn et al., MLSys 2020) finds the best order by dynamic programming over sets of scheduled
nodes. :func:`best_order` does the same, for the lifetime model of ``fitnas.costs.lifetime``
with all its rules (in-place reuse, views, workspaces, weights, the input alive until its last
reader, outputs alive to the end), in three stages:

1. ``schedule_split``: cut the graph at single-tensor cut points into pieces that can be
   ordered independently (the peak is the largest piece peak).
2. For each piece, largest first: heuristic orders (``schedule_heuristic``) give a budget; the
   exact dynamic programme (``schedule_dp``) either proves the budget optimal or finds a better
   order. The programme's values are clamped to a lower bound of the whole graph's optimum (the
   largest unavoidable step, and the pieces already solved exactly), so a piece whose steps all
   stay under the peak already set elsewhere costs next to nothing.
3. A piece whose search passes the time limit keeps its heuristic order improved by local
   search, and the schedule is marked ``exact=False``.

"Exact" means: no topological order of the graph has a smaller peak under the lifetime model of
``fitnas.costs.lifetime`` (for this dtype and in-place setting). The peak reported is always
recomputed with :func:`~fitnas.costs.lifetime.peak_activation_bytes` on the order returned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..arch import ArchGraph
from ..errors import FitnasError
from .dtypes import DTYPE_BYTES
from .lifetime import peak_activation_bytes
from .memory_plan import MemoryPlan, memory_plan
from .schedule_dp import SearchLimit, exact_order
from .schedule_heuristic import greedy_order, local_search, segment_cost
from .schedule_model import SetModel
from .schedule_split import pieces

__all__ = ["Schedule", "ScheduleError", "best_order", "lower_bound"]


class ScheduleError(FitnasError):
    """A bad argument to the scheduler (time limit, dtype, order)."""


@dataclass(frozen=True)
class Schedule:
    """A topological order and its peak activation bytes, against the graph's own order."""

    order: tuple[str, ...]
    peak_bytes: int
    default_peak_bytes: int
    exact: bool
    dtype: str = "fp32"
    inplace: bool = True
    pieces: int = 1
    states: int = 0
    seconds: float = 0.0
    inexact_pieces: tuple[int, ...] = field(default=())

    @property
    def reduction(self) -> float:
        """Default peak over best peak (1.0: no gain)."""
        return self.default_peak_bytes / self.peak_bytes if self.peak_bytes else 1.0

    def memory_plan(self, graph: ArchGraph) -> MemoryPlan:
        """The memory plan of ``graph`` run in this order (what an exported model carries)."""
        return memory_plan(graph, self.order, self.dtype, self.inplace,
                           default_peak_bytes=self.default_peak_bytes, exact=self.exact)

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": list(self.order), "peak_bytes": self.peak_bytes,
            "default_peak_bytes": self.default_peak_bytes, "exact": self.exact,
            "dtype": self.dtype, "inplace": self.inplace, "pieces": self.pieces,
            "states": self.states, "seconds": self.seconds,
            "inexact_pieces": list(self.inexact_pieces),
        }


def lower_bound(model: SetModel) -> int:
    """Bytes every order needs: the input step, the outputs at the end, and each node's step
    with its inputs alive, its workspace and its output unless it can be written in place."""
    lb = max(model.input_bytes, model.memory(model.all_nodes))
    for v in range(model.n):
        inputs = sum(model.group_size[g] for g in {model.group[t] for t in model.inputs[v]})
        own = 0 if model.alias[v] or model.inplace_srcs[v] else model.alloc[v]
        lb = max(lb, inputs + own + model.workspace[v])
    return lb


def best_order(
    graph: ArchGraph,
    dtype: str = "fp32",
    inplace: bool = True,
    time_limit: float = 10.0,
    max_states: int = 2_000_000,
) -> Schedule:
    """The topological order of ``graph`` with the smallest peak activation bytes.

    ``time_limit`` (seconds) bounds the exact search over all pieces together; past it the
    remaining pieces keep their heuristic orders (improved by local search for at most a
    quarter of the limit) and the result has ``exact=False``. ``max_states`` bounds the states
    held by the search of one piece (memory).
    """
    if dtype not in DTYPE_BYTES:
        raise ScheduleError(f"unknown dtype {dtype!r}; accepted: {', '.join(DTYPE_BYTES)}")
    if not isinstance(time_limit, (int, float)) or isinstance(time_limit, bool) \
            or not time_limit > 0:
        raise ScheduleError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    if not isinstance(max_states, int) or max_states < 1:
        raise ScheduleError(f"max_states must be a positive int, got {max_states!r}")
    start = time.perf_counter()
    deadline = start + time_limit
    model = SetModel(graph, dtype, inplace)
    default_order = list(range(model.n))
    default_peak = model.peak(default_order)
    parts = pieces(model)
    floor = lower_bound(model)

    solved: dict[int, list[int]] = {}
    candidates: dict[int, list[int]] = {}
    heuristic_peak: dict[int, int] = {}
    for i, part in enumerate(parts):
        base = _base(parts, i)
        options = [[v for v in default_order if part >> v & 1],
                   greedy_order(model, part, base, "peak"),
                   greedy_order(model, part, base, "free")]
        candidates[i] = min(options, key=lambda o: segment_cost(model, o, base))
        heuristic_peak[i] = segment_cost(model, candidates[i], base)[0]

    states = 0
    inexact: list[int] = []
    for i in sorted(range(len(parts)), key=lambda k: -heuristic_peak[k]):
        base = _base(parts, i)
        budget = max(floor, heuristic_peak[i])
        try:
            order, value, used = exact_order(model, parts[i], base, floor, budget, deadline,
                                             max_states)
        except SearchLimit:
            inexact.append(i)
            continue
        states += used
        solved[i] = order if order is not None else candidates[i]
        floor = max(floor, value if order is not None else budget)

    polish_until = time.perf_counter() + time_limit / 4
    for i in inexact:
        solved[i] = local_search(model, candidates[i], _base(parts, i), polish_until)

    indices = [v for i in range(len(parts)) for v in solved[i]]
    order_names = tuple(model.names[v] for v in indices)
    peak = peak_activation_bytes(graph, order_names, dtype, inplace)
    claimed = model.peak(indices)
    if peak != claimed:  # the set model and the lifetime model disagree: a bug, not bad input
        raise RuntimeError(f"scheduler model says {claimed} B, lifetime model {peak} B for "
                           f"{graph.name or 'graph'}; please report this graph")
    if peak > default_peak:  # only possible for an inexact search
        order_names, peak = graph.order, default_peak
    return Schedule(
        order=order_names, peak_bytes=peak, default_peak_bytes=default_peak,
        exact=not inexact, dtype=dtype, inplace=inplace, pieces=len(parts), states=states,
        seconds=time.perf_counter() - start, inexact_pieces=tuple(sorted(inexact)),
    )


def _base(parts: Sequence[int], i: int) -> int:
    """The nodes of the pieces before piece ``i``."""
    mask = 0
    for part in parts[:i]:
        mask |= part
    return mask
