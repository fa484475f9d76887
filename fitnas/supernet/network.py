"""The DCA-NAS supernet (paper 004 sections 3.1 and 3.3, appendices A and D) for ``darts`` and
``nb201``.

Macro networks:

* ``darts`` (DARTS' search ``Network``): stem 3x3 conv (no bias) to ``stem_multiplier * C`` +
  BN; ``layers`` cells, those in ``space.reductions`` reduction cells that double the width;
  each cell preprocesses its two inputs (the previous two cells' outputs) to its width C:
  ``FactorizedReduce`` for the older one after a reduction cell, else ReLU-1x1 conv-BN (affine
  off); the cell output concatenates its four nodes (4C); global average pool, linear.
* ``nb201`` (the benchmark's network, as ``fitnas.spaces.nb201`` decodes it): stem 3x3 conv to
  C + BN; three stages of ``cells_per_stage`` cells at C, 2C, 4C, the residual reduction block
  between stages; BN, ReLU, global average pool, linear. A cell's node j sums its edges.

Architecture parameters: one ``alpha`` per cell kind (``darts``: normal and reduce; ``nb201``:
one), shape ``(edges, ops)``, initialised to ``1e-3 * N(0, 1)`` (DARTS). The mixed cells use
``p = softmax(alpha, dim=-1)`` (DARTS eq. 1, see ``cells``).

**Derived cells** (paper 004 appendix A, Fig. 5; EnTranNAS' transit cells): with the switch on,
only the first cell of each kind is mixed (trainable alpha); at every forward pass the genotype
is derived from the current alpha (:func:`derive`, no gradient) and every other cell runs it as
a discrete cell, its weights still trained. Off: every cell of a kind is mixed with that kind's
alpha (DARTS).

**Deriving** (DARTS ``genotype()``): ``darts``: for node i the incoming edges ranked by their
strongest non-``none`` probability, the top two kept, each with its argmax non-``none`` op
(ties: the earlier edge, the earlier op in ``OPS``); probabilities, not raw alpha, since edges
are compared with each other. ``nb201``: argmax over all five ops per edge, ``none`` included.
The result is the space's canonical encoding (``space.validate``).

Initialisation is deterministic given ``seed``: alpha first, then every conv and linear layer
(torch's default rule) from one ``torch.Generator``; BN starts at 1 and 0.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .cells import CellPlan, SearchCell, bottleneck_channels
from .ops import TORCH, Backend, FactorizedReduce, ReLUConvBN, ResNetBlock, SupernetError, _Sequential

__all__ = ["Supernet", "derive", "space_tables"]

_KINDS = {"darts": ("normal", "reduce"), "nb201": ("cell",)}


def _family(space: Any) -> str:
    name = getattr(space, "name", None)
    if name not in _KINDS:
        raise SupernetError(f"the supernet supports the spaces {', '.join(_KINDS)}; got {name!r}")
    return str(name)


def space_tables(space: Any) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...], CellPlan]:
    """The space's ``OPS``, its ``EDGES`` as it writes them (darts ``(node, source)``, nb201
    ``(from, to)``) and the cell's plan in ``(dest, origin)`` state indices."""
    family = _family(space)
    if family == "darts":
        from ..spaces import darts

        plan = CellPlan("darts", darts.OPS, 2, [(i + 2, j) for i, j in darts.EDGES], (2, 3, 4, 5))
        return tuple(darts.OPS), tuple(darts.EDGES), plan
    from ..spaces import nb201

    plan = CellPlan("nb201", nb201.OPS, 1, [(t, f) for f, t in nb201.EDGES], (3,))
    return tuple(nb201.OPS), tuple(nb201.EDGES), plan


def _rows(space: Any, probabilities: dict[str, Tensor], kind: str) -> list[list[float]]:
    ops, edges, _ = space_tables(space)
    if kind not in probabilities:
        raise SupernetError(f"derive needs probabilities for the cell kinds "
                            f"{', '.join(_KINDS[_family(space)])}; {kind!r} is missing")
    p = probabilities[kind]
    if tuple(p.shape) != (len(edges), len(ops)):
        raise SupernetError(f"{kind} probabilities must have shape ({len(edges)}, {len(ops)}), "
                            f"got {tuple(p.shape)}")
    return p.detach().cpu().tolist()  # type: ignore[no-any-return,unused-ignore]


def derives_none(space: Any) -> bool:
    """Whether the genotype the search hands over may keep ``none`` on an edge: ``nb201`` (an
    argmax over all five operations per edge), not ``darts`` (top-2 edges per node, each with
    an operation other than ``none``)."""
    return _family(space) == "nb201"


def _argmax(row: list[float], skip: int = -1) -> int:
    return max((k for k in range(len(row)) if k != skip), key=lambda k: row[k])


