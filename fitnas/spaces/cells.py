"""``cells``: MemNAS cells of 5-tuple blocks with augment ("grow") and trim moves.

Paper 000 (MemNAS), section 3.1. A cell is B blocks; block ``b`` (1-based) is the 5-tuple
``(IP1, IP2, O1, O2, C)``: two layers, layer ``l`` applying operation ``O_l`` to input location
``IP_l`` (0 = the cell's input, ``j`` = the output of block ``j < b``), combined by ``C``
(``add`` or ``concat``). The seven operations (:data:`OPS`) are in ``fitnas.spaces._cell_ops``.
Cells are stacked: ``stages`` stages of ``cells_per_stage`` normal cells (resolution kept),
a reduction cell (resolution halved, filters doubled) between stages; all cells share the
block structure ("cell structure sharing"), and trims make single cells differ.

An encoding is ``(blocks, identity, cut)``: the block tuples; the trimmed layers, sorted
``(cell, block, layer)`` triples (cell 0-based in network order, block 1-based, layer 1 or 2),
each layer turned into an identity in that one cell; and the sorted block numbers whose
connection to the cell's end is cut (in every cell). JSON form: ``{"blocks": [[0, 0,
"conv3x3", "sep3x3", "add"], ...], "identity": [[0, 1, 2]], "cut": [1]}`` (``identity`` and
``cut`` may be left out; a bare list of blocks is accepted too).

Moves. ``grow`` appends one block, connected to the cell's end, in every way: eq. 1 counts
``|p|^2 |o|^2 |c|^2`` candidates with ``p = B + 1`` input locations, ``o = 7`` operations and
``c = 2`` combinations; a 5-tuple holds a single ``C``, so the distinct blocks number
``p^2 o^2 c`` (PNAS, paper 000's reference [17], counts ``|I|^2 |O|^2 |C|`` the same way) and
that is what :func:`augment_space_size` and ``grow`` give: we read eq. 1's second ``|c|`` as a
typo. ``grow`` gives nothing at ``max_blocks``. ``trim`` turns one layer of one block of one
cell into an identity, ``B * N_cell * 2`` candidates (eq. 2's ``|b - 1| N_cell 2`` for the
network of ``b - 1 = B`` blocks, from which the b-th would be grown), less the layers already
trimmed, or cuts one existing block-to-end connection (eq. 2's ``N_con``) while at least two
remain: a cell keeps one output. :func:`trim_space_size` is eq. 2 with these two conventions.
``mutations`` change one field of one block (an input, an operation, the combination).

Decoding copies each layer (with the block's combination, for a block's second layer), the
cells' preprocessing, the stem and the head from pieces written once per process for their kind
and input shape (:meth:`Emitter.template`): the nodes, names and order that
``fitnas.spaces._cell_ops.emit_cell`` writes node by node (the reference writer, which
:meth:`Emitter.build` falls back to), in a fraction of the time.

Tokens, one vocabulary: locations ``0..max_blocks``, then the 7 operations, the 2
combinations, ``CONNECTED``/``CUT``, ``TRIM``, one token per cell, and layers 1-2. A block is
``IP1 IP2 O1 O2 C END`` (six tokens), a trim ``TRIM cell block layer``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial
from typing import Any

from ..arch import INPUT, ArchGraph
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
from ._cell_ops import COMBINATIONS, OPS, emit_cell, emit_layer
from ._emit import Emitter

__all__ = ["COMBINATIONS", "OPS", "CellsSpace", "augment_space_size", "trim_space_size"]

#: The operations from the cheapest to the costliest in parameters and MACs (a coordinate
#: step on ``O1`` or ``O2`` moves one place).
OPS_BY_COST = ("maxpool3x3", "avgpool3x3", "sep3x3", "sep5x5", "fac1x7", "dil3x3", "conv3x3")
FIELDS = ("IP1", "IP2", "O1", "O2", "C")

Block = tuple[int, int, str, str, str]
Cells = tuple[tuple[Block, ...], tuple[tuple[int, int, int], ...], tuple[int, ...]]


def augment_space_size(n_blocks: int) -> int:
    """Paper 000 eq. 1 for a cell of ``n_blocks`` blocks growing one more (single ``C``)."""
    p = n_blocks + 1
    return p**2 * len(OPS) ** 2 * len(COMBINATIONS)


def trim_space_size(n_blocks: int, n_cells: int, n_trimmed: int, n_con: int) -> int:
    """Paper 000 eq. 2, ``B * N_cell * 2 + N_con``, less trimmed layers and the last connection."""
    return n_blocks * n_cells * 2 - n_trimmed + (n_con if n_con >= 2 else 0)


@register_space
class CellsSpace(SearchSpace):
    """MemNAS cell networks.

    Args:
        input_shape, classes: default 1x3x32x32 and 10 (CIFAR-10).
        filters: filters of each layer in the first stage (64, paper 000 section 4).
        stages: stages of normal cells (3); a reduction cell between consecutive stages.
        cells_per_stage: normal cells per stage, N (1).
        max_blocks: most blocks per cell (5, paper 000 section 4); sampling draws 1..max_blocks.
        output: how a cell combines its connected blocks, ``concat`` (the paper's "uniformity
            concatenation") or ``add``.
    """

    name = "cells"
    summary = "MemNAS cells of (IP1, IP2, O1, O2, C) blocks with reduction cells; grow and trim"

    def __init__(self, input_shape: Sequence[int] | None = None, classes: int | None = None,
                 filters: int = 64, stages: int = 3, cells_per_stage: int = 1,
                 max_blocks: int = 5, output: str = "concat"):
        super().__init__(input_shape, classes)
        self.filters = check_int(filters, "filters", 1, MAX_CHANNELS)
        self.stages = check_int(stages, "stages", 1, 16)
        if self.filters * 2 ** (self.stages - 1) > MAX_CHANNELS:
            raise SpaceError(f"cells: filters {self.filters} doubled over {self.stages} stages "
                             f"gives {self.filters * 2 ** (self.stages - 1):,} channels; at most "
                             f"{MAX_CHANNELS:,} are accepted")
        self.cells_per_stage = check_int(cells_per_stage, "cells_per_stage", 1, MAX_CELLS)
        self.max_blocks = check_int(max_blocks, "max_blocks", 1, 64)
        if output not in COMBINATIONS:
            raise SpaceError(f"cells output must be one of {', '.join(COMBINATIONS)}, "
                             f"got {output!r}")
        self.output = output
        #: ``(is_reduction, filters)`` of each cell, in network order.
        self.cell_plan: list[tuple[bool, int]] = []
        for stage in range(self.stages):
            if stage > 0:
                self.cell_plan.append((True, self.filters * 2**stage))
            self.cell_plan += [(False, self.filters * 2**stage)] * self.cells_per_stage
        self.n_cells = len(self.cell_plan)
        self._prefixes = [cell_prefixes(k, self.max_blocks) for k in range(self.n_cells)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "stages": self.stages,
                "cells_per_stage": self.cells_per_stage, "max_blocks": self.max_blocks,
                "output": self.output}

    # -------------------------------------------------------------- encodings
    def sample(self, seed: int | random.Random | None = None) -> Cells:
        rng = make_rng(seed)
        blocks = tuple(
            (rng.randint(0, j), rng.randint(0, j), rng.choice(OPS), rng.choice(OPS),
             rng.choice(COMBINATIONS))
            for j in range(rng.randint(1, self.max_blocks)))
        return (blocks, (), ())

    def from_data(self, data: Any) -> Cells:
        if isinstance(data, dict):
            extra = sorted(set(data) - {"blocks", "identity", "cut"})
            if extra or "blocks" not in data:
                raise InvalidEncoding(f"a cells encoding has the keys 'blocks' (required), "
                                      f"'identity' and 'cut'; got {sorted(data)}")
            raw, ident, cut = data["blocks"], data.get("identity", ()), data.get("cut", ())
        elif isinstance(data, (list, tuple)) and len(data) == 3 and all(
                isinstance(d, (list, tuple)) for d in data) and not (
                data and len(data[0]) == 5 and isinstance(data[0][0], int)):
            raw, ident, cut = data
        elif isinstance(data, (list, tuple)):
            raw, ident, cut = data, (), ()
        else:
            raise InvalidEncoding(f"a cells encoding is {{'blocks': [[IP1, IP2, O1, O2, C], ...]"
                                  f", 'identity': [...], 'cut': [...]}}, got {data!r}")
        blocks = self._blocks(raw)
        return (blocks, self._identity(ident, len(blocks)), self._cut(cut, len(blocks)))

    def _blocks(self, raw: Any) -> tuple[Block, ...]:
        if not isinstance(raw, (list, tuple)) or not 1 <= len(raw) <= self.max_blocks:
            raise InvalidEncoding(f"a cell needs 1..{self.max_blocks} blocks, got {raw!r}")
        out = []
        for j, block in enumerate(raw):
            b = j + 1
            if not isinstance(block, (list, tuple)) or len(block) != 5:
                raise InvalidEncoding(f"block {b} must be (IP1, IP2, O1, O2, C), got {block!r}")
            ip1, ip2, o1, o2, c = block
            for ip in (ip1, ip2):
                if isinstance(ip, bool) or not isinstance(ip, int) or not 0 <= ip <= j:
                    raise InvalidEncoding(f"block {b} input {ip!r} must be 0 (cell input) or an "
                                          f"earlier block, 0..{j}")
            for op in (o1, o2):
                if op not in OPS:
                    raise InvalidEncoding(f"block {b}: unknown operation {op!r}; accepted: "
                                          f"{', '.join(OPS)}")
            if c not in COMBINATIONS:
                raise InvalidEncoding(f"block {b}: combination {c!r} is not one of "
                                      f"{', '.join(COMBINATIONS)}")
            out.append((ip1, ip2, o1, o2, c))
        return tuple(out)

    def _identity(self, raw: Any, n_blocks: int) -> tuple[tuple[int, int, int], ...]:
        if not isinstance(raw, (list, tuple)):
            raise InvalidEncoding(f"cells 'identity' must be a list of [cell, block, layer], "
                                  f"got {raw!r}")
        out = set()
        for item in raw:
            ok = isinstance(item, (list, tuple)) and len(item) == 3 and all(
                isinstance(v, int) and not isinstance(v, bool) for v in item)
            if not ok or not (0 <= item[0] < self.n_cells and 1 <= item[1] <= n_blocks
                              and item[2] in (1, 2)):
                raise InvalidEncoding(f"trimmed layer {item!r} must be [cell 0..{self.n_cells - 1}"
                                      f", block 1..{n_blocks}, layer 1 or 2]")
            out.add(tuple(item))
        return tuple(sorted(out))

    def _cut(self, raw: Any, n_blocks: int) -> tuple[int, ...]:
        if not isinstance(raw, (list, tuple)):
            raise InvalidEncoding(f"cells 'cut' must be a list of block numbers, got {raw!r}")
        for b in raw:
            if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= n_blocks:
                raise InvalidEncoding(f"cut block {b!r} must be a block number 1..{n_blocks}")
        out = tuple(sorted(set(raw)))
        if len(out) >= n_blocks:
            raise InvalidEncoding("every block's connection to the cell's end is cut; "
                                  "at least one must stay")
        return out

    def to_data(self, enc: Cells) -> dict[str, Any]:
        blocks, ident, cut = self.validate(enc)
        return {"blocks": [list(b) for b in blocks], "identity": [list(t) for t in ident],
                "cut": list(cut)}

    # ------------------------------------------------------------------ moves
    def mutations(self, enc: Cells) -> list[Cells]:
        blocks, ident, cut = self.validate(enc)
        out = []
        for j, block in enumerate(blocks):
            choices: list[Sequence[Any]] = [range(j + 1), range(j + 1), OPS, OPS, COMBINATIONS]
            for f, values in enumerate(choices):
                for v in values:
                    if v != block[f]:
                        new = (*block[:f], v, *block[f + 1 :])
                        out.append(((*blocks[:j], new, *blocks[j + 1:]), ident, cut))
        return out

    def grow(self, enc: Cells) -> list[Cells]:
        """Every block appended to the cell (eq. 1); nothing at ``max_blocks``."""
        blocks, ident, cut = self.validate(enc)
        if len(blocks) >= self.max_blocks:
            return []
        p = range(len(blocks) + 1)
        return [((*blocks, (i1, i2, o1, o2, c)), ident, cut)
                for i1 in p for i2 in p for o1 in OPS for o2 in OPS for c in COMBINATIONS]

    def trim(self, enc: Cells) -> list[Cells]:
        """Every layer of every block of every cell made identity, and every cut (eq. 2)."""
        blocks, ident, cut = self.validate(enc)
        done = set(ident)
        out: list[Cells] = []
        for k in range(self.n_cells):
            for b in range(1, len(blocks) + 1):
                for layer in (1, 2):
                    if (k, b, layer) not in done:
                        out.append((blocks, tuple(sorted(done | {(k, b, layer)})), cut))
        connected = [b for b in range(1, len(blocks) + 1) if b not in cut]
        if len(connected) >= 2:
            out += [(blocks, ident, tuple(sorted((*cut, b)))) for b in connected]
        return out

    def coordinates(self, enc: Cells) -> list[tuple[int, str]]:
        """``(block, field)`` for every field of every block (block 1-based, field one of
        :data:`FIELDS`): inputs step to the next location, operations along
        :data:`OPS_BY_COST`, the combination between ``add`` and ``concat``."""
        blocks, _, _ = self.validate(enc)
        return [(b, f) for b in range(1, len(blocks) + 1) for f in FIELDS]

    def step(self, enc: Cells, coordinate: Any, direction: int) -> Cells:
        blocks, ident, cut = self.validate(enc)
        try:
            b, name = coordinate
            f = FIELDS.index(name)
            block = blocks[b - 1]
            if b < 1:
                raise IndexError
        except (TypeError, ValueError, IndexError):
            raise InvalidEncoding(f"cells coordinate {coordinate!r} is not (block 1.."
                                  f"{len(blocks)}, one of {', '.join(FIELDS)})") from None
        values: Sequence[Any] = (range(b) if f < 2 else OPS_BY_COST if f < 4 else COMBINATIONS)
        value = step_along(values, block[f], direction, f"{name} of block {b}")
        new = (*block[:f], value, *block[f + 1:])
        return self.validate(((*blocks[: b - 1], new, *blocks[b:]), ident, cut))

    # ----------------------------------------------------------------- tokens
    def _offsets(self) -> tuple[int, int, int, int, int, int, int]:
        op = self.max_blocks + 1
        comb = op + len(OPS)
        end = comb + len(COMBINATIONS)
        trim = end + 2
        cell = trim + 1
        layer = cell + self.n_cells
        return op, comb, end, trim, cell, layer, layer + 2

    @property
    def vocab_size(self) -> int:
        return self._offsets()[-1]

    def to_tokens(self, enc: Cells) -> list[int]:
        blocks, ident, cut = self.validate(enc)
        op, comb, end, trim, cell, layer, _ = self._offsets()
        out = []
        for b, (i1, i2, o1, o2, c) in enumerate(blocks, start=1):
            out += [i1, i2, op + OPS.index(o1), op + OPS.index(o2), comb + COMBINATIONS.index(c),
                    end + (b in cut)]
        for k, b, lay in ident:
            out += [trim, cell + k, b, layer + lay - 1]
        return out

    def next_tokens(self, prefix: Sequence[int]) -> NextTokens:
        """The grammar of every cells encoding: 1..``max_blocks`` blocks (``IP1 IP2 O1 O2 C``
        then ``END`` or ``CUT``; a block's inputs are the cell input or an earlier block), then
        trims (``TRIM cell block layer``) in strictly increasing order, so that every encoding
        has exactly one sentence. A cut is allowed while the cell can still keep one block
        connected to its end, and the sequence may end after a block or a trim once one is."""
        return self._walk(_CellsGrammar(self), prefix)

    def from_tokens(self, tokens: Sequence[int]) -> Cells:
        toks = self._check_tokens(tokens)
        op, comb, end, trim, cell, layer, _ = self._offsets()
        blocks, cut, ident = [], [], []
        k = 0
        try:
            while k < len(toks) and toks[k] != trim:
                i1, i2, o1, o2, c, e = toks[k : k + 6]
                if not (op <= o1 < comb and op <= o2 < comb and comb <= c < end
                        and end <= e < trim and i1 < op and i2 < op):
                    raise ValueError
                blocks.append([i1, i2, OPS[o1 - op], OPS[o2 - op], COMBINATIONS[c - comb]])
                if e == end + 1:
                    cut.append(len(blocks))
                k += 6
            while k < len(toks):
                t, kc, b, lay = toks[k : k + 4]
                if t != trim or not cell <= kc < layer or not layer <= lay or b >= op:
                    raise ValueError
                ident.append([kc - cell, b, lay - layer + 1])
                k += 4
        except ValueError:
            raise InvalidEncoding(f"cells tokens at position {k} are neither a block (6 tokens) "
                                  f"nor a trim (4 tokens): {toks[k : k + 6]}") from None
        return self.from_data({"blocks": blocks, "identity": ident, "cut": cut})

    # ----------------------------------------------------------------- decode
    def decode(self, enc: Cells) -> ArchGraph:
        return Emitter.build(self.input_shape, partial(self._write, *self.validate(enc)),
                             name="cells")

    def _write(self, blocks: tuple[Block, ...], ident: tuple[tuple[int, int, int], ...],
               cut: tuple[int, ...], em: Emitter) -> None:
        x = em.template(_stem, (INPUT,), self.filters, prefix="stem_")
        trimmed = set(ident)
        plan = None if em.reference else block_plan(blocks, cut)
        for k, (reduction, width) in enumerate(self.cell_plan):
            skip = {(b, lay) for (kc, b, lay) in trimmed if kc == k}
            if plan is None:  # the reference writer
                x = emit_cell(em, x, blocks, skip, cut, width, reduction, self.output, f"k{k}_")
            else:
                x = write_cell(em, x, plan, skip, width, reduction, self.output,
                               self._prefixes[k])
        em.template(_head, (x,), self.classes, prefix="head_")


def _stem(em: Emitter, x: str, filters: int, prefix: str = "") -> str:
    """The stem: 3x3 conv (no bias) to ``filters``, BN."""
    x = em.add("conv2d", (x,), prefix, out_channels=filters, kernel=3, padding=1, bias=False)
    return em.add("batchnorm", (x,), prefix)


def _head(em: Emitter, x: str, classes: int, prefix: str = "") -> str:
    """The head: ReLU, global average pool, linear classifier."""
    x = em.add("relu", (x,), prefix)
    x = em.add("global_avgpool", (x,), prefix, keepdim=False)
    return em.add("linear", (x,), prefix, out_features=classes)


#: The blocks a cell writes, ``(b, IP1, IP2, O1, O2, C)`` each, and those connected to its end.
BlockPlan = tuple[tuple[tuple[int, int, int, str, str, str], ...], tuple[int, ...]]


def block_plan(blocks: Sequence[Block], cut: Sequence[int]) -> BlockPlan:
    """The blocks of a cell that are written (a block cut from the cell's end is written only
    where a connected block reads it), and the blocks connected to the cell's end."""
    connected = tuple(b for b in range(1, len(blocks) + 1) if b not in cut)
    live = set(connected)
    for b in range(len(blocks), 0, -1):
        if b in live:
            live.update(i for i in blocks[b - 1][:2] if i > 0)
    return tuple((b, *block) for b, block in enumerate(blocks, start=1) if b in live), connected


def write_cell(em: Emitter, x: str, plan: BlockPlan, skip: set[tuple[int, int]], width: int,
               reduction: bool, output: str, prefixes: CellPrefixes) -> str:
    """One cell over input ``x``: the nodes of ``fitnas.spaces._cell_ops.emit_cell`` (what the
    reference writer writes), with the layers copied from pieces written once per kind of layer
    and input shape (:meth:`Emitter.template`). ``skip`` holds the ``(block, layer)`` pairs made
    identity; ``prefixes`` are the cell's names (:func:`cell_prefixes`)."""
    cell, by_block = prefixes
    template = em.template
    states = {0: template(Emitter.relu_conv_bn, (x,), width, prefix=cell + "pre_")}
    for b, i1, i2, o1, o2, comb in plan[0]:
        if skip:
            o1 = "identity" if (b, 1) in skip else o1
            o2 = "identity" if (b, 2) in skip else o2
        first_prefix, block_prefix = by_block[b]
        first = template(emit_layer, (states[i1],), o1, width, 2 if reduction and i1 == 0 else 1,
                         prefix=first_prefix)
        states[b] = template(_second_layer, (states[i2], first), o2, width,
                             2 if reduction and i2 == 0 else 1, comb, prefix=block_prefix)
    ends = [states[b] for b in plan[1]]
    if len(ends) == 1:
        return ends[0]
    if output == "add":
        ends = [e if em.channels(e) == width else
                template(Emitter.relu_conv_bn, (e,), width, prefix=f"{cell}end{k}_")
                for k, e in enumerate(ends)]
    return em.add(output, ends, cell + "out_")


def _second_layer(em: Emitter, x: str, first: str, op: str, width: int, stride: int, comb: str,
                  prefix: str = "") -> str:
    """A block's second layer (``op`` on ``x``) and the block's output: ``comb`` of its first
    layer's output ``first`` and the second's. ``prefix`` names the block (``k0_b1``)."""
    second = emit_layer(em, x, op, width, stride, prefix + "l2_")
    return em.add(comb, (first, second), prefix + "_")


#: A cell's prefix (``k0_``) and, by block number, its first layer's and its own (``k0_b1l1_``,
#: ``k0_b1``).
CellPrefixes = tuple[str, tuple[tuple[str, str], ...]]


def cell_prefixes(k: int, max_blocks: int) -> CellPrefixes:
    """The names of cell ``k`` (0-based) and of its blocks 1..``max_blocks`` (index 0 unused)."""
    cell = f"k{k}_"
    return cell, tuple((f"{cell}b{b}l1_", f"{cell}b{b}") for b in range(max_blocks + 1))


class _CellsGrammar:
    """Where a prefix of cells tokens stands (see :meth:`CellsSpace.next_tokens`)."""

    def __init__(self, space: CellsSpace) -> None:
        self.space = space
        self.op, self.comb, self.end, self.trim, self.cell, self.layer, _ = space._offsets()
        self.blocks = self.cut = 0
        self.field = 0  # the next field of the block being written (0: none begun)
        self.trims = False  # in the trims section
        self.partial: list[int] = []  # the trim being written: cell, block
        self.last: tuple[int, int, int] | None = None  # the last complete trim

    def _after_last(self, cell: int | None = None, block: int | None = None) -> bool:
        """Whether a trim after ``self.last`` exists with this cell (and block) prefix."""
        top = (self.space.n_cells - 1, self.blocks, 2)
        if self.last is None:
            return True
        if cell is None:
            return self.last < top
        if block is None:
            return (cell, self.blocks, 2) > self.last
        return (cell, block, 2) > self.last

    def allowed(self) -> tuple[int, ...]:
        if self.trims:
            if not self.partial and self.field == 0:
                return (self.trim,) if self._after_last() else ()
            if self.field == 1:
                return tuple(self.cell + c for c in range(self.space.n_cells)
                             if self._after_last(c))
            if self.field == 2:
                c = self.partial[0]
                return tuple(b for b in range(1, self.blocks + 1) if self._after_last(c, b))
            c, b = self.partial
            return tuple(self.layer + lay - 1 for lay in (1, 2)
                         if self.last is None or (c, b, lay) > self.last)
        if self.field == 0:
            out = list(range(self.blocks + 1)) if self.blocks < self.space.max_blocks else []
            if self.blocks and self.cut < self.blocks:
                out.append(self.trim)
            return tuple(out)
        if self.field == 1:
            return tuple(range(self.blocks + 1))
        if self.field in (2, 3):
            return tuple(range(self.op, self.op + len(OPS)))
        if self.field == 4:
            return tuple(range(self.comb, self.comb + len(COMBINATIONS)))
        # END, or CUT while a connected block can remain (this one or a later one)
        may_cut = self.cut < self.blocks or self.blocks + 1 < self.space.max_blocks
        return (self.end, self.end + 1) if may_cut else (self.end,)

    def can_end(self) -> bool:
        complete = self.field == 0 and not (self.trims and self.partial)
        return complete and self.blocks > 0 and self.cut < self.blocks

    def take(self, token: int) -> None:
        """Read one token the grammar allowed."""
        if self.trims:
            if self.field == 0:
                self.field = 1
            elif self.field == 1:
                self.partial, self.field = [token - self.cell], 2
            elif self.field == 2:
                self.partial.append(token)
                self.field = 3
            else:
                self.last = (self.partial[0], self.partial[1], token - self.layer + 1)
                self.partial, self.field = [], 0
            return
        if self.field == 0 and token == self.trim:
            self.trims, self.field = True, 1
            return
        if self.field == 5:
            self.blocks += 1
            self.cut += token == self.end + 1
            self.field = 0
            return
        self.field += 1
