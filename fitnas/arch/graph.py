"""``ArchGraph``: the one architecture format of fitnas (DESIGN.md, "One architecture format").

An ``ArchGraph`` is an immutable DAG of :class:`Node` s over one input tensor named ``"input"``.
Each node names an op of the catalogue (``fitnas.arch.ops``), its attributes and the names of its
inputs. The node list is the graph's execution order: a topological order, fixed at
construction (a list that is not topological is sorted stably, keeping the given order where it
can). Shapes are inferred at construction, so an impossible shape is an error here, naming the
node, and never a surprise at training time.

``fingerprint()`` is the de-duplication key: it hashes the structure (ops, attributes, how nodes
connect, the input shape) and ignores node names and the order of independent nodes, so equal
architectures written differently have equal fingerprints.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ArchError
from .ops import OpSpec, Shape, create_op, numel

__all__ = ["INPUT", "ArchGraph", "Node"]

INPUT = "input"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Node:
    """One operation: ``name``, catalogue ``op``, ``inputs`` (names) and ``attrs``."""

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "inputs": list(self.inputs),
            "attrs": {k: _jsonable(v) for k, v in self.attrs.items()},
        }


class ArchGraph:
    """An immutable, shape-checked DAG of ops over one input tensor.

    Args:
        input_shape: the network input's shape, batch first, e.g. ``(1, 3, 32, 32)``.
        nodes: the nodes; ``Node`` objects or ``(name, op, inputs, attrs)`` tuples.
        outputs: names of the output nodes; default: the last node.
        name: an optional label (not part of the fingerprint).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        nodes: Iterable[Node | tuple[Any, ...]],
        outputs: Sequence[str] | None = None,
        name: str = "",
    ) -> None:
        self.input_shape: Shape = _check_input_shape(input_shape)
        self.name = name
        raw = [n if isinstance(n, Node) else Node(*n) for n in nodes]
        if not raw:
            raise ArchError("an architecture graph needs at least one node")
        self.nodes: tuple[Node, ...] = _topological(_normalized(raw))
        self._order = tuple(n.name for n in self.nodes)
        self._fingerprint: str | None = None
        self._by_name = {n.name: n for n in self.nodes}
        out = tuple(outputs) if outputs else (self.nodes[-1].name,)
        for o in out:
            if o not in self._by_name:
                raise ArchError(f"output {o!r} is not a node of the graph")
        self.outputs: tuple[str, ...] = out
        self._shapes: dict[str, Shape] = {INPUT: self.input_shape}
        self._numel: dict[str, int] = {INPUT: numel(self.input_shape)}
        self._in_shapes: dict[str, list[Shape]] = {}
        self._params: dict[str, int] = {}
        self._macs: dict[str, tuple[int, int]] = {}  # node -> (MACs, extra MACs of its bias)
        self._specs: dict[str, OpSpec] = {}
        self._consumers: dict[str, list[str]] = {INPUT: []}
        for node in self.nodes:
            spec = create_op(node.op)
            in_shapes = [self._shapes[i] for i in node.inputs]
            try:
                shape = spec.output_shape(node.attrs, in_shapes)
            except ArchError as err:
                raise type(err)(f"node {node.name!r}: {err}") from None
            self._shapes[node.name] = tuple(int(d) for d in shape)
            self._numel[node.name] = numel(shape)
            self._in_shapes[node.name] = in_shapes
            self._specs[node.name] = spec
            self._params[node.name] = spec.params(node.attrs, in_shapes)
            if type(spec).macs is not OpSpec.macs:  # convolutions and linear layers
                macs = spec.macs(node.attrs, in_shapes, shape, False)
                self._macs[node.name] = (macs, spec.macs(node.attrs, in_shapes, shape, True) - macs)
            self._consumers[node.name] = []
            for i in dict.fromkeys(node.inputs):
                self._consumers[i].append(node.name)

    # ----------------------------------------------------------------- queries
    @property
    def order(self) -> tuple[str, ...]:
        """Node names in the graph's execution order."""
        return self._order

    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise ArchError(f"no node named {name!r} in the graph") from None

    def shape(self, name: str) -> Shape:
        """Shape of a tensor: ``"input"`` or a node's output."""
        try:
            return self._shapes[name]
        except KeyError:
            raise ArchError(f"no tensor named {name!r} in the graph") from None

    def input_shapes(self, name: str) -> list[Shape]:
        """Shapes of the inputs of node ``name``, in order."""
        return list(self._in_shapes[name])

    def spec(self, name: str) -> OpSpec:
        """The catalogue entry of node ``name``'s op."""
        return self._specs[name]

    def consumers(self, name: str) -> tuple[str, ...]:
        """Nodes that read tensor ``name``, in graph order, each once."""
        return tuple(self._consumers[name])

    def node_params(self, name: str) -> int:
        """Trainable parameters of node ``name``."""
        return self._params[name]

    def node_macs(self, name: str, count_bias: bool = False) -> int:
        """Multiply-accumulates of node ``name`` (see ``fitnas.costs.counts``)."""
        macs, bias = self._macs.get(name, (0, 0))
        return macs + bias if count_bias else macs

    def total_macs(self, count_bias: bool = False) -> int:
        """Multiply-accumulates of all nodes."""
        if count_bias:
            return sum(m + b for m, b in self._macs.values())
        return sum(m for m, _ in self._macs.values())

    def total_params(self) -> int:
        """Trainable parameters of all nodes."""
        return sum(self._params.values())

    def numel(self, name: str) -> int:
        """Number of elements of tensor ``name``."""
        return self._numel[name]

    @property
    def opaque_nodes(self) -> tuple[str, ...]:
        """Nodes whose op the catalogue does not know (from ``trace``)."""
        return tuple(n.name for n in self.nodes if n.op == "opaque")

    def __len__(self) -> int:
        return len(self.nodes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArchGraph):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<ArchGraph{label} input={self.input_shape} nodes={len(self.nodes)}>"

    # ---------------------------------------------------------- transformations
    def with_input_shape(self, shape: Sequence[int]) -> ArchGraph:
        """The same graph over another input shape (shapes are inferred again)."""
        return ArchGraph(shape, self.nodes, self.outputs, self.name)

    def with_order(self, order: Sequence[str]) -> ArchGraph:
        """The same graph with another execution order (a topological order of its nodes)."""
        check_order(self, order)
        return ArchGraph(self.input_shape, [self._by_name[n] for n in order], self.outputs, self.name)

    # ---------------------------------------------------------------- identity
    def fingerprint(self) -> str:
        """A hash of the structure, independent of node names and of the order of independent
        nodes (a Merkle hash of each node over its op, attributes and input hashes)."""
        if self._fingerprint is None:
            digest: dict[str, str] = {INPUT: _hash(("input", self.input_shape))}
            for node in self.nodes:
                inputs = [digest[i] for i in node.inputs]
                if self._specs[node.name].commutative:
                    inputs.sort()
                # normalized attributes come in the op's fixed order, so no sorting is needed
                digest[node.name] = _hash((node.op, tuple(node.attrs.items()), tuple(inputs)))
            body = (tuple(sorted(digest[n] for n in self._order)),
                    tuple(digest[o] for o in self.outputs), digest[INPUT])
            self._fingerprint = _hash(body)
        return self._fingerprint

    def __reduce__(self) -> tuple[Any, ...]:
        return (ArchGraph.from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "fitnas.ArchGraph",
            "version": SCHEMA_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "outputs": list(self.outputs),
            "nodes": [n.to_dict() for n in self.nodes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchGraph:
        """Rebuild a graph from :meth:`to_dict` output (e.g. an ``arch.json``)."""
        if not isinstance(data, Mapping) or "nodes" not in data or "input_shape" not in data:
            raise ArchError("an ArchGraph JSON object needs the keys 'input_shape' and 'nodes'")
        version = data.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ArchError(f"ArchGraph format version {version!r} is not supported (only 1)")
        nodes = []
        for i, item in enumerate(data["nodes"]):
            if not isinstance(item, Mapping) or "name" not in item or "op" not in item:
                raise ArchError(f"node #{i} needs the keys 'name' and 'op', got {item!r}")
            inputs = item.get("inputs", [])
            if isinstance(inputs, str) or not isinstance(inputs, Sequence):
                raise ArchError(f"node {item['name']!r}: 'inputs' must be a list of names")
            nodes.append(Node(str(item["name"]), str(item["op"]), tuple(inputs),
                              dict(item.get("attrs", {}))))
        return cls(data["input_shape"], nodes, data.get("outputs"), str(data.get("name", "")))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> ArchGraph:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ArchError(f"not valid JSON: {err}") from None
        return cls.from_dict(data)


def check_order(graph: ArchGraph, order: Sequence[str]) -> None:
    """Raise :class:`ArchError` unless ``order`` is a topological order of all the graph's nodes."""
    names = set(graph.order)
    if len(order) != len(names) or set(order) != names:
        missing = sorted(names - set(order))
        extra = sorted(set(order) - names)
        raise ArchError(
            f"an execution order must name every node once; missing {missing[:5]}, "
            f"unknown or repeated {extra[:5] or 'none'}"
        )
    done = {INPUT}
    for name in order:
        for i in graph.node(name).inputs:
            if i not in done:
                raise ArchError(f"order runs {name!r} before its input {i!r}")
        done.add(name)


# ---------------------------------------------------------------- helpers
def _check_input_shape(shape: Sequence[int]) -> Shape:
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ArchError(f"input_shape must be a list of positive ints, got {shape!r}") from None
    if len(dims) < 2 or any(d < 1 for d in dims):
        raise ArchError(f"input_shape must be batch-first positive ints (e.g. 1x3x32x32), got {dims}")
    return dims


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


def _hash(obj: tuple[Any, ...]) -> str:
    """A stable hash of nested tuples of str, int, float and bool (their ``repr``)."""
    return hashlib.blake2b(repr(obj).encode(), digest_size=16).hexdigest()
