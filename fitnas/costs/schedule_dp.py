"""Exact memory-optimal order of one piece of a graph: dynamic programming over sets.

SERENITY (Ahn et al., MLSys 2020, section 3.1, eq. 1-2) finds the order of smallest peak by a
dynamic programme whose state is the set ``S`` of scheduled nodes (a down-set of the DAG): the
memory alive after ``S`` is a function of ``S`` (``schedule_model``), so of all partial orders
reaching ``S`` only one with the smallest partial peak ``P(S)`` need be kept. States are expanded
by size, ``|S| = 0, 1, ...``; a state is expanded after all its predecessors, so ``P(S)`` is final
then. Two prunings keep it small, both exact:

* Budget and thresholds (SERENITY's "adaptive soft budgeting", section 3.2): a heuristic
  order gives a peak ``B``; only orders below ``B`` are of interest, and if none exists the
  heuristic order is optimal. The programme runs with a threshold ``L < B`` and drops every
  transition whose partial peak exceeds ``L``; it still finds the exact minimum whenever that
  is at most ``L``, and when it finds nothing, the smallest partial peak it dropped is a new
  lower bound of the optimum. ``L`` rises from the lower bound (the optimum, often: then few
  states survive) to ``B - 1`` (see :func:`exact_order`).
* Forced moves (an exchange argument, in the manner of Liu's hill-valley chains, 1987). Let
  ``floor`` be a lower bound of the optimum (``P`` values are clamped to it). Let ``v`` be a
  ready node that is the last reader of every group it reads (every produced member of those
  groups has all its consumers in ``S | {v}``), then ``u_2, u_3, ...`` the chain after it: each
  ``u`` reads only the previous node's output and is the last reader of its group. Running the
  first ``j`` nodes of that chain now changes ``M`` by the same amount, and allocates the same,
  whenever they run (nothing else reads what they free or produce before they finish), and no
  other node's in-place choice depends on them. So if every step of the ``j`` nodes costs at
  most ``P(S)`` and ``M`` after the ``j``-th is no larger than ``M`` after any shorter prefix
  (including none), moving them to the front of any completion from ``S`` lowers or keeps every
  step's cost: some optimal order runs them now, and the programme takes only that move from
  ``S``. This collapses the chains (relu, conv, batchnorm ...) of a cell into single moves.

The search stops with :class:`SearchLimit` when it passes its deadline or holds ``max_states``
states; the caller then falls back to the heuristics of ``schedule_heuristic``.
"""

from __future__ import annotations

import time

from .schedule_model import SetModel, bits

__all__ = ["SearchLimit", "exact_order", "forced_move"]


class SearchLimit(Exception):
    """The exact search ran out of time or memory (internal: the caller falls back)."""


def forced_move(
    model: SetModel, segment: int, done: int, peak: int, mem: int, ready: list[int]
) -> tuple[list[int], int, int] | None:
    """A move some optimal completion from ``done`` starts with, as ``(nodes, peak, mem)``."""
    read_cons = model.read_cons
    for v in ready:
        after = done | 1 << v
        if read_cons[v] & ~after:  # not the last reader of every group it reads
            continue
        cost, new = model.step(done, mem, v)
        if cost > peak:
            continue
        chain, low, take, mems = [v], mem, 0, [new]
        if new <= low:
            take = 1
        low = min(low, new)
        cur, state, m = v, after, new
        while True:
            nxt = model.consumers[cur]
            if nxt & (nxt - 1) or not nxt & segment:
                break
            u = nxt.bit_length() - 1
            if model.inputs[u] != (cur,) or read_cons[u] & ~(state | 1 << u):
                break
            cost, m = model.step(state, m, u)
            if cost > peak:
                break
            chain.append(u)
            mems.append(m)
            state |= 1 << u
            cur = u
            if m <= low:
                take = len(chain)
            low = min(low, m)
        if take:
            return chain[:take], peak, mems[take - 1]
    return None


def exact_order(
    model: SetModel,
    segment: int,
    base: int,
    floor: int,
    budget: int,
    deadline: float,
    max_states: int = 2_000_000,
) -> tuple[list[int] | None, int, int]:
    """The order of the nodes of ``segment`` (run after ``base``) of smallest clamped peak.

    Returns ``(order, value, states)``: ``value = max(floor, peak of order)``, the smallest over
    all orders, and ``order`` is ``None`` when no order has ``value < budget``. ``base`` holds
    every node that runs before the segment (the input bit is added here); all of the
    segment's readers of nodes outside it must be in ``base``.

    The programme runs with a threshold ``limit``: transitions whose partial peak exceeds it are
    dropped, and it still returns the exact minimum when some order is within ``limit``. When
    none is, every order passes through a dropped transition, so the smallest dropped partial
    peak is a lower bound of the optimum: it becomes the new ``floor`` (which also forces more
    moves). Thresholds: up to six times the floor itself (a reachability question, answered
    depth-first by :func:`_reach`), then a quarter and half of the way to ``budget``, then
    just below ``budget`` (a failure there proves the heuristic order optimal).
    """
    states = 0
    for frac in (0.0,) * 6 + (0.25, 0.5, 1.0):
        if floor >= budget:
            break
        limit = floor + int((budget - 1 - floor) * frac)
        search = _reach if limit == floor else _search
        order, value, used, over = search(model, segment, base, floor, limit, deadline,
                                          max_states)
        states += used
        if order is not None:
            return order, value, states
        floor = over  # no order stays within limit: the optimum is at least ``over``
    return None, budget, states


