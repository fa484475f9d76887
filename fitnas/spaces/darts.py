"""``darts``: the DARTS cell search space, derived genotypes in DARTS' macro network.

Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019 (``genotypes.py``,
``model.py``, ``operations.py``), the space paper 004 (DCA-NAS, section 4.1 and appendix D)
searches. A cell has two inputs (the previous two cells' outputs, preprocessed) and four
intermediate nodes, each the sum of two edges ``op(state)``; the cell output concatenates the
four nodes. A *genotype* (the derived network) holds a normal and a reduction cell.

Encoding: ``(normal, reduce)``, each a tuple of 8 ``(op, input)`` pairs; pairs ``2i`` and
``2i+1`` belong to intermediate node ``i`` (``i = 0..3``), ``input`` is in ``0..i+1`` (0, 1: the
cell inputs; ``k >= 2``: node ``k-2``), the two inputs of a node differ (DARTS' derivation keeps
the top-2 edges from distinct inputs), ``op`` is in :data:`GENOTYPE_OPS` (never ``none``). The
canonical form sorts a node's two pairs by input (their sum does not depend on the order).
:meth:`DartsSpace.parse` reads DARTS' ``Genotype(normal=[...], normal_concat=..., reduce=[...],
reduce_concat=...)`` text (concat must be nodes 2..5) and JSON (the lists, or
``{"normal": [...], "reduce": [...]}``); :meth:`DartsSpace.format` writes the Genotype text.

Macro network (DARTS' ``NetworkCIFAR`` without the auxiliary head and drop-path, defaults
DARTS' search network, which paper 004 appendix D also uses: C = 16, 8 layers, stem multiplier
3, CIFAR-10 input): stem 3x3 conv to ``stem_multiplier * C`` + BN; ``layers`` cells, the ones
at ``layers // 3`` and ``2 * layers // 3`` reduction cells that double the width; global
average pool; linear classifier. The ops and the ``FactorizedReduce`` substitute (same params
and MACs; only a pixel offset differs) are in ``_darts_cell``. DARTS V2 at its evaluation size
(C = 36, 20 layers) has exactly DARTS' parameter count (``tests/spaces/test_spaces_darts.py``).

Decoded names: the op on the edge from ``input`` j into node i of cell k is written as nodes
named :meth:`DartsSpace.edge_prefix` ``(k, i, j)`` + ..., a prefix no other node has.

Moves: ``mutations`` change one pair's op, or one pair's input to another valid distinct one;
``grow`` / ``trim`` change one pair's op to a costlier / cheaper one along the pair's cost order
(:meth:`DartsSpace.by_cost`): the ops sorted by the parameters the pair's op has summed over
the cells of its kind (paper 004's constraint is on parameters), ties in the order skip, max
pool, avg pool (none of them has weights or MACs). At width C one edge costs: pools and
stride-1 skip 0, ``dil_conv_3x3`` C^2 + 11C, ``dil_conv_5x5`` C^2 + 27C, ``sep_conv_3x3``
2C^2 + 22C, ``sep_conv_5x5`` 2C^2 + 54C, and a stride-2 skip (``FactorizedReduce``) C^2 + 2C. So
for C > 5 (DARTS' 16 and 36) the order is :data:`BY_COST` (``dil_conv_5x5`` is cheaper than
``sep_conv_3x3``, which the usual listing puts first), and on a reduction cell's edges from its
inputs the pools come before skip; below C = 5 ``sep_conv_3x3`` comes before ``dil_conv_5x5``.
``coordinates`` are the 16 pairs, a ``step`` moves one pair's op along that order.
``grow_roots``: every pair at the first op of its order (skip, and max pool on a reduction
cell's input edges: the cheapest cell pair), wired two ways, since ``grow`` never rewires:
every node on the two cell inputs (the widest cell) and node i on states i and i+1 (the
deepest). Tokens: per pair an input token (0..4) then an op token (5 + index in
:data:`GENOTYPE_OPS`), normal cell first; the grammar allows inputs 0..i for a node's first
pair and first+1..i+1 for its second (the canonical order), so every sentence is one encoding.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial
from typing import Any

from ..arch import INPUT, ArchGraph
from . import _darts_cell as dc
from ._base import (
    MAX_CELLS,
    MAX_CHANNELS,
    InvalidEncoding,
    NextTokens,
    SearchSpace,
    SpaceError,
    check_int,
    make_rng,
    register_space,
    step_along,
)
from ._darts_cell import EDGES, GENOTYPE_OPS, NODES, OPS
from ._darts_text import CONCAT, format_genotype, parse_genotype, short
from ._emit import Emitter

__all__ = ["BY_COST", "DARTS_V2", "EDGES", "GENOTYPE_OPS", "OPS", "DartsSpace"]

#: DARTS V2, the published CIFAR-10 cell (DARTS ``genotypes.py``), as DARTS prints it.
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
#: The ops of a stride-1 edge from the cheapest (parameters, C > 5; see the module).
BY_COST = ("skip_connect", "max_pool_3x3", "avg_pool_3x3", "dil_conv_3x3", "dil_conv_5x5",
           "sep_conv_3x3", "sep_conv_5x5")
_TIES = ("skip_connect", "max_pool_3x3", "avg_pool_3x3", "dil_conv_3x3", "sep_conv_3x3",
         "dil_conv_5x5", "sep_conv_5x5")
_CELLS = ("normal", "reduce")
_INPUTS = NODES + 1  # input tokens 0..4; op tokens follow
_PAIRS = 2 * NODES

Pair = tuple[str, int]
Cell = tuple[Pair, ...]
Genotype = tuple[Cell, Cell]


@register_space
class DartsSpace(SearchSpace):
    """The DARTS space (see the module).

    Args:
        input_shape: default ``(1, 3, 32, 32)`` (CIFAR-10); at least 4x4 (two halvings).
        classes: default 10.
        channels: C, the first cells' width (default 16; DARTS' evaluation network has 36).
        layers: cells (default 8, DARTS' search network; its evaluation network has 20).
        stem_multiplier: the stem gives ``stem_multiplier * C`` channels (default 3).
    """

    name = "darts"
    summary = ("DARTS: normal and reduction cells of 4 nodes x 2 of 7 ops in DARTS' network "
               "(the DCA-NAS space)")

    def __init__(self, input_shape: Sequence[int] | None = None, classes: int | None = None,
                 channels: int = 16, layers: int = 8, stem_multiplier: int = 3):
        super().__init__(input_shape, classes)
        self.channels = check_int(channels, "channels", 1, MAX_CHANNELS // 16)
        self.layers = check_int(layers, "layers", 3, MAX_CELLS)
        self.stem_multiplier = check_int(stem_multiplier, "stem_multiplier", 1, 64)
        if min(self.input_shape[2:]) < 4:
            raise SpaceError(f"darts halves the input twice in its reduction cells: it needs at "
                             f"least 4x4, got {self.input_shape[2]}x{self.input_shape[3]}")
        widths, c = [], self.channels
        for k in range(self.layers):
            c *= 2 if k in self.reductions else 1
            widths.append(c)
        self._widths = tuple(widths)
        self._orders = {(red, s): self._cost_order(red, s) for red in (False, True) for s in (1, 2)}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels, "layers": self.layers,
                "stem_multiplier": self.stem_multiplier}

    @property
    def reductions(self) -> tuple[int, ...]:
        """The indices of the reduction cells (DARTS: ``layers // 3`` and ``2 * layers // 3``)."""
        return (self.layers // 3, 2 * self.layers // 3)

    @staticmethod
    def edges() -> tuple[tuple[int, int], ...]:
        """The 14 ``(node, source)`` edges of a cell in DARTS' order (:data:`EDGES`)."""
        return EDGES

    def edge_prefix(self, cell: int, node: int, source: int) -> str:
        """The name prefix of every node :meth:`decode` writes for the op on the edge from
        ``source`` into intermediate node ``node`` of cell ``cell`` (no other node's name
        starts so; the edge has nodes only where the genotype holds it)."""
        if not (isinstance(cell, int) and 0 <= cell < self.layers) or (node, source) not in EDGES:
            raise SpaceError(f"darts has cells 0..{self.layers - 1} and edges (node, source) "
                             f"{', '.join(map(str, EDGES))}; got cell {cell!r}, edge "
                             f"{(node, source)!r}")
        return f"c{cell}_n{node}_s{source}_"

    # -------------------------------------------------------------- encodings
    def sample(self, seed: int | random.Random | None = None) -> Genotype:
        rng = make_rng(seed)
        cells = []
        for _ in _CELLS:
            pairs: list[Pair] = []
            for i in range(NODES):
                for source in sorted(rng.sample(range(i + 2), 2)):
                    pairs.append((rng.choice(GENOTYPE_OPS), source))
            cells.append(tuple(pairs))
        return (cells[0], cells[1])

    def from_data(self, data: Any) -> Genotype:
        if isinstance(data, str):
            return self.parse(data)
        if isinstance(data, dict):
            unknown = sorted(map(str, set(data) - {"normal", "reduce", "normal_concat",
                                                   "reduce_concat"}))
            if unknown or "normal" not in data or "reduce" not in data:
                raise InvalidEncoding(f"a darts encoding as an object has the keys normal and "
                                      f"reduce (and optionally normal_concat, reduce_concat), "
                                      f"got {short(sorted(map(str, data)))}")
            for key in ("normal_concat", "reduce_concat"):
                if key in data and _concat(data[key]) != CONCAT:
                    raise InvalidEncoding(f"darts {key} must be the 4 intermediate nodes "
                                          f"[2, 3, 4, 5], got {short(data[key])}")
            data = [data["normal"], data["reduce"]]
        if not isinstance(data, (list, tuple)) or len(data) != 2:
            raise InvalidEncoding(f"a darts encoding is [normal, reduce], each 8 [op, input] "
                                  f"pairs (or DARTS' Genotype text), got {short(data)}")
        normal, reduce = (_check_cell(cell, kind) for cell, kind in zip(data, _CELLS))
        return (normal, reduce)

    def to_data(self, enc: Genotype) -> list[list[list[Any]]]:
        return [[[op, source] for op, source in cell] for cell in self.validate(enc)]

    def parse(self, text: str) -> Genotype:
        """An encoding from DARTS' ``Genotype(...)`` text or from JSON."""
        stripped = text.strip()
        if stripped.startswith("Genotype"):
            return self.from_data(parse_genotype(stripped))
        return self.from_json(text)

    def format(self, enc: Genotype) -> str:
        """DARTS' ``Genotype(...)`` text of an encoding (its canonical pair order)."""
        return format_genotype(*self.validate(enc))

    # ------------------------------------------------------------------ moves
    def by_cost(self, reduce: bool, source: int) -> tuple[str, ...]:
        """The ops of a pair from the cheapest: parameters summed over the cells of the kind
        (``reduce``) at their widths, with the stride of an edge from ``source`` (see the
        module); ties in the order skip, max pool, avg pool."""
        return self._orders[(reduce, 2 if reduce and source < 2 else 1)]

    def _cost_order(self, reduce: bool, stride: int) -> tuple[str, ...]:
        widths = [w for k, w in enumerate(self._widths) if (k in self.reductions) == reduce]
        return tuple(sorted(_TIES, key=lambda op: (
            sum(dc.edge_params(op, w, stride) for w in widths), _TIES.index(op))))

    def mutations(self, enc: Genotype) -> list[Genotype]:
        enc = self.validate(enc)
        out: list[Genotype] = []
        for p in range(2 * _PAIRS):
            op, source = _pair(enc, p)
            out += [_with(enc, p, (other, source)) for other in GENOTYPE_OPS if other != op]
            node, partner = p % _PAIRS // 2, _pair(enc, p ^ 1)[1]
            out += [_with(enc, p, (op, s)) for s in range(node + 2) if s not in (source, partner)]
        return list(dict.fromkeys(out))

    def _along(self, enc: Genotype, p: int) -> tuple[str, ...]:
        return self.by_cost(p >= _PAIRS, _pair(enc, p)[1])

    def grow(self, enc: Genotype) -> list[Genotype]:
        """Every genotype with one pair's op replaced by a costlier one (:meth:`by_cost`)."""
        enc = self.validate(enc)
        out = []
        for p in range(2 * _PAIRS):
            order, (op, source) = self._along(enc, p), _pair(enc, p)
            out += [_with(enc, p, (o, source)) for o in order[order.index(op) + 1:]]
        return out

    def trim(self, enc: Genotype) -> list[Genotype]:
        """Every genotype with one pair's op replaced by a cheaper one (:meth:`by_cost`);
        with :meth:`grow` the op changes of :meth:`mutations`."""
        enc = self.validate(enc)
        out = []
        for p in range(2 * _PAIRS):
            order, (op, source) = self._along(enc, p), _pair(enc, p)
            out += [_with(enc, p, (o, source)) for o in order[:order.index(op)]]
        return out

    def grow_roots(self) -> list[Genotype]:
        """The cheapest cell pair (each pair at the first op of :meth:`by_cost`) in two
        wirings: every node on the two cell inputs, and node i on states i and i+1 (see the
        module: ``grow`` changes ops, never inputs)."""
        roots = []
        for wiring in (((0, 1),) * NODES, tuple((i, i + 1) for i in range(NODES))):
            cells = [tuple((self.by_cost(red, s)[0], s) for node in wiring for s in node)
                     for red in (False, True)]
            roots.append((cells[0], cells[1]))
        return roots

    def coordinates(self, enc: Genotype) -> list[int]:
        """The 16 pairs (0-7 normal, 8-15 reduce): a step moves a pair's op one place along
        :meth:`by_cost`."""
        return list(range(2 * _PAIRS))

    def step(self, enc: Genotype, coordinate: Any, direction: int) -> Genotype:
        enc = self.validate(enc)
        if isinstance(coordinate, bool) or coordinate not in range(2 * _PAIRS):
            raise InvalidEncoding(f"darts coordinate {coordinate!r} is not a pair 0..15")
        op, source = _pair(enc, coordinate)
        new = step_along(self._along(enc, coordinate), op, direction, f"pair {coordinate}")
        return _with(enc, coordinate, (new, source))

    # ----------------------------------------------------------------- tokens
    @property
    def vocab_size(self) -> int:
        return _INPUTS + len(GENOTYPE_OPS)

    def to_tokens(self, enc: Genotype) -> list[int]:
        return [t for cell in self.validate(enc) for op, source in cell
                for t in (source, _INPUTS + GENOTYPE_OPS.index(op))]

    def next_tokens(self, prefix: Sequence[int]) -> NextTokens:
        """Per pair, normal cell first: an input (first pair of node i: 0..i; second: above the
        first, up to i+1), then an op; the end after 32 tokens."""
        return self._walk(_Grammar(), prefix)

    def from_tokens(self, tokens: Sequence[int]) -> Genotype:
        tokens = self._check_tokens(tokens)
        if len(tokens) != 4 * _PAIRS:
            raise InvalidEncoding(f"a darts token sequence has {4 * _PAIRS} tokens (input, op "
                                  f"per pair), got {len(tokens)}")
        self.next_tokens(tokens)
        pairs = [(GENOTYPE_OPS[tokens[k + 1] - _INPUTS], tokens[k]) for k in range(0, 4 * _PAIRS, 2)]
        return (tuple(pairs[:_PAIRS]), tuple(pairs[_PAIRS:]))

    # ----------------------------------------------------------------- decode
    def decode(self, enc: Genotype) -> ArchGraph:
        enc = self.validate(enc)
        return Emitter.build(self.input_shape, partial(self._write, enc),
                             name=f"darts:{self.to_json(enc)}")

    def _write(self, enc: Genotype, em: Emitter) -> None:
        x = em.template(dc.emit_stem, (INPUT,), self.stem_multiplier * self.channels,
                        prefix="stem_")
        cells = [enc[k in self.reductions] for k in range(self.layers)]
        x = dc.emit_cells(em, x, cells, self._widths, self.reductions)
        em.template(dc.emit_head, (x,), self.classes, prefix="head_")


class _Grammar:
    """Where a prefix of darts tokens stands (see :meth:`DartsSpace.next_tokens`)."""

    def __init__(self) -> None:
        self.position = 0
        self.first = 0  # the input of the node's first pair

    def allowed(self) -> tuple[int, ...]:
        p = self.position
        if p >= 4 * _PAIRS:
            return ()
        if p % 2:
            return tuple(range(_INPUTS, _INPUTS + len(GENOTYPE_OPS)))
        pair = p // 2 % _PAIRS
        node = pair // 2
        return tuple(range(node + 1)) if pair % 2 == 0 else tuple(range(self.first + 1, node + 2))

    def take(self, token: int) -> None:
        if self.position % 4 == 0:
            self.first = token
        self.position += 1

    def can_end(self) -> bool:
        return self.position == 4 * _PAIRS


def _concat(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _check_cell(cell: Any, kind: str) -> Cell:
    """The canonical pairs of one cell; :class:`InvalidEncoding` naming what is wrong."""
    if not isinstance(cell, (list, tuple)) or len(cell) != _PAIRS:
        raise InvalidEncoding(f"the darts {kind} cell is {_PAIRS} [op, input] pairs (2 per "
                              f"node), got {short(cell)}")
    pairs: list[Pair] = []
    for k, pair in enumerate(cell):
        node = k // 2
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InvalidEncoding(f"darts {kind} pair {k} must be [op, input], got {short(pair)}")
        op, source = pair
        if op == "none":
            raise InvalidEncoding(f"darts {kind} pair {k} is 'none': a genotype never holds it "
                                  f"(DARTS' derivation drops it); accepted: "
                                  f"{', '.join(GENOTYPE_OPS)}")
        if not isinstance(op, str) or op not in GENOTYPE_OPS:
            raise InvalidEncoding(f"unknown darts operation {short(op)} in {kind} pair {k}; "
                                  f"accepted: {', '.join(GENOTYPE_OPS)}")
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source <= node + 1:
            raise InvalidEncoding(f"darts {kind} node {node} reads input {short(source)}; "
                                  f"accepted: 0..{node + 1} (0, 1: the cell inputs, k >= 2: "
                                  f"node k-2)")
        pairs.append((op, source))
    for node in range(NODES):
        a, b = pairs[2 * node: 2 * node + 2]
        if a[1] == b[1]:
            raise InvalidEncoding(f"darts {kind} node {node} reads input {a[1]} twice; its two "
                                  f"inputs must differ")
        if a[1] > b[1]:
            pairs[2 * node: 2 * node + 2] = [b, a]
    return tuple(pairs)


def _pair(enc: Genotype, p: int) -> Pair:
    return enc[p // _PAIRS][p % _PAIRS]


def _with(enc: Genotype, p: int, pair: Pair) -> Genotype:
    """``enc`` with pair ``p`` (0-15) replaced, its node put back in canonical order."""
    cell = list(enc[p // _PAIRS])
    cell[p % _PAIRS] = pair
    k = p % _PAIRS & ~1
    if cell[k][1] > cell[k + 1][1]:
        cell[k], cell[k + 1] = cell[k + 1], cell[k]
    new = tuple(cell)
    return (new, enc[1]) if p < _PAIRS else (enc[0], new)
