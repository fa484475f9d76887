"""Derive a genotype that meets the device limit (beyond paper 004: its hard limit, exact).

The look-up graph (section 3.2.1) picks the search-time target ``K_s`` whose derived network
met the limit ``K_d`` in the searches it was built from; a new search (another seed, data or
number of epochs) can still derive a network a little over it, which the Study would then
record ``INFEASIBLE`` and never train. fitnas honours a hard limit before anything is trained,
so when DARTS' derivation (top-2 edges per node, argmax operation) gives a genotype over the
limit, it is brought under it with the least loss of architecture weight:

    while K(g) > K_d:
        among the kept edges e with operation o and every other operation o' of that edge
        that lowers the cost, replace the one with the least
            (log p_e(o) - log p_e(o')) / (K(g) - K(g with o' for o on e))
        (the log-probability given up per unit of cost saved; p = softmax(alpha_e), K the
        exact cost of the genotype's network: for parameters and MACs the difference of
        eq. 3's table entries of that edge, for the peak (``fitnas.supernet.peak``) the
        difference of the two networks' exact peaks, which depend on the whole cell)

Every step lowers the cost, so the loop ends; if no cheaper operation is left on the kept
edges and the genotype is still over the limit, the space's cheapest genotype is taken (it meets
any limit :func:`fitnas.supernet.run.plan_search` accepts), and every operation it changes
counts as replaced. (For the peak this happens: nb201's peak is set by several tensors live at
once, so one operation replaced may not lower it.) The edges a node keeps are not
changed: they are what the search ranked highest.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from .expected import CostSurrogate

__all__ = ["derive_within"]


def _slots(expected: CostSurrogate, genotype: Any) -> list[tuple[str, int, int, int]]:
    """``(kind, position in the encoding, edge row, op column)`` of every kept operation."""
    if expected.space.name == "nb201":
        return [("cell", e, e, expected.ops.index(op)) for e, op in enumerate(genotype)]
    index = {edge: e for e, edge in enumerate(expected.edges)}
    return [(kind, k, index[(k // 2, source)], expected.ops.index(op))
            for kind, cell in zip(expected.kinds, genotype) for k, (op, source) in enumerate(cell)]


def _replace(expected: CostSurrogate, genotype: Any, kind: str, position: int, op: str) -> Any:
    if expected.space.name == "nb201":
        return expected.space.validate(
            tuple(op if e == position else o for e, o in enumerate(genotype)))
    cells = []
    for k, cell in zip(expected.kinds, genotype):
        pairs = list(cell)
        if k == kind:
            pairs[position] = (op, pairs[position][1])
        cells.append(tuple(pairs))
    return expected.space.validate(tuple(cells))


def _changed(expected: CostSurrogate, genotype: Any, other: Any) -> int:
    """How many kept operations (or, on darts, kept edges) differ between two genotypes."""
    if expected.space.name == "nb201":
        return sum(a != b for a, b in zip(genotype, other))
    return sum(a != b for cell, twin in zip(genotype, other) for a, b in zip(cell, twin))


def derive_within(expected: CostSurrogate, genotype: Any, probabilities: dict[str, Tensor],
                  limit: float) -> tuple[Any, int]:
    """``genotype`` brought under ``limit`` (see the module docstring); the genotype and the
    number of operations replaced (0 when it already met the limit)."""
    rows = {kind: p.detach().double().cpu() for kind, p in probabilities.items()}
    allowed = [o for o, op in enumerate(expected.ops)
               if not (op == "none" and expected.space.name == "darts")]
    steps = 0
    while (now := expected.of_encoding(genotype)) > limit:
        best: tuple[float, int, str, int, int] | None = None
        for kind, position, e, o in _slots(expected, genotype):
            p = rows[kind][e]
            for cheaper in allowed:
                if cheaper == o:
                    continue
                saving = now - expected.of_encoding(
                    _replace(expected, genotype, kind, position, expected.ops[cheaper]))
                if saving <= 0:
                    continue
                loss = (math.log(max(float(p[o]), 1e-30)) -
                        math.log(max(float(p[cheaper]), 1e-30))) / saving
                key = (loss, steps, kind, position, cheaper)
                if best is None or key[0] < best[0]:
                    best = key
        if best is None:
            cheapest = expected.cheapest()
            return cheapest, steps + _changed(expected, genotype, cheapest)
        _, _, kind, position, cheaper = best
        genotype = _replace(expected, genotype, kind, position, expected.ops[cheaper])
        steps += 1
    return genotype, steps