def derive(space: Any, probabilities: dict[str, Tensor], transit: bool = False) -> Any:
    """The space's canonical encoding from ``kind -> softmax(alpha)`` (DARTS' rule; module).

    ``transit``: the genotype the derived cells run during the search. On ``nb201`` it is the
    argmax without ``none``: an all-``none`` derived cell outputs zeros, so nothing after it
    depends on its input and no gradient reaches the mixed cell's alpha, which then stays
    where it is. Measured (BENCHMARKS.md dcanas-nb201): one early push of the constraint toward
    ``none`` froze every later epoch at the all-``none`` cell. The genotype the search hands
    over is still nb201's argmax over all five operations. ``darts`` never derives ``none``."""
    ops, edges, _ = space_tables(space)
    none = ops.index("none")
    if _family(space) == "nb201":
        rows = _rows(space, probabilities, "cell")
        return space.validate(tuple(ops[_argmax(row, none if transit else -1)]
                                    for row in rows))
    cells = []
    for kind in _KINDS["darts"]:
        p = _rows(space, probabilities, kind)
        pairs: list[tuple[str, int]] = []
        for node in range(1 + max(i for i, _ in edges)):
            incoming = [e for e, (i, _) in enumerate(edges) if i == node]
            top = sorted(incoming, key=lambda e: -p[e][_argmax(p[e], none)])[:2]
            pairs += sorted(((ops[_argmax(p[e], none)], edges[e][1]) for e in top),
                            key=lambda pair: pair[1])
        cells.append(tuple(pairs))
    return space.validate((cells[0], cells[1]))