def _ready_at_start(preds: list[int], segment: int, base: int) -> int:
    """The nodes of ``segment`` whose predecessors are all in ``base`` (a bit mask)."""
    ready = 0
    for v in bits(segment):
        if not preds[v] & ~base:
            ready |= 1 << v
    return ready


def _search(
    model: SetModel, segment: int, base: int, floor: int, limit: int, deadline: float,
    max_states: int,
) -> tuple[list[int] | None, int, int, int]:
    """The dynamic programme, dropping states whose clamped partial peak exceeds ``limit``.

    Returns ``(order, value, states, over)``; ``over`` is the smallest partial peak dropped
    (meaningful when no order was found: then every order's peak is at least ``over``)."""
    base |= model.input_bit
    full = base | segment
    preds, consumers, read_cons = model.preds, model.consumers, model.read_cons
    first_ready = _ready_at_start(preds, segment, base)
    # state -> (clamped peak, memory after, parent state, nodes of the move, ready nodes)
    best: dict[int, tuple[int, int, int, tuple[int, ...], int]] = {
        base: (floor, model.memory(base), -1, (), first_ready)}
    size = bin(segment).count("1")
    layers: list[list[int]] = [[] for _ in range(size + 1)]
    layers[0].append(base)
    expanded = 0
    over = 1 << 62
    for k in range(size):
        for state in layers[k]:
            peak, mem, _, _, ready_mask = best[state]
            expanded += 1
            if expanded & 255 == 0 and (time.perf_counter() > deadline
                                         or len(best) > max_states):
                raise SearchLimit(f"{expanded} states expanded")
            ready = list(bits(ready_mask))
            lasts = [v for v in ready if not read_cons[v] & ~(state | 1 << v)]
            forced = forced_move(model, segment, state, peak, mem, lasts) if lasts else None
            moves: list[tuple[tuple[int, ...], int, int]] = []
            if forced is not None:
                moves.append((tuple(forced[0]), forced[1], forced[2]))
            else:
                for v in ready:
                    cost, new_mem = model.step(state, mem, v)
                    new_peak = max(peak, cost)
                    if new_peak <= limit:
                        moves.append(((v,), new_peak, new_mem))
                    elif new_peak < over:
                        over = new_peak
            for move, new_peak, new_mem in moves:
                nxt, nxt_ready = state, ready_mask
                for v in move:
                    nxt |= 1 << v
                    nxt_ready &= ~(1 << v)
                    for w in bits(consumers[v] & segment):
                        if not preds[w] & ~nxt:
                            nxt_ready |= 1 << w
                old = best.get(nxt)
                if old is None:
                    layers[k + len(move)].append(nxt)
                elif old[0] <= new_peak:
                    continue
                best[nxt] = (new_peak, new_mem, state, move, nxt_ready)
        layers[k] = []
    if full not in best:
        return None, limit, len(best), over
    order: list[int] = []
    state = full
    while state != base:
        _, _, parent, move, _ = best[state]
        order[:0] = move
        state = parent
    return order, best[full][0], len(best), over


def _reach(
    model: SetModel, segment: int, base: int, floor: int, limit: int, deadline: float,
    max_states: int,
) -> tuple[list[int] | None, int, int, int]:
    """:func:`_search` for ``limit == floor``: every kept partial peak is then ``floor``, so
    the question is only whether the full set is reachable by steps costing at most ``floor``;
    a depth-first search (moves that leave the least memory first) answers it, usually after a
    single dive when the answer is yes. Same returns as :func:`_search`."""
    base |= model.input_bit
    full = base | segment
    preds, consumers, read_cons = model.preds, model.consumers, model.read_cons
    ready0 = _ready_at_start(preds, segment, base)
    over = 1 << 62
    seen = {base}
    expanded = 0

    def moves(state: int, mem: int, ready_mask: int) -> list[tuple[int, tuple[int, ...]]]:
        nonlocal over
        ready = list(bits(ready_mask))
        lasts = [v for v in ready if not read_cons[v] & ~(state | 1 << v)]
        forced = forced_move(model, segment, state, floor, mem, lasts) if lasts else None
        if forced is not None:
            return [(forced[2], tuple(forced[0]))]
        out: list[tuple[int, tuple[int, ...]]] = []
        for v in ready:
            cost, new_mem = model.step(state, mem, v)
            if cost <= limit:
                out.append((new_mem, (v,)))
            elif cost < over:
                over = cost
        out.sort(reverse=True)  # popped from the end: least memory first
        return out

    # stack of (state, ready nodes, the move that led here, moves left to try)
    root: tuple[int, ...] = ()
    stack = [(base, ready0, root, moves(base, model.memory(base), ready0))]
    while stack:
        state, ready_mask, _, todo = stack[-1]
        if state == full:
            return [v for frame in stack for v in frame[2]], floor, len(seen), over
        if not todo:
            stack.pop()
            continue
        new_mem, move = todo.pop()
        nxt, nxt_ready = state, ready_mask
        for v in move:
            nxt |= 1 << v
            nxt_ready &= ~(1 << v)
            for w in bits(consumers[v] & segment):
                if not preds[w] & ~nxt:
                    nxt_ready |= 1 << w
        if nxt in seen:
            continue
        seen.add(nxt)
        expanded += 1
        if expanded & 255 == 0 and (time.perf_counter() > deadline or len(seen) > max_states):
            raise SearchLimit(f"{expanded} states expanded")
        stack.append((nxt, nxt_ready, move, moves(nxt, new_mem, nxt_ready)))
    return None, limit, len(seen), over
