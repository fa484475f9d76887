"""The supernet's cell: mixed edges (DARTS eq. 1), weight sharing, the bottleneck, derived cells.

A cell has ``n_inputs`` input states (DARTS: the two preprocessed cell inputs; NAS-Bench-201:
the cell input) and intermediate nodes; ``edges`` lists ``(dest, origin)`` state indices in the
space's edge order, and edge ``e`` carries architecture weights ``alpha[e]`` over the space's
operations ``O``. Reconstruction of the equations (paper 004's are blank in our copy):

* **Mixed edge** (DARTS eq. 1 = paper 004 eq. 1)::

      x_i = sum_{j < i} o_bar_ij(x_j),   o_bar_ij(x) = sum_{o in O} p_ij,o * o(x),
      p_ij = softmax(alpha_ij)   (over O, ``none`` included)

  ``none`` is zero: its term is never computed, its weight stays in the softmax.
* **Weight sharing** (paper 004 eq. 5, after EnTranNAS, Yang et al. 2021 = paper 004 [46])::

      x_i = sum_{j < i} sum_{o in O} p_ij,o * o_j(x_j)

  the module of op ``o`` depends on the origin ``j`` only, so ``o_j(x_j)`` is computed once per
  origin and reused by every destination ``i`` (each edge keeps its own weights ``p_ij``).
  Without sharing every edge has its own modules ``o_ij`` (DARTS). In a DARTS reduction cell
  the ops on the two cell inputs have stride 2 for every destination, so sharing holds there.
* **Channel bottleneck** b (paper 004 section 3.3; the 1x1 convolutions it names, placed as
  PC-DARTS places its partial channels: around the candidate ops)::

      x_i = U_i( sum_{j < i} sum_o p_ij,o * o(D_u(x_j)) ),

  ``D_u``: 1x1 conv + BN (affine off) from C to ``C // b`` channels, one per *unit* ``u`` (the
  origin ``j`` with sharing, the edge ``(i, j)`` without); the ops run at ``C // b``; ``U_i``:
  1x1 conv + BN from ``C // b`` back to C, one per destination node in both modes (a sum of
  per-edge 1x1 convs equals one 1x1 conv of the sum up to the BN, so one per node is the
  cheaper choice). ``b = 1`` is off: no ``D`` or ``U``. ``C // b`` below 1 is refused.
* **Derived cell** (paper 004 appendix A, Fig. 5): the cell run with a *selection* instead of
  weights: the pairs ``(edge, op)`` of the current genotype, each of weight 1, nothing else
  computed (``none`` skipped; a node with nothing selected is zero), ``alpha`` not in the graph.
  The cell keeps modules for every candidate, since the genotype changes as alpha trains; with
  sharing, the same op chosen from the same origin by two nodes is computed once.

The cell's forward goes through a :class:`~fitnas.supernet.ops.Backend`, so the memory
estimate (``fitnas.supernet.memory``) walks this very code with shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from .ops import TORCH, Backend, SupernetError, _Sequential, make_op

__all__ = ["CellPlan", "SearchCell", "bottleneck_channels"]


class CellPlan:
    """The graph of a cell: its inputs, its ``(dest, origin)`` edges and which states it outputs.

    Args:
        space: ``"darts"`` or ``"nb201"`` (the operation catalogue).
        ops: the space's operations, in its order (the columns of alpha).
        n_inputs: input states (0..n_inputs-1).
        edges: ``(dest, origin)`` state indices, in the space's edge order (the rows of alpha).
        outputs: the states the cell returns (concatenated when more than one).
    """

    def __init__(self, space: str, ops: Sequence[str], n_inputs: int,
                 edges: Sequence[tuple[int, int]], outputs: Sequence[int]):
        self.space = space
        self.ops = tuple(ops)
        self.n_inputs = n_inputs
        self.edges = tuple((int(d), int(o)) for d, o in edges)
        self.outputs = tuple(outputs)
        self.dests = tuple(sorted({d for d, _ in self.edges}))
        self.origins = tuple(sorted({o for _, o in self.edges}))
        self.none = self.ops.index("none") if "none" in self.ops else -1


def bottleneck_channels(channels: int, bottleneck: int) -> int:
    """``channels // bottleneck``, the width the candidate ops run at; refuses below 1."""
    if isinstance(bottleneck, bool) or not isinstance(bottleneck, int) or bottleneck < 1:
        raise SupernetError(f"bottleneck must be an integer >= 1 (1 turns it off), "
                            f"got {bottleneck!r}")
    width = channels // bottleneck
    if width < 1:
        raise SupernetError(f"bottleneck {bottleneck} leaves {channels} // {bottleneck} = 0 "
                            f"channels for the candidate operations; choose a bottleneck of at "
                            f"most {channels} (1 turns it off)")
    return width


def _conv_bn(c_in: int, c_out: int) -> nn.Module:
    return _Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=False))