class Supernet(nn.Module):
    """The supernet of a ``darts`` or ``nb201`` space (see the module and ``cells``).

    Args:
        space: a ``DartsSpace`` (input shape, classes, channels, layers, stem multiplier,
            reductions) or an ``NB201Space`` (input shape, classes, channels, cells per stage).
        weight_sharing: one module per (origin, op) in a cell, computed once per origin.
        bottleneck: b; the candidate ops run at ``C // b`` channels between 1x1 convs (1: off).
        derived_cells: only the first cell of each kind is mixed; the others run the genotype.
        seed: the initialisation seed.
    """

    def __init__(self, space: Any, *, weight_sharing: bool = True, bottleneck: int = 4,
                 derived_cells: bool = True, seed: int = 0):
        super().__init__()
        self.family = _family(space)
        self.space = space
        self.weight_sharing = bool(weight_sharing)
        self.bottleneck = bottleneck
        self.derived_cells = bool(derived_cells)
        self.seed = seed
        self.ops, self.edges, self.plan = space_tables(space)
        self.kinds: tuple[str, ...] = _KINDS[self.family]
        bottleneck_channels(space.channels, bottleneck)  # the narrowest cells; refuses early
        self.cells = nn.ModuleList()
        self.blocks = nn.ModuleList()
        self.layout: list[tuple[str, int]] = []  # ("cell", i) or ("block", j), in order
        kinds = self._build_darts() if self.family == "darts" else self._build_nb201()
        self.cell_kinds: tuple[str, ...] = tuple(kinds)
        self.mixed: tuple[bool, ...] = tuple(
            not self.derived_cells or kinds.index(k) == i for i, k in enumerate(kinds))
        generator = torch.Generator().manual_seed(seed)
        device = torch.get_default_device()
        self.alpha = nn.ParameterDict({k: nn.Parameter(
            (1e-3 * torch.randn(len(self.edges), len(self.ops), generator=generator,
                                device="cpu")).to(device)) for k in self.kinds})
        _init_weights(self, generator)
        self.current_genotype: Any = None  # the genotype the derived cells ran last

    def _cell(self, width: int, reduction: bool, preprocess: tuple[nn.Module, ...] = ()) -> None:
        self.cells.append(SearchCell(self.plan, width, reduction=reduction,
                                     weight_sharing=self.weight_sharing,
                                     bottleneck=self.bottleneck, preprocess=preprocess))
        self.layout.append(("cell", len(self.cells) - 1))

    def _build_darts(self) -> list[str]:
        s = self.space
        c_stem, c_in = s.stem_multiplier * s.channels, s.input_shape[1]
        self.stem = _Sequential(nn.Conv2d(c_in, c_stem, 3, padding=1, bias=False),
                                nn.BatchNorm2d(c_stem))
        c_pp, c_p, c = c_stem, c_stem, s.channels
        kinds, reduction_prev = [], False
        for i in range(s.layers):
            reduction = i in s.reductions
            c *= 2 if reduction else 1
            pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
            self._cell(c, reduction, (pre0, ReLUConvBN(c_p, c, 1, 1, 0)))
            kinds.append("reduce" if reduction else "normal")
            reduction_prev, c_pp, c_p = reduction, c_p, len(self.plan.outputs) * c
        self.head = _Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_p, s.classes))
        return kinds

    def _build_nb201(self) -> list[str]:
        s = self.space
        c, (h, w) = s.channels, s.input_shape[2:]
        if h % 4 or w % 4:
            raise SupernetError(f"the nb201 supernet halves the input twice with its residual "
                                f"blocks (conv and 2x2 pool must agree): it needs sides that are "
                                f"multiples of 4, got {h}x{w}")
        self.stem = _Sequential(nn.Conv2d(s.input_shape[1], c, 3, padding=1, bias=False),
                                nn.BatchNorm2d(c))
        for stage in range(3):
            width = c * 2**stage
            if stage:
                self.blocks.append(ResNetBlock(width // 2, width))
                self.layout.append(("block", len(self.blocks) - 1))
            for _ in range(s.cells_per_stage):
                self._cell(width, False)
        self.head = _Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                nn.Flatten(), nn.Linear(4 * c, s.classes))
        return ["cell"] * len(self.cells)

    # --------------------------------------------------------------- parameters
    def get_config(self) -> dict[str, Any]:
        return {"weight_sharing": self.weight_sharing, "bottleneck": self.bottleneck,
                "derived_cells": self.derived_cells, "seed": self.seed}

    def arch_parameters(self) -> list[nn.Parameter]:
        """The alphas, one per kind, in :attr:`kinds` order."""
        return [self.alpha[k] for k in self.kinds]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the alphas."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def alphas(self) -> dict[str, nn.Parameter]:
        return {k: self.alpha[k] for k in self.kinds}

    def probabilities(self) -> dict[str, Tensor]:
        """``kind -> softmax(alpha, dim=-1)`` (differentiable)."""
        return {k: torch.softmax(self.alpha[k], dim=-1) for k in self.kinds}

    def cells_of(self, kind: str) -> list[int]:
        """The indices (into :attr:`cells`) of the cells of ``kind``."""
        if kind not in self.kinds:
            raise SupernetError(f"unknown cell kind {kind!r}; accepted: {', '.join(self.kinds)}")
        return [i for i, k in enumerate(self.cell_kinds) if k == kind]

    # ----------------------------------------------------------------- genotype
    def genotype(self) -> Any:
        """The space's canonical encoding derived from the current alpha (:func:`derive`)."""
        return derive(self.space, {k: p.detach() for k, p in self.probabilities().items()})

    def selections(self, genotype: Any) -> dict[str, list[tuple[int, int]]]:
        """``kind -> [(edge, op)]``: the edges and op indices a derived cell of each kind runs."""
        genotype = self.space.validate(genotype)
        if self.family == "nb201":
            return {"cell": [(e, self.ops.index(op)) for e, op in enumerate(genotype)]}
        return {kind: [(self.edges.index((p // 2, source)), self.ops.index(op))
                       for p, (op, source) in enumerate(cell)]
                for kind, cell in zip(self.kinds, genotype)}

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tensor:
        probs = self.probabilities()
        selections: dict[str, list[tuple[int, int]]] = {}
        if not all(self.mixed):
            with torch.no_grad():
                self.current_genotype = derive(self.space, {k: p.detach() for k, p in probs.items()},
                                               transit=True)
            selections = self.selections(self.current_genotype)
        return self.run(TORCH, x, probs, selections)  # type: ignore[no-any-return,unused-ignore]

    def run(self, be: Backend, x: Any, weights: dict[str, Any],
            selections: dict[str, list[tuple[int, int]]]) -> Any:
        """The forward pass through backend ``be``: mixed cells with ``weights[kind]``, the
        others with ``selections[kind]``."""
        def cell(i: int, inputs: list[Any]) -> Any:
            kind, c = self.cell_kinds[i], self.cells[i]
            assert isinstance(c, SearchCell)
            if self.mixed[i]:
                return c.run(be, inputs, weights[kind])
            return c.run(be, inputs, None, selections[kind])

        s = be.apply(self.stem, x)
        if self.family == "darts":
            s0 = s
            for i in range(len(self.cells)):
                s0, s = s, cell(i, [s0, s])
        else:
            for what, i in self.layout:
                s = cell(i, [s]) if what == "cell" else be.apply(self.blocks[i], s)
        return be.apply(self.head, s)


def _init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """torch's default init of every conv and linear layer, drawn from ``generator``."""
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)) or m.weight.is_meta:
            continue
        nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
        if m.bias is not None:
            fan_in = m.weight[0].numel()
            bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
            nn.init.uniform_(m.bias, -bound, bound, generator=generator)
