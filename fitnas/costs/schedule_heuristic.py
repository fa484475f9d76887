"""Heuristic orders: the budget of the exact search, and its fallback when that runs out of time.

Two greedy list schedulers (at every step run a ready node; SERENITY, Ahn et al. MLSys 2020,
uses such an order as the first budget of its dynamic programme, section 3.2):

* ``"peak"``: the ready node whose step raises the running peak least, ties broken by the
  memory left after it, then by the graph's order;
* ``"free"``: the ready node that leaves the least memory after it (frees most), ties by its
  step cost.

Both take the forced moves of ``schedule_dp`` first when there are any. The best of them and the
graph's own order is then improved by local search: move one node to another position between
its last producer and its first consumer, keep the move if it lowers the peak, or keeps the peak
and lowers the sum of the step costs (to leave plateaus), until no move helps or the deadline
passes. The result is an order, never a proof: orders from here are marked ``exact=False``
unless the exact search confirms them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .schedule_dp import forced_move
from .schedule_model import SetModel, bits

__all__ = ["greedy_order", "local_search", "segment_cost"]


def segment_cost(model: SetModel, order: Sequence[int], base: int) -> tuple[int, int]:
    """``(peak, sum of step costs)`` of running ``order`` after ``base`` (input bit added)."""
    done = base | model.input_bit
    mem = model.memory(done)
    peak = model.input_bytes if done == model.input_bit else 0
    total = 0
    for v in order:
        cost, mem = model.step(done, mem, v)
        peak = max(peak, cost)
        total += cost
        done |= 1 << v
    return peak, total


def greedy_order(model: SetModel, segment: int, base: int, rule: str = "peak") -> list[int]:
    """A list schedule of the nodes of ``segment`` after ``base``, by ``rule`` (see above)."""
    done = base | model.input_bit
    mem = model.memory(done)
    peak = model.input_bytes if done == model.input_bit else 0
    order: list[int] = []
    remaining = segment
    while remaining:
        ready = [v for v in bits(remaining) if not model.preds[v] & ~done]
        forced = forced_move(model, segment, done, peak, mem, ready)
        if forced is not None:
            chain, _, mem = forced
        else:
            scored = []
            for v in ready:
                cost, after = model.step(done, mem, v)
                key = (max(peak, cost), after, v) if rule == "peak" else (after, cost, v)
                scored.append((key, v, cost, after))
            _, v, cost, mem = min(scored)
            peak = max(peak, cost)
            chain = [v]
        for v in chain:
            done |= 1 << v
            remaining &= ~(1 << v)
        order.extend(chain)
    return order


def local_search(
    model: SetModel, order: list[int], base: int, deadline: float
) -> list[int]:
    """Improve ``order`` by single-node moves until none helps or ``deadline`` passes."""
    best = list(order)
    best_cost = segment_cost(model, best, base)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for i in range(len(best)):
            v = best[i]
            lo = max((k for k in range(i) if model.preds[v] >> best[k] & 1), default=-1) + 1
            hi = min((k for k in range(i + 1, len(best)) if model.consumers[v] >> best[k] & 1),
                     default=len(best)) - 1
            for j in range(lo, hi + 1):
                if j == i:
                    continue
                trial = best[:i] + best[i + 1:]
                trial.insert(j, v)
                cost = segment_cost(model, trial, base)
                if cost < best_cost:
                    best, best_cost, improved = trial, cost, True
                    break
            if time.perf_counter() >= deadline:
                break
    return best
