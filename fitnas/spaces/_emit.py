"""A small helper that writes the nodes of a decoded network (used by every space).

A decoder writes a network through :meth:`Emitter.build`, with :meth:`Emitter.add` for one node
(its name: prefix + op + a counter), :meth:`Emitter.template` for a piece that recurs across
networks and :meth:`Emitter.fragment` / :meth:`Emitter.splice` for a piece repeated within one.
Composite layers are written as their primitive nodes (ReLU, conv, BN, ...) so the lifetime
model sees every tensor.

The emitter checks every node as it is written: it resolves the inputs to earlier tensors and
takes the node's normalized attributes and facts (output shape, parameters, MACs, ...) from the
memoized op arithmetic (``fitnas.arch.ops._facts``), so it knows the shape of every tensor it
made (a decoder asks "how many channels" while it writes), and the graph gets the checked
columns as they are (the trusted path, :func:`fitnas.arch.nodes.trusted_rows`): nothing is
checked twice.

Repeated structure is written once and copied. A copy of a piece written with prefix ``""``,
pasted with prefix ``p``, holds the nodes, names and order that writing the piece with ``p`` would
give, provided no name base (prefix + op) of the copy is used elsewhere in the network; a base
used twice gives a name used twice, which :meth:`Emitter.build` sees once, at the end (rather
than at every copy). :meth:`Emitter.template` keeps the pieces it wrote in a bounded table
(cleared when full), keyed by the writing function, its arguments and the shapes of its inputs:
a layer of one kind over an input of one shape is written once per process.

The reference writer (``Emitter(..., reference=True)``) is the plain one: it keeps the nodes as
written, writes every piece out node by node, tracks channels from the attributes, and the
public :class:`ArchGraph` constructor checks the graph. :meth:`Emitter.build` falls back to it
where the emitter could not check a node (a bad attribute, an impossible shape, an unknown
input: the constructor then raises its usual error) or a name came out twice, so every network
is the reference writer's, node for node (``tests/spaces/test_emit.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from itertools import chain, repeat
from operator import add, itemgetter
from typing import Any, NamedTuple, cast

from ..arch import INPUT, ArchGraph, Shape
from ..arch.nodes import trusted_rows
from ..arch.ops._facts import NodeFacts, node_facts

__all__ = ["Emitter"]

_SETS_CHANNELS = frozenset({"conv2d", "pwconv", "fac_conv"})
_TEMPLATE_LIMIT = 4096
_NAMED_LIMIT = 256

Row = tuple[str, str, tuple[str, ...], Mapping[str, Any]]


class _Copy(NamedTuple):
    """A written piece in the form :meth:`Emitter.splice` pastes (local tensor indices: the
    placeholders first, then the piece's nodes)."""

    placeholders: tuple[str, ...]
    names: tuple[str, ...]
    ops: tuple[str, ...]
    attrs: tuple[Mapping[str, Any], ...]
    facts: tuple[NodeFacts, ...]
    shapes: tuple[Shape, ...]
    #: How a copy's inputs are made from ``loc``, the tensors of the local indices. A chain
    #: (``chain``): node 0 reads the first placeholder, node ``i`` the node before. Else, with
    #: ``first`` ``None``: a chain but for the nodes ``i`` of ``others`` (``(i, inputs)``: their
    #: inputs from ``loc``); with ``first``: each node's first input from ``loc``, then
    #: ``others`` for the nodes of other than one input.
    chain: bool
    first: Callable[[Sequence[int]], tuple[int, ...]] | None
    others: tuple[tuple[int, Callable[[Sequence[int]], tuple[int, ...]]], ...]
    #: the local indices of each node's inputs, and of its first input (0 for none)
    local_in: tuple[tuple[int, ...], ...]
    local_first: tuple[int, ...]
    #: the nodes (0-based) with two or more inputs, and those of them that read one tensor
    #: twice where the placeholders are distinct tensors
    multi: tuple[int, ...]
    repeats: tuple[int, ...]
    #: the local index of the piece's output (``Emitter.output``), or -1
    output: int
    #: prefix -> the prefixed names (a small table, cleared when full)
    named: dict[str, tuple[str, ...]]

    def prefixed(self, prefix: str) -> tuple[str, ...]:
        """The names of the copy pasted with ``prefix``."""
        found = self.named.get(prefix)
        if found is None:
            if len(self.named) >= _NAMED_LIMIT:
                self.named.clear()
            found = self.named[prefix] = tuple([prefix + name for name in self.names])
        return found


#: (writer, arguments, input shapes[, which inputs are one tensor]) -> the piece it wrote, or
#: ``_FAILED`` where a node could not be checked (then it is written out every time)
_TEMPLATES: dict[Hashable, _Copy] = {}


def _inputs_getter(local: tuple[int, ...], ones: bool = True
                   ) -> Callable[[Sequence[int]], tuple[int, ...]]:
    """``lambda loc: tuple(loc[i] for i in local)``, in C where it can (a shared 1-tuple from
    :data:`_ONE` for one input, where ``ones``)."""
    if len(local) > 1:
        return itemgetter(*local)
    if local:
        one = local[0]
        if not ones:
            return lambda loc: (loc[one],)
        return lambda loc: _ONE[loc[one]] if loc[one] < len(_ONE) else (loc[one],)
    return lambda loc: ()


_FAILED: Any = object()
_TWO = (0, 1)  # the pattern of two inputs that are two tensors
#: ``_ONE[j] == (j,)``: the inputs of a node that reads tensor ``j`` alone, made once and
#: shared by every graph (tuples are immutable); grown by :func:`_ones`
_ONE: list[tuple[int]] = [(j,) for j in range(4096)]


def _ones(end: int) -> list[tuple[int]]:
    """:data:`_ONE`, long enough for tensors up to ``end``."""
    if end > len(_ONE):
        _ONE.extend((j,) for j in range(len(_ONE), 2 * end))
    return _ONE


class Emitter:
    """Collects the nodes of a network over one input of shape ``input_shape``.

    Args:
        input_shape: the network input's shape.
        inputs: for a piece (:meth:`fragment`): its placeholder tensors and their shapes, in
            place of the one network input.
        reference: the reference writer (see the module): nodes kept as written, pieces
            written out, the graph checked by the public constructor.

    Tensors are numbered as in :class:`ArchGraph`: the inputs first (the network input is 0),
    then the nodes in the order written.
    """

    def __init__(self, input_shape: Sequence[int], inputs: Mapping[str, Shape] | None = None,
                 reference: bool = False):
        self.input_shape = tuple(input_shape)
        given = {INPUT: self.input_shape} if inputs is None else inputs
        self._placeholders = tuple(given)
        #: tensor name -> index, for the names handed out (see :meth:`_find`)
        self._index: dict[str, int] = dict(zip(given, range(len(given))))
        self._shapes: list[Shape] = list(given.values())
        self._names: list[str] = []
        self._ops: list[str] = []
        self._attrs: list[Mapping[str, Any]] = []  # normalized
        self._facts: list[NodeFacts] = []
        self._in_idx: list[tuple[int, ...]] = []
        self._repeats: list[int] = []
        self._counts: dict[str, int] = {}
        #: the nodes from the first one not checked on, as written; ``None`` while every node
        #: is checked
        self._raw: list[Row] | None = None
        self._raw_channels: dict[str, int] = {}
        #: the piece's output, for :meth:`splice` and :meth:`template`
        self.output: str | None = None
        self._copy: _Copy | None = None
        #: the reference writer (see the module)
        self.reference = reference
        if reference or (inputs is None and not all(
                type(d) is int and d > 0 for d in self.input_shape)):
            self._raw = []  # (the graph's constructor says what is wrong with a shape)
            self._raw_channels = {name: int(shape[1]) for name, shape in given.items()
                                  if len(shape) > 1}

    @classmethod
    def build(cls, input_shape: Sequence[int], write: Callable[[Emitter], Any],
              name: str = "") -> ArchGraph:
        """The graph ``write(emitter)`` writes (its last node the output), named ``name``;
        the reference writer's where this one could not check a node or a name came out
        twice."""
        em = cls(input_shape)
        write(em)
        graph = em._trusted_graph(name)
        return graph if graph is not None else cls.build_reference(input_shape, write, name)

    @classmethod
    def build_reference(cls, input_shape: Sequence[int], write: Callable[[Emitter], Any],
                        name: str = "") -> ArchGraph:
        """:meth:`build` by the reference writer (see the module)."""
        em = cls(input_shape, reference=True)
        write(em)
        return em.graph(name=name)

    def _find_or_none(self, name: str) -> int | None:
        try:
            return self._find(name)
        except KeyError:
            return None

    def _find(self, name: str) -> int:
        """The index of tensor ``name``; ``KeyError`` if there is none."""
        k = self._index.get(name)
        if k is None:  # a name not handed out: index them all
            self._index = dict(zip((*self._placeholders, *self._names), range(len(self._shapes))))
            k = self._index[name]
        return k

    # ------------------------------------------------------------------ writing
    def add(self, op: str, inputs: tuple[str, ...] | list[str], prefix: str = "",
            **attrs: Any) -> str:
        """Append a node; returns its name (``prefix`` + op + a counter)."""
        base = prefix + op
        counts = self._counts
        k = counts.get(base, 0)
        counts[base] = k + 1
        name = f"{base}_{k}" if k else base
        ins = inputs if type(inputs) is tuple else tuple(inputs)
        if self._raw is None:
            try:
                self._check(name, op, ins, attrs)
                return name
            except Exception:  # not checked here: the graph's constructor will say why
                self._raw = []
        self._raw.append((name, op, ins, attrs))
        self._raw_channels[name] = self._written_channels(op, ins, attrs)
        return name

    def _check(self, name: str, op: str, ins: tuple[str, ...], attrs: dict[str, Any]) -> None:
        """Check node ``name`` and append it; raises (appending nothing) when it cannot."""
        index, shapes = self._index, self._shapes
        if len(ins) == 1:
            j = index.get(ins[0])
            if j is None:
                j = self._find(ins[0])
            k_in: tuple[int, ...] = (j,)
            in_shapes: tuple[Shape, ...] = (shapes[j],)
        else:
            k_in = tuple(map(self._find, ins))
            in_shapes = tuple(map(shapes.__getitem__, k_in))
        normal, facts = node_facts(op, attrs, in_shapes)
        if len(k_in) > 1 and len(set(k_in)) < len(k_in):
            self._repeats.append(len(shapes))
        self._index[name] = len(shapes)
        shapes.append(facts.shape)
        self._names.append(name)
        self._ops.append(op)
        self._attrs.append(normal)
        self._facts.append(facts)
        self._in_idx.append(k_in)

    def _written_channels(self, op: str, ins: tuple[str, ...], attrs: dict[str, Any]) -> int:
        """The channels of a node kept as written, from its attributes."""
        if op in _SETS_CHANNELS:
            return int(attrs["out_channels"])
        if op == "concat":
            return sum(map(self.channels, ins))
        if op == "linear":
            return int(attrs["out_features"])
        return self.channels(ins[0])

    def channels(self, name: str) -> int:
        """Channels (dimension 1) of a tensor made so far."""
        if name in self._raw_channels:
            return self._raw_channels[name]
        return self._shapes[self._find(name)][1]

    def relu_conv_bn(self, x: str, out: int, kernel: int | tuple[int, int] = 1, stride: int = 1,
                     padding: int | tuple[int, int] = 0, dilation: int = 1,
                     prefix: str = "") -> str:
        """ReLU, convolution without bias, affine batch norm (NASNet/DARTS/NAS-Bench-201)."""
        r = self.add("relu", (x,), prefix)
        if kernel in (1, (1, 1)) and padding in (0, (0, 0)) and dilation == 1:
            c = self.add("pwconv", (r,), prefix, out_channels=out, stride=stride)
        else:
            c = self.add("conv2d", (r,), prefix, out_channels=out, kernel=kernel, stride=stride,
                         padding=padding, dilation=dilation, bias=False)
        return self.add("batchnorm", (c,), prefix)

    # ----------------------------------------------------------------- pieces
    def fragment(self, inputs: Mapping[str, str]) -> Emitter:
        """An empty emitter for a piece of network over the tensors ``inputs`` of this one
        (placeholder -> name), written once with prefix ``""`` and then copied in with
        :meth:`splice`; set its ``output`` to the name :meth:`splice` should index."""
        if self._raw is not None:
            piece = Emitter(self.input_shape, {}, reference=True)  # never copied
            piece._raw_channels = {p: self.channels(name) for p, name in inputs.items()}
            return piece
        return Emitter(self.input_shape,
                       {p: self._shapes[self._find(name)] for p, name in inputs.items()})

    def splice(self, piece: Emitter, prefix: str, inputs: Mapping[str, str]) -> bool:
        """Append a copy of the nodes of ``piece`` (from :meth:`fragment`), their names
        prefixed (the copy of the piece's node ``n`` is ``prefix + n``), their placeholder inputs
        given by ``inputs`` (which must have the shapes the piece was written for): the nodes of
        writing the piece here with ``prefix`` (see the module). ``False``, writing nothing,
        where the piece or this emitter holds a node that was not checked or the piece does not
        read ``inputs``: then write the piece here instead."""
        copy = piece._compiled()
        if copy is None or self._raw is not None:
            return False
        try:
            targets = [self._find(inputs[p]) for p in copy.placeholders]
        except KeyError:
            return False
        start = len(self._shapes)
        names = self._paste(copy, prefix, targets)
        if copy.output >= len(targets):
            self._index[names[copy.output - len(targets)]] = start + copy.output - len(targets)
        else:
            self._index.update(zip(names, range(start, len(self._shapes))))
        return True

    def repeat(self, piece: Emitter, prefixes: Sequence[str], x: str) -> str | None:
        """Copies of ``piece`` (from :meth:`fragment`, over one placeholder, its ``output``
        set), one per prefix, in a row: the first reads ``x``, each next one the output of the
        one before (the cells of a stage); the last copy's output, or ``None``, writing
        nothing, where :meth:`splice` would not copy (then write the copies here instead)."""
        copy = piece._compiled()
        if copy is None or self._raw is not None or len(copy.placeholders) != 1 \
                or copy.output < 1 or not prefixes:
            return None
        j = self._find_or_none(x)
        if j is None:
            return None
        out = copy.output - 1
        if j == len(self._shapes) - 1 and out == len(copy.names) - 1:
            return self._repeat_in_a_row(copy, prefixes)
        paste, shapes = self._paste, self._shapes
        for prefix in prefixes:
            start = len(shapes)
            names = paste(copy, prefix, [j])
            j = start + out
        self._index[names[out]] = j
        return names[out]

    def _repeat_in_a_row(self, copy: _Copy, prefixes: Sequence[str]) -> str:
        """:meth:`repeat` where the piece reads the last tensor and its output is its last node:
        then every copy's tensors are the first's shifted by the piece's length, so all copies
        are made at once."""
        n, reps = len(copy.names), len(prefixes)
        start = len(self._shapes)
        # local index r of copy k is tensor start - 1 + k * n + r (0: the tensor before it)
        shifts = chain.from_iterable(map(repeat, range(start - 1, start - 1 + n * reps, n),
                                         repeat(n, reps)))
        ones = _ones(start + n * reps)
        in_idx: list[tuple[int, ...]] = list(
            map(ones.__getitem__, map(add, copy.local_first * reps, shifts)))
        for i in copy.multi:
            local = copy.local_in[i]
            for k in range(reps):
                shift = start - 1 + k * n
                in_idx[k * n + i] = tuple([shift + r for r in local])
        self._in_idx += in_idx
        self._repeats += [start + k * n + i for k in range(reps) for i in copy.repeats]
        names = [prefix + name for prefix in prefixes for name in copy.names]
        self._names += names
        self._ops += copy.ops * reps
        self._attrs += copy.attrs * reps
        self._facts += copy.facts * reps
        self._shapes += copy.shapes * reps
        self._index[names[-1]] = len(self._shapes) - 1
        return names[-1]

    def template(self, write: Callable[..., str], inputs: Sequence[str], *args: Hashable,
                 prefix: str = "") -> str:
        """``write(self, *inputs, *args, prefix=prefix)``: the nodes it writes and the name it
        returns, copied from a piece written once per process for ``write``, ``args``, the
        shapes of ``inputs`` and which of them are one tensor. ``write`` must be a function of
        those alone (a module-level function, not a closure) that puts ``prefix`` before every
        name base."""
        if self._raw is None:
            shapes = self._shapes
            if len(inputs) == 1:
                j = self._index.get(inputs[0])
                if j is not None:  # the usual case: a chain, pasted here (as _paste does)
                    copy = _TEMPLATES.get((write, args, shapes[j]))
                    if copy is not None and copy.chain and copy.output > 0:
                        names = copy.named.get(prefix) or copy.prefixed(prefix)
                        start = len(shapes)
                        end = start + len(names) - 1
                        ones = _ONE if end <= len(_ONE) else _ones(end)
                        in_idx = self._in_idx
                        in_idx.append(ones[j])
                        in_idx += ones[start:end]
                        self._names += names
                        self._ops += copy.ops
                        self._attrs += copy.attrs
                        self._facts += copy.facts
                        shapes += copy.shapes
                        out = copy.output - 1
                        self._index[names[out]] = start + out
                        return names[out]
                else:
                    j = self._find_or_none(inputs[0])
                    if j is None:
                        return write(self, *inputs, *args, prefix=prefix)
                targets = [j]
                key: Hashable = (write, args, shapes[j])
                pattern: tuple[int, ...] = (0,)
            elif len(inputs) == 2 and (j := self._index.get(inputs[0])) is not None and (
                    k := self._index.get(inputs[1])) is not None and j != k:
                # two distinct tensors (a block's second layer and its combination)
                targets = [j, k]
                pattern = _TWO
                key = (write, args, (shapes[j], shapes[k]), _TWO)
            else:
                index = self._index
                found = [index.get(name) for name in inputs]
                if None in found:
                    found = [self._find_or_none(name) for name in inputs]
                    if None in found:
                        return write(self, *inputs, *args, prefix=prefix)
                given = cast("list[int]", found)
                # each tensor once; the pattern says which input is which
                targets = given if len(set(given)) == len(given) else list(dict.fromkeys(given))
                pattern = tuple(map(targets.index, given))
                key = (write, args, tuple(map(shapes.__getitem__, targets)), pattern)
            copy = _TEMPLATES.get(key)
            if copy is None:
                copy = self._write_template(key, write, args, [shapes[j] for j in targets],
                                            pattern)
            if copy is not _FAILED:
                start = len(shapes)
                names = self._paste(copy, prefix, targets)
                out = copy.output - len(targets)
                if out < 0:  # the piece hands back one of its inputs
                    return inputs[pattern.index(copy.output)]
                self._index[names[out]] = start + out
                return names[out]
        return write(self, *inputs, *args, prefix=prefix)

    def _write_template(self, key: Hashable, write: Callable[..., str], args: tuple[Any, ...],
                        shapes: list[Shape], pattern: tuple[int, ...]) -> _Copy:
        """Write the piece of :meth:`template` over placeholders; keep and return its copy
        (``_FAILED`` where it cannot be copied)."""
        placeholders = [f"<{i}>" for i in range(len(shapes))]
        piece = Emitter(self.input_shape, dict(zip(placeholders, shapes)))
        try:
            piece.output = write(piece, *[placeholders[p] for p in pattern], *args, prefix="")
        except Exception:  # writing it out raises the same, where it is written
            return _FAILED
        copy = piece._compiled()
        if copy is None or copy.output < 0:
            copy = _FAILED
        if len(_TEMPLATES) >= _TEMPLATE_LIMIT:
            _TEMPLATES.clear()
        _TEMPLATES[key] = copy
        return copy

    def _compiled(self) -> _Copy | None:
        """This piece in the form :meth:`_paste` copies (made once, again if more nodes were
        written since); ``None`` when a node was not checked."""
        if self._raw is not None:
            return None
        if self._copy is not None and len(self._copy.names) == len(self._names):
            return self._copy
        # (a name used twice here comes out twice in the graph too: Emitter.build sees it)
        in_idx = tuple(self._in_idx)
        n_in = len(self._placeholders)
        local_first = tuple([k_in[0] if k_in else 0 for k_in in in_idx])
        multi = tuple([i for i, k_in in enumerate(in_idx) if len(k_in) != 1])
        if n_in:  # the nodes that do not read what a chain's would
            chained = [0, *range(n_in, n_in + len(in_idx) - 1)]
            others = [i for i, (k_in, j) in enumerate(zip(in_idx, chained))
                      if len(k_in) != 1 or k_in[0] != j]
        else:
            others = list(range(len(in_idx)))
        first = None
        if len(others) > 2:  # gather every node's first input, then the others' inputs
            first = _inputs_getter(local_first, ones=False)
            others = list(multi)
        output = -1 if self.output is None else self._find_or_none(self.output)
        self._copy = _Copy(
            placeholders=self._placeholders, names=tuple(self._names), ops=tuple(self._ops),
            attrs=tuple(self._attrs), facts=tuple(self._facts), shapes=tuple(self._shapes[n_in:]),
            chain=not others and first is None, first=first,
            others=tuple([(i, _inputs_getter(in_idx[i])) for i in others]), multi=multi,
            local_in=in_idx, local_first=local_first,
            repeats=tuple([i for i in multi if len(set(in_idx[i])) < len(in_idx[i])]),
            output=-1 if output is None else output, named={})
        return self._copy

    def _paste(self, copy: _Copy, prefix: str, targets: list[int]) -> tuple[str, ...]:
        """Append ``copy``, its names prefixed, its placeholders the tensors ``targets``;
        returns the names."""
        names = copy.named.get(prefix) or copy.prefixed(prefix)
        if not names:
            return names
        shapes = self._shapes
        start = len(shapes)
        end = start + len(names) - 1
        ones = _ONE if end <= len(_ONE) else _ones(end)
        in_idx: list[tuple[int, ...]] = []
        if copy.first is None:
            in_idx = [ones[targets[0]] if targets else (), *ones[start:end]]
        if not copy.chain:
            loc = targets + list(range(start, start + len(names)))
            if copy.first is not None:
                in_idx = list(map(ones.__getitem__, copy.first(loc)))
            for i, inputs in copy.others:
                in_idx[i] = inputs(loc)
            if copy.multi:
                if len(set(targets)) == len(targets):
                    self._repeats += [start + i for i in copy.repeats]
                else:  # placeholders that are one tensor
                    self._repeats += [start + i for i in copy.multi
                                      if len(set(in_idx[i])) < len(in_idx[i])]
        self._in_idx += in_idx
        self._names += names
        self._ops += copy.ops
        self._attrs += copy.attrs
        self._facts += copy.facts
        shapes += copy.shapes
        return names

    # ------------------------------------------------------------------ graphs
    def rows(self) -> list[Row]:
        """The nodes: ``(name, op, inputs, attrs)``, in order (attributes normalized for the
        nodes checked, as written for the others)."""
        names = (*self._placeholders, *self._names)
        checked = [(name, op, tuple(map(names.__getitem__, k_in)), attrs) for name, op, k_in, attrs
                   in zip(self._names, self._ops, self._in_idx, self._attrs)]
        return checked + (self._raw or [])

    def _trusted_graph(self, name: str) -> ArchGraph | None:
        """The graph of the nodes checked, named ``name``; ``None`` where a node was not
        checked or a name came out twice."""
        if self._raw is not None or self._placeholders != (INPUT,):
            return None
        positions = dict(zip(self._names, range(1, len(self._shapes))))
        if len(positions) != len(self._names) or INPUT in positions:
            return None
        positions[INPUT] = 0
        rows = trusted_rows(self._names, self._ops, self._attrs, self._in_idx, self._facts,
                            positions, self._repeats)
        return ArchGraph(self.input_shape, rows, name=name)

    def graph(self, outputs: list[str] | None = None, name: str = "") -> ArchGraph:
        """The graph of the nodes written; the public constructor checks it when a node was
        not checked or ``outputs`` are given (write through :meth:`build` for the reference
        writer's names where a name comes out twice)."""
        graph = None if outputs else self._trusted_graph(name)
        return graph or ArchGraph(self.input_shape, self.rows(), outputs, name)
