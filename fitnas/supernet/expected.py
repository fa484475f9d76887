"""The expected cost K(alpha) of a supernet (paper 004 eq. 3), from fitnas' own analytic costs.

Paper 004 eq. 3 (blank in our copy; reconstructed from section 3.2's prose, "the architecture's
number of parameters or FLOPs during search given the number of cells", and from DARTS' mixed
operation, eq. 1 of Liu et al. 2019):

    K(alpha) = K_0 + sum_{k=1}^{n} sum_{(i,j) in E} sum_{o in O} softmax(alpha_{t(k), ij})_o * c_{k,ij,o}

where ``k`` runs over the network's ``n`` cells, ``t(k)`` is the kind of cell ``k`` (DARTS:
normal or reduction; every cell of a kind shares that kind's alpha; NAS-Bench-201: one kind),
``E`` are a cell's edges, ``O`` the candidate operations, ``c_{k,ij,o}`` the cost (parameters or
MACs, fitnas' conventions: trainable weights, multiply-accumulates not 2x) of operation ``o``
on edge ``(i, j)`` *at cell k's position in the network the search derives* (its channels,
stride and feature-map size), and ``K_0`` the cost of everything that does not depend on alpha
(stem, each cell's preprocessing, reduction blocks, classifier). ``none`` costs 0.

The table ``c`` is not a hand-written formula per op: it is read off fitnas' own decoder and
cost arithmetic. For each operation a few encodings that put it on every edge are decoded
(3 per op for ``darts``, whose nodes take two of their inputs; 1 per op for ``nb201``), and
every node of the ArchGraph is attributed to the edge whose name prefix it carries
(``DartsSpace.edge_prefix``, nb201's ``s{stage}c{k}_e{i}{j}_``); what no edge claims is
``K_0``, and it must come out the same for every decoded encoding (checked). Because a
network's parameters and MACs are sums over its nodes, K(alpha) at a one-hot alpha that puts
the derived genotype's operations on its edges and ``none`` on the others is *exactly* the
derived network's count (``tests/supernet/test_expected.py``). At any other alpha it is the
softmax-weighted mixture, larger than what the derivation keeps (DARTS keeps two of a node's
2..5 edges): the gap that paper 004's look-up graph (section 3.2.1, ``fitnas.supernet.lug``)
closes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch
from torch import Tensor

from ..arch import ArchGraph
from ..errors import FitnasError
from ..spaces import SearchSpace

__all__ = ["EXPECTED_COSTS", "LINEAR_COSTS", "AlphaLayout", "CostSurrogate", "ExpectedCost", "SupernetError",
           "cell_layout", "cheapest_encoding", "expected_cost", "smallest_cost"]

#: The costs that add up over a network's nodes, so K(alpha) is linear in the probabilities.
LINEAR_COSTS = ("params", "macs")
#: The costs a search can constrain: the linear ones (this module) and ``peak``, the peak
#: activation bytes (``fitnas.supernet.peak``, a different expectation: see there).
EXPECTED_COSTS = (*LINEAR_COSTS, "peak")


class SupernetError(FitnasError):
    """A differentiable search was asked for something it cannot do."""


def cell_layout(space: SearchSpace) -> dict[str, Any]:
    """What the supernet code needs of a space: its cell ``kinds``, ``ops``, ``edges`` and, for
    each cell of the network, its kind and the name prefix of each of its edges."""
    if space.name == "darts":
        from ..spaces import darts

        reductions = set(space.reductions)  # type: ignore[attr-defined]
        cells = []
        for k in range(space.layers):  # type: ignore[attr-defined]
            kind = "reduce" if k in reductions else "normal"
            prefixes = tuple(space.edge_prefix(k, node, source)  # type: ignore[attr-defined]
                             for node, source in darts.EDGES)
            cells.append((kind, prefixes))
        return {"kinds": ("normal", "reduce"), "ops": tuple(darts.OPS),
                "edges": tuple(darts.EDGES), "cells": cells}
    if space.name == "nb201":
        from ..spaces import nb201

        cells = [("cell", tuple(f"s{stage}c{k}_e{i}{j}_" for i, j in nb201.EDGES))
                 for stage in range(3) for k in range(space.cells_per_stage)]  # type: ignore[attr-defined]
        return {"kinds": ("cell",), "ops": tuple(nb201.OPS), "edges": tuple(nb201.EDGES),
                "cells": cells}
    raise SupernetError(f"a supernet needs the darts or the nb201 space, got {space.name!r}")


def _covering_encodings(space: SearchSpace, op: str) -> list[Any]:
    """Encodings that, together, put ``op`` on every edge of every cell."""
    if space.name == "nb201":
        from ..spaces import nb201

        return [tuple(op for _ in nb201.EDGES)]
    out = []
    for g in range(3):  # node i reads sources 0..i+1: three pairs cover the 5 of node 3
        pairs = []
        for node in range(4):
            sources = list(range(node + 2))
            a, b = sources[(2 * g) % len(sources)], sources[(2 * g + 1) % len(sources)]
            pairs += [(op, a), (op, b)]
        cell = tuple(pairs)
        out.append(space.validate((cell, cell)))
    return out


def _node_cost(graph: ArchGraph, name: str, cost: str) -> int:
    return graph.node_params(name) if cost == "params" else graph.node_macs(name)


class CostSurrogate(Protocol):
    """What a search needs of an expected cost (:class:`ExpectedCost`, ``ExpectedPeak``)."""

    space: SearchSpace
    cost: str
    kinds: tuple[str, ...]
    ops: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]

    def __call__(self, probabilities: Mapping[str, Tensor]) -> Tensor: ...
    def of_encoding(self, encoding: Any) -> float: ...
    def at_uniform(self) -> float: ...
    def smallest(self) -> float: ...
    def cheapest(self) -> Any: ...


class AlphaLayout:
    """The cells, edges and operations alpha is laid out over (``cell_layout``), and the
    one-hot "probabilities" of a genotype: what every expected cost shares."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        layout = cell_layout(space)
        self.kinds: tuple[str, ...] = layout["kinds"]
        self.ops: tuple[str, ...] = layout["ops"]
        self.edges: tuple[tuple[int, int], ...] = layout["edges"]
        self._cells: list[tuple[str, tuple[str, ...]]] = layout["cells"]

    def one_hot(self, encoding: Any) -> dict[str, Tensor]:
        """The one-hot 'probabilities' of a genotype: its operations on its edges, ``none`` on
        the edges it does not keep."""
        enc = self.space.validate(encoding)
        out = {kind: torch.zeros(len(self.edges), len(self.ops), dtype=torch.float64)
               for kind in self.kinds}
        if self.space.name == "nb201":
            for e, op in enumerate(enc):
                out["cell"][e, self.ops.index(op)] = 1.0
            return out
        index = {edge: e for e, edge in enumerate(self.edges)}
        for kind, cell in zip(self.kinds, enc):
            kept = set()
            for pair, (op, source) in enumerate(cell):
                e = index[(pair // 2, source)]
                out[kind][e, self.ops.index(op)] = 1.0
                kept.add(e)
            for e in set(range(len(self.edges))) - kept:
                out[kind][e, self.ops.index("none")] = 1.0
        return out


def expected_cost(space: SearchSpace, cost: str = "params", dtype: str = "fp32"
                  ) -> CostSurrogate:
    """The expected cost a search constrains: :class:`ExpectedCost` for ``params``/``macs``,
    ``fitnas.supernet.peak.ExpectedPeak`` (at ``dtype``) for ``peak``."""
    if cost == "peak":
        from .peak import ExpectedPeak

        return ExpectedPeak(space, dtype=dtype)
    if cost not in LINEAR_COSTS:
        raise SupernetError(f"a search constrains {', '.join(EXPECTED_COSTS)}, got {cost!r}")
    return ExpectedCost(space, cost)


class ExpectedCost(AlphaLayout):
    """K(alpha) of ``space``'s network for one cost (paper 004 eq. 3; see the module docstring).

    Args:
        space: a ``darts`` or ``nb201`` space (the network the search derives).
        cost: ``params`` or ``macs``.

    Attributes:
        kinds, ops, edges: as :func:`cell_layout`.
        table: kind -> ``(len(edges), len(ops))`` float64 tensor, ``c`` summed over the cells
            of that kind.
        fixed: ``K_0``.
    """

    def __init__(self, space: SearchSpace, cost: str = "params") -> None:
        if cost not in LINEAR_COSTS:
            raise SupernetError(f"K(alpha) is of {' or '.join(LINEAR_COSTS)}, got {cost!r}")
        super().__init__(space)
        self.cost = cost
        self.table = {kind: torch.zeros(len(self.edges), len(self.ops), dtype=torch.float64)
                      for kind in self.kinds}
        self.fixed = self._fill()

    def _fill(self) -> float:
        owner = {prefix: (kind, e) for kind, prefixes in self._cells
                 for e, prefix in enumerate(prefixes)}
        fixed: set[int] = set()
        for o, op in enumerate(self.ops):
            if op == "none" and self.space.name == "darts":
                continue  # never in a genotype; it costs nothing
            seen: dict[str, int] = {}  # edge prefix -> cost (an edge covered twice: once)
            for enc in _covering_encodings(self.space, op):
                graph = self.space.decode(enc)
                rest, per_edge = 0, dict.fromkeys(owner, 0)
                for name in graph.order:
                    prefix = _prefix_of(name, owner)
                    value = _node_cost(graph, name, self.cost)
                    if prefix is None:
                        rest += value
                    else:
                        per_edge[prefix] += value
                fixed.add(rest)
                for prefix in _present_prefixes(graph, owner):
                    seen[prefix] = per_edge[prefix]
            for prefix, value in seen.items():
                kind, e = owner[prefix]
                self.table[kind][e, o] += value
        if len(fixed) != 1:
            raise SupernetError(f"the {self.space.name} decoder's cost outside the edges varies "
                                f"with the genotype ({sorted(fixed)}): K(alpha) would not be "
                                "exact")
        return float(fixed.pop())

    def __call__(self, probabilities: Mapping[str, Tensor]) -> Tensor:
        """K(alpha) for ``probabilities`` (kind -> softmax(alpha), ``(edges, ops)``); keeps the
        autograd graph, so ``K.backward()`` reaches alpha."""
        total: Tensor | None = None
        for kind in self.kinds:
            p = probabilities[kind]
            term = (p.to(torch.float64) * self.table[kind].to(p.device)).sum()
            total = term if total is None else total + term
        assert total is not None
        return total + self.fixed

    def of_encoding(self, encoding: Any) -> float:
        """K at the one-hot alpha of a genotype: the derived network's exact cost."""
        return float(self(self.one_hot(encoding)))

    def at_uniform(self) -> float:
        """K at uniform alpha (every operation of every edge weighted alike): where a search
        starts (DARTS' alpha is ~0), so a target at or above it does not bind at first."""
        return self.fixed + sum(float(t.sum()) / len(self.ops) for t in self.table.values())

    def smallest(self) -> float:
        """The least cost of any network of the space (exact: costs add up over edges)."""
        return smallest_cost(self)

    def cheapest(self) -> Any:
        """The genotype of that least cost."""
        return cheapest_encoding(self)


def smallest_cost(expected: ExpectedCost) -> float:
    """The cheapest genotype's cost (exact: the cost is a sum over edges)."""
    return expected.of_encoding(cheapest_encoding(expected))


def cheapest_encoding(expected: ExpectedCost) -> Any:
    """The cheapest genotype: nb201, the cheapest op on every edge; darts, per node, the two
    cheapest of its incoming edges, each with its cheapest operation other than ``none``
    (ties: the earlier source and op)."""
    ops = [o for o, op in enumerate(expected.ops)
           if not (op == "none" and expected.space.name == "darts")]
    cells = []
    for kind in expected.kinds:
        table = expected.table[kind]
        best = [min(ops, key=lambda o: (float(table[e, o]), o)) for e in range(len(table))]
        if expected.space.name == "nb201":
            return tuple(expected.ops[o] for o in best)
        pairs = []
        for node in sorted({n for n, _ in expected.edges}):
            edges = [e for e, (n, _) in enumerate(expected.edges) if n == node]
            edges.sort(key=lambda e: (float(table[e, best[e]]), expected.edges[e][1]))
            pairs += [(expected.ops[best[e]], expected.edges[e][1]) for e in edges[:2]]
        cells.append(tuple(pairs))
    return expected.space.validate(tuple(cells))


def _prefix_of(name: str, owner: Mapping[str, Any]) -> str | None:
    """The edge prefix ``name`` starts with (edge prefixes end in ``_`` and none is a prefix of
    another's node names, by the decoders' naming)."""
    cut = 0
    while True:
        cut = name.find("_", cut) + 1
        if cut == 0:
            return None
        if name[:cut] in owner:
            return name[:cut]


def _present_prefixes(graph: ArchGraph, owner: Mapping[str, Any]) -> set[str]:
    """The edge prefixes with at least one node in ``graph`` (the edges the genotype keeps)."""
    return {p for p in (_prefix_of(n, owner) for n in graph.order) if p is not None}