class _Unit(nn.Module):
    """The modules one origin (sharing) or one edge (no sharing) computes its ops with."""

    def __init__(self, plan: CellPlan, channels: int, width: int, stride: int):
        super().__init__()
        self.reduce = _conv_bn(channels, width) if width != channels else None
        self.ops = nn.ModuleDict({op: make_op(plan.space, op, width, stride)
                                  for op in plan.ops if op != "none"})


class SearchCell(nn.Module):
    """One cell of the supernet (see the module for what each switch does).

    Args:
        plan: the cell's graph.
        channels: C, the width of every state.
        reduction: the ops on the input states have stride 2 (a DARTS reduction cell).
        weight_sharing: one set of op modules per origin instead of per edge.
        bottleneck: b; the ops run at ``C // b`` (1: off).
        preprocess: modules mapping the raw cell inputs to the input states (none: identity).
    """

    def __init__(self, plan: CellPlan, channels: int, *, reduction: bool = False,
                 weight_sharing: bool = True, bottleneck: int = 1,
                 preprocess: Sequence[nn.Module] = ()):
        super().__init__()
        self.plan = plan
        self.channels = channels
        self.reduction = reduction
        self.weight_sharing = weight_sharing
        self.width = bottleneck_channels(channels, bottleneck)
        self.preprocess = nn.ModuleList(preprocess)
        if weight_sharing:
            keys = list(plan.origins)
            self.unit_of_edge = tuple(keys.index(o) for _, o in plan.edges)
        else:
            keys = [o for _, o in plan.edges]
            self.unit_of_edge = tuple(range(len(plan.edges)))
        self.units = nn.ModuleList(_Unit(plan, channels, self.width, self._stride(o))
                                   for o in keys)
        self.expand = nn.ModuleDict(
            {str(d): _conv_bn(self.width, channels) for d in plan.dests}
            if self.width != channels else {})

    def unit_modules(self) -> list[_Unit]:
        """The units (per origin with sharing, per edge without), typed."""
        return [u for u in self.units if isinstance(u, _Unit)]

    def _stride(self, origin: int) -> int:
        return 2 if self.reduction and origin < self.plan.n_inputs else 1

    def candidates(self) -> list[nn.Module]:
        """The candidate-op modules (one per op and unit; for counting calls and parameters)."""
        return [m for unit in self.unit_modules() for m in unit.ops.values()]

    def forward(self, inputs: Sequence[Tensor], weights: Tensor | None = None,
                selection: Sequence[tuple[int, int]] | None = None) -> Tensor:
        """Mixed with ``weights`` (shape ``(edges, ops)``, the softmax of alpha), or derived
        with ``selection`` (the ``(edge, op)`` pairs of a genotype), exactly one of the two."""
        return self.run(TORCH, inputs, weights, selection)  # type: ignore[no-any-return,unused-ignore]

    def run(self, be: Backend, inputs: Sequence[Any], weights: Any = None,
            selection: Sequence[tuple[int, int]] | None = None) -> Any:
        """The forward pass through backend ``be``."""
        if (weights is None) == (selection is None):
            raise SupernetError("a cell runs either mixed (weights) or derived (selection)")
        plan = self.plan
        if self.preprocess:
            states = [be.apply(p, x) for p, x in zip(self.preprocess, inputs)]
        else:
            states = list(inputs)
        chosen: dict[int, list[int]] = {}
        for e, k in selection or ():
            if k != plan.none:
                chosen.setdefault(e, []).append(k)
        units = self.unit_modules()
        reduced: dict[int, Any] = {}
        outputs: dict[tuple[int, int], Any] = {}

        def op_output(e: int, k: int) -> Any:
            u = self.unit_of_edge[e]
            if (u, k) not in outputs:
                unit = units[u]
                x = states[plan.edges[e][1]]
                if unit.reduce is not None:
                    if u not in reduced:
                        reduced[u] = be.apply(unit.reduce, x)
                    x = reduced[u]
                outputs[u, k] = be.apply(unit.ops[plan.ops[k]], x)
            return outputs[u, k]

        for dest in plan.dests:
            terms: list[Any] = []
            for e, (d, _origin) in enumerate(plan.edges):
                if d != dest:
                    continue
                if weights is not None:
                    terms.extend(be.scale(weights, e, k, op_output(e, k))
                                 for k in range(len(plan.ops)) if k != plan.none)
                else:
                    terms.extend(op_output(e, k) for k in chosen.get(e, ()))
            if not terms:
                states.append(be.zeros(states[0], self.channels, self._stride(0)))
                continue
            node = be.add(terms) if len(terms) > 1 else terms[0]
            if self.expand:
                node = be.apply(self.expand[str(dest)], node)
            states.append(node)
        outs = [states[i] for i in plan.outputs]
        return be.cat(outs) if len(outs) > 1 else outs[0]
