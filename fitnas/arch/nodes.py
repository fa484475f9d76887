"""Nodes and the checking of a node list, for :class:`~fitnas.arch.ArchGraph`.

A list that is already a topological order of valid nodes (what every search space writes) is
checked in one pass, :func:`fast_rows`, with the op arithmetic memoized
(``fitnas.arch.ops._facts``). Any other list (out of order, a bad name, attribute, input or
shape) goes to :func:`checked_rows`, the reference path, which checks in stages (names and
attributes, then inputs, then cycles, sorting a list that is not topological, then shapes in
order) and raises the first problem, naming the node. Both give the same rows.

:func:`trusted_rows` is the third way, for a caller that checked every node itself as it wrote it
(``fitnas.spaces._emit``: attributes normalized and facts made by
``fitnas.arch.ops._facts.node_facts``, inputs resolved to earlier tensors): it only adds what
follows from those columns, and leaves the input names to be made when first asked for.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from ..errors import ArchError
from .ops import Shape, create_op
from .ops._facts import NodeFacts, complete_facts, node_facts, trusted, trusted_facts

__all__ = ["INPUT", "Node", "Rows", "checked_rows", "fast_rows", "node_dict", "trusted_rows"]

INPUT = "input"


@dataclass(frozen=True)
class Node:
    """One operation: ``name``, catalogue ``op``, ``inputs`` (names) and ``attrs``."""

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return node_dict(self.name, self.op, self.inputs, self.attrs)


class Rows(NamedTuple):
    """The columns of a checked node list (one entry per node, in the graph's order)."""

    names: tuple[str, ...]
    ops: tuple[str, ...]
    #: the names of each node's inputs; ``None``: made from ``in_idx`` when first asked for
    inputs: tuple[tuple[str, ...], ...] | None
    attrs: tuple[Mapping[str, Any], ...]
    in_idx: tuple[tuple[int, ...], ...]
    facts: tuple[NodeFacts, ...]
    positions: dict[str, int]
    #: per tensor (0: the input), the last node that reads it (its own index if none does)
    last: tuple[int, ...]
    #: the nodes that read one tensor more than once (e.g. ``add(a, a)``)
    repeats: tuple[int, ...]
    nodes: tuple[Node, ...] | None


def fast_rows(input_shape: Shape, raw: list[Any]) -> Rows | None:
    """The rows of ``raw`` (``(name, op, inputs, attrs)`` tuples or :class:`Node` objects) when
    it is a topological order of valid nodes: names checked at once, then every node in one
    pass; ``None`` at the first thing that is not so (the reference path then checks, and
    raises, in stages)."""
    try:
        try:
            names, ops, inputs, attrs = zip(*raw, strict=True)
        except (TypeError, ValueError):  # Node objects, 3-tuples
            names, ops, inputs, attrs = zip(*map(_as_row, raw))
        if set(map(type, names)) != {str} or "" in names or INPUT in names:
            return None
        index = dict(zip(names, range(1, len(names) + 1)))
        if len(index) != len(names):
            return None  # a name used twice
        index[INPUT] = 0
        where = index.__getitem__
        shapes = [input_shape]
        shape_of = shapes.__getitem__
        add_shape = shapes.append
        in_idx: list[tuple[int, ...]] = []
        add_in = in_idx.append
        facts: list[NodeFacts] = []
        add_facts = facts.append
        normal: list[Mapping[str, Any]] = []
        add_normal = normal.append
        last = list(range(len(names) + 1))  # the last node that reads each tensor
        converted: list[tuple[str, ...]] | None = None
        seen: dict[int, tuple[str, tuple[Shape, ...], Mapping[str, Any], NodeFacts]] = {}
        repeats: list[int] = []
        k = 0
        # an input not yet made (out of order, or a cycle) is past the end of ``shapes``
        for op, node_attrs, ins in zip(ops, attrs, inputs):
            k += 1
            if type(ins) is not tuple:  # e.g. a list: the tuple the reference path makes
                ins = _as_inputs(ins, node_attrs)
                if converted is None:
                    converted = list(inputs)
                converted[k - 1] = ins
            if len(ins) == 1:
                j = index[ins[0]]
                in_shapes: tuple[Shape, ...] = (shapes[j],)
                k_in: tuple[int, ...] = (j,)
                last[j] = k
            else:
                k_in = tuple(map(where, ins))
                in_shapes = tuple(map(shape_of, k_in))
                for j in k_in:
                    last[j] = k
                if len(set(k_in)) < len(k_in):
                    repeats.append(k)
            kind = type(node_attrs)
            if kind is dict:
                # one attribute dict on several nodes (a piece copied by a decoder): checked
                # once per construction (nothing can change it meanwhile)
                hit = seen.get(id(node_attrs))
                if hit is not None and hit[0] == op and hit[1] == in_shapes:
                    node_attrs, node = hit[2], hit[3]
                else:
                    first = id(node_attrs)
                    node_attrs, node = node_facts(op, node_attrs, in_shapes)
                    seen[first] = (op, in_shapes, node_attrs, node)
            elif kind is MappingProxyType:
                entry = trusted(op, node_attrs)  # a node of another graph: normalized already
                if entry is None:
                    return None
                node = trusted_facts(entry, in_shapes)
            else:
                node_attrs, node = node_facts(op, node_attrs, in_shapes)
            add_in(k_in)
            add_shape(node[1])
            add_facts(node)
            add_normal(node_attrs)
    except Exception:  # whatever went wrong, the reference path says it properly
        return None
    if converted is not None:
        inputs = tuple(converted)
    return Rows(names, ops, inputs, tuple(normal), tuple(in_idx), tuple(facts), index,
                tuple(last), tuple(repeats), None)


def trusted_rows(names: Sequence[str], ops: Sequence[str], attrs: Sequence[Mapping[str, Any]],
                 in_idx: Sequence[tuple[int, ...]], facts: Sequence[NodeFacts],
                 positions: dict[str, int], repeats: Sequence[int]) -> Rows:
    """The rows of nodes their writer checked already: unique names other than ``"input"``
    (``positions`` maps each, and ``"input"`` to 0, to its tensor index), attributes normalized
    and ``facts`` made by ``node_facts`` over the shapes of the tensors ``in_idx`` names, each an
    earlier one; ``repeats``: the nodes that read one tensor twice. Nothing is checked again."""
    last = list(range(len(names) + 1))  # the last node that reads each tensor
    k = 0
    for k_in in in_idx:
        k += 1
        for j in k_in:
            last[j] = k
    return Rows(tuple(names), tuple(ops), None, tuple(attrs), tuple(in_idx), tuple(facts),
                positions, tuple(last), tuple(repeats), None)


def _as_row(item: Any) -> tuple[Any, Any, Any, Any]:
    if isinstance(item, Node):
        return (item.name, item.op, item.inputs, item.attrs)
    if type(item) is tuple and len(item) == 3:
        return (*item, {})
    if type(item) is tuple and len(item) == 4:
        return item
    raise TypeError("not a node")


def _as_inputs(inputs: Any, attrs: Any) -> tuple[str, ...]:
    """Inputs that are not a tuple as the reference path keeps them: a tuple, unless the node
    comes with normalized attributes (a node of another graph), which is then checked again."""
    if type(attrs) is MappingProxyType:
        raise TypeError("normalized attributes with inputs that are not a tuple")
    return tuple(inputs)


def checked_rows(input_shape: Shape, raw: list[Any]) -> Rows:
    """The reference path: names and attributes, inputs, cycles (sorting a list that is not
    topological), then shapes in order; the first problem raises, naming the node."""
    nodes = _topological(_normalized([n if isinstance(n, Node) else Node(*n) for n in raw]))
    index = {INPUT: 0}
    shapes = {INPUT: input_shape}
    facts = []
    for k, node in enumerate(nodes, start=1):
        spec = create_op(node.op)
        in_shapes = [shapes[i] for i in node.inputs]
        try:
            shape = spec.output_shape(node.attrs, in_shapes)
        except ArchError as err:
            raise type(err)(f"node {node.name!r}: {err}") from None
        facts.append(complete_facts(spec, node.attrs, in_shapes, shape))
        shapes[node.name] = facts[-1].shape
        index[node.name] = k
    in_idx = tuple(tuple(index[i] for i in n.inputs) for n in nodes)
    last = list(range(len(nodes) + 1))
    for k, k_in in enumerate(in_idx, start=1):
        for j in k_in:
            last[j] = k
    repeats = tuple(k for k, k_in in enumerate(in_idx, start=1) if len(set(k_in)) < len(k_in))
    return Rows(tuple(n.name for n in nodes), tuple(n.op for n in nodes),
                 tuple(n.inputs for n in nodes), tuple(n.attrs for n in nodes), in_idx,
                 tuple(facts), index, tuple(last), repeats, nodes)


def node_dict(name: str, op: str, inputs: Sequence[str],
              attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of one node (``Node.to_dict``, ``ArchGraph.to_dict``)."""
    return {
        "name": name,
        "op": op,
        "inputs": list(inputs),
        "attrs": {k: _jsonable(v) for k, v in attrs.items()},
    }


def _normalized(nodes: list[Node]) -> list[Node]:
    seen: set[str] = set()
    out = []
    for node in nodes:
        if not isinstance(node.name, str) or not node.name:
            raise ArchError(f"node names must be non-empty strings, got {node.name!r}")
        if node.name == INPUT:
            raise ArchError(f"{INPUT!r} is reserved for the network input; rename that node")
        if node.name in seen:
            raise ArchError(f"node name {node.name!r} is used twice")
        seen.add(node.name)
        if isinstance(node.attrs, MappingProxyType) and isinstance(node.inputs, tuple):
            out.append(node)  # a node of another ArchGraph: checked and normalized already
            continue
        spec = create_op(node.op)
        try:
            spec.check_arity(len(node.inputs))
            attrs = spec.normalize(node.attrs)
        except ArchError as err:
            raise type(err)(f"node {node.name!r}: {err}") from None
        out.append(Node(node.name, node.op, tuple(node.inputs), MappingProxyType(attrs)))
    for node in out:
        for i in node.inputs:
            if i != INPUT and i not in seen:
                raise ArchError(f"node {node.name!r} reads {i!r}, which is neither a node nor 'input'")
    return out


def _topological(nodes: list[Node]) -> tuple[Node, ...]:
    """Kahn's algorithm, always taking the earliest ready node of the given list (the list
    itself when it is already a topological order, the usual case)."""
    done = {INPUT}
    for node in nodes:
        if not done.issuperset(node.inputs):
            break
        done.add(node.name)
    else:
        return tuple(nodes)
    index = {n.name: k for k, n in enumerate(nodes)}
    waiting = {n.name: len({i for i in n.inputs if i != INPUT}) for n in nodes}
    readers: dict[str, list[str]] = {n.name: [] for n in nodes}
    for n in nodes:
        for i in set(n.inputs) - {INPUT}:
            readers[i].append(n.name)
    ready = [index[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for r in readers[node.name]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, index[r])
    if len(order) != len(nodes):
        stuck = sorted(name for name, count in waiting.items() if count > 0)
        raise ArchError(f"the graph has a cycle through nodes {stuck[:6]}")
    return tuple(order)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
