"""``ArchGraph``: the one architecture format of fitnas (DESIGN.md, "One architecture format").

An ``ArchGraph`` is an immutable DAG of :class:`Node` s over one input tensor named ``"input"``.
Each node names an op of the catalogue (``fitnas.arch.ops``), its attributes and the names of its
inputs. The node list is the graph's execution order: a topological order, fixed at
construction (a list that is not topological is sorted stably, keeping the given order where it
can). Shapes are inferred at construction, so an impossible shape is an error here, naming the
node, and never a surprise at training time.

Construction takes one pass over a list that is already a topological order of valid nodes, with
the op arithmetic memoized (``fitnas.arch.ops._facts``); any other list (out of order, a bad name,
attribute or shape) takes the reference path, which checks in stages (names and attributes,
inputs, cycles, shapes) and raises the same error as always. Both paths give the same graph. A
writer that checked every node itself (the search spaces' emitter, ``fitnas.spaces._emit``)
hands over its checked columns instead (:func:`~fitnas.arch.nodes.trusted_rows`), taken as they
are. The graph keeps its nodes as columns; ``nodes`` makes the :class:`Node` objects on first
use (and the input names, where the graph was given indices only), and
:meth:`ArchGraph.arrays` gives the integer form the cost models read (``fitnas.costs.compact``).

``fingerprint()`` is the de-duplication key: it hashes the structure (ops, attributes, how nodes
connect, the input shape) and ignores node names and the order of independent nodes, so equal
architectures written differently have equal fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from ..errors import ArchError
from ..jsonio import check_depth, loads
from .nodes import INPUT, Node, Rows, checked_rows, fast_rows, node_dict
from .ops import OpSpec, Shape, numel
from .ops._facts import NodeFacts

__all__ = ["INPUT", "ArchGraph", "Node", "NodeArrays", "NodeFacts", "check_order"]

SCHEMA_VERSION = 1
#: The most nodes an ``arch.json`` may hold (:meth:`ArchGraph.from_dict`).
MAX_NODES = 100_000
#: The largest size accepted for an input dimension or an integer attribute (2**31 - 1, the
#: largest tensor dimension every runtime we export to takes).
MAX_SIZE = 2**31 - 1


class NodeArrays(NamedTuple):
    """A graph as arrays (what ``fitnas.costs.compact`` reads).

    Arrays over tensors (``names``, ``inputs``, ``shapes``, ``elements``, ``last_readers``)
    have the input at index 0 and the ``k``-th node of the graph's order at index ``k``;
    ``inputs`` holds the indices of each node's inputs, ``last_readers`` the last node that
    reads each tensor (its own index when none does); ``repeats`` lists the nodes that read a
    tensor twice. Arrays over nodes (``specs``, ``params``, ``macs``, ``bias_macs``,
    ``workspace``: elements of the op's workspace, ``input_elements``: elements of its inputs,
    summed, ``kinds`` and ``layer_io``: see :class:`NodeFacts`) have node ``k`` at ``k - 1``.
    """

    names: tuple[str, ...]
    positions: Mapping[str, int]
    inputs: tuple[tuple[int, ...], ...]
    shapes: tuple[Shape, ...]
    elements: tuple[int, ...]
    outputs: tuple[int, ...]
    last_readers: tuple[int, ...]
    repeats: tuple[int, ...]
    specs: tuple[OpSpec, ...]
    params: tuple[int, ...]
    macs: tuple[int, ...]
    bias_macs: tuple[int, ...]
    workspace: tuple[int, ...]
    input_elements: tuple[int, ...]
    kinds: tuple[int, ...]
    layer_io: tuple[int, ...]


class ArchGraph:
    """An immutable, shape-checked DAG of ops over one input tensor.

    Args:
        input_shape: the network input's shape, batch first, e.g. ``(1, 3, 32, 32)``.
        nodes: the nodes; ``Node`` objects or ``(name, op, inputs, attrs)`` tuples, all
            checked here; or the :class:`~fitnas.arch.nodes.Rows` of nodes checked already
            (:func:`~fitnas.arch.nodes.trusted_rows`, what the search spaces' emitter makes),
            taken as they are.
        outputs: names of the output nodes; default: the last node.
        name: an optional label (not part of the fingerprint).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        nodes: Iterable[Node | tuple[Any, ...]] | Rows,
        outputs: Sequence[str] | None = None,
        name: str = "",
    ) -> None:
        self.input_shape: Shape = _check_input_shape(input_shape)
        self.name = name
        if type(nodes) is Rows:
            rows = nodes
        else:
            raw = list(nodes)
            if not raw:
                raise ArchError("an architecture graph needs at least one node")
            rows = fast_rows(self.input_shape, raw) or checked_rows(self.input_shape, raw)
        if not rows.names:
            raise ArchError("an architecture graph needs at least one node")
        self._order: tuple[str, ...] = rows.names
        self._ops, self._input_names, self._attrs = rows.ops, rows.inputs, rows.attrs
        self._in_idx, self._facts = rows.in_idx, rows.facts
        self._index, self._last, self._repeats = rows.positions, rows.last, rows.repeats
        self._nodes = rows.nodes
        out = tuple(outputs) if outputs else (self._order[-1],)
        for o in out:
            if o not in self._index or o == INPUT:
                raise ArchError(f"output {o!r} is not a node of the graph")
        self.outputs: tuple[str, ...] = out
        self._fingerprint: str | None = None
        self._consumers: dict[str, list[str]] | None = None
        self._totals: tuple[int, int, int] | None = None
        #: Forms derived from this immutable graph by the cost models, by name (e.g. the
        #: compact form of ``fitnas.costs.compact``); never part of the graph's identity.
        self._derived: dict[str, Any] = {}

    # ----------------------------------------------------------------- queries
    @property
    def _inputs(self) -> tuple[tuple[str, ...], ...]:
        """The names of each node's inputs (made from the input indices on first use when the
        graph was made from trusted rows)."""
        if self._input_names is None:
            names = (INPUT, *self._order)
            self._input_names = tuple(
                (names[k[0]],) if len(k) == 1 else tuple(map(names.__getitem__, k))
                for k in self._in_idx)
        return self._input_names

    def _facts_index(self, name: str) -> int:
        """Where node ``name``'s facts are; ``KeyError`` for the input and unknown names."""
        k = self._index[name]
        if not k:
            raise KeyError(name)
        return k - 1

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The nodes in the graph's execution order."""
        if self._nodes is None:
            self._nodes = tuple(map(Node, self._order, self._ops, self._inputs, self._attrs))
        return self._nodes

    @property
    def order(self) -> tuple[str, ...]:
        """Node names in the graph's execution order."""
        return self._order

    def node(self, name: str) -> Node:
        k = self._index.get(name)
        if not k:
            raise ArchError(f"no node named {name!r} in the graph")
        return self.nodes[k - 1]

    def shape(self, name: str) -> Shape:
        """Shape of a tensor: ``"input"`` or a node's output."""
        k = self._index.get(name)
        if k is None:
            raise ArchError(f"no tensor named {name!r} in the graph")
        return self._facts[k - 1].shape if k else self.input_shape

    def input_shapes(self, name: str) -> list[Shape]:
        """Shapes of the inputs of node ``name``, in order."""
        return [self.shape(i) for i in self._inputs[self._facts_index(name)]]

    def spec(self, name: str) -> OpSpec:
        """The catalogue entry of node ``name``'s op."""
        return self._facts[self._facts_index(name)].spec

    def consumers(self, name: str) -> tuple[str, ...]:
        """Nodes that read tensor ``name``, in graph order, each once."""
        if self._consumers is None:
            readers: dict[str, list[str]] = {INPUT: []}
            for node_name, inputs in zip(self._order, self._inputs):
                readers[node_name] = []
                for i in dict.fromkeys(inputs):
                    readers[i].append(node_name)
            self._consumers = readers
        return tuple(self._consumers[name])

    def node_params(self, name: str) -> int:
        """Trainable parameters of node ``name``."""
        return self._facts[self._facts_index(name)].params

    def node_macs(self, name: str, count_bias: bool = False) -> int:
        """Multiply-accumulates of node ``name`` (see ``fitnas.costs.counts``)."""
        k = self._index.get(name)
        if not k:
            return 0
        facts = self._facts[k - 1]
        return facts.macs + facts.bias_macs if count_bias else facts.macs

    def _sums(self) -> tuple[int, int, int]:
        if self._totals is None:
            arrays = self.arrays()
            self._totals = (sum(arrays.params), sum(arrays.macs), sum(arrays.bias_macs))
        return self._totals

    def total_macs(self, count_bias: bool = False) -> int:
        """Multiply-accumulates of all nodes."""
        _, macs, bias = self._sums()
        return macs + bias if count_bias else macs

    def total_params(self) -> int:
        """Trainable parameters of all nodes."""
        return self._sums()[0]

    def numel(self, name: str) -> int:
        """Number of elements of tensor ``name``."""
        if name == INPUT:
            return numel(self.input_shape)
        return self._facts[self._facts_index(name)].elements

    @property
    def opaque_nodes(self) -> tuple[str, ...]:
        """Nodes whose op the catalogue does not know (from ``trace``)."""
        if "opaque" not in self._ops:
            return ()
        return tuple(n for n, op in zip(self._order, self._ops) if op == "opaque")

    def node_facts(self) -> tuple[NodeFacts, ...]:
        """Each node's :class:`~fitnas.arch.ops._facts.NodeFacts`, in the graph's order (the
        same object for the same op, attributes and input shapes when memoized)."""
        return self._facts

    def node_inputs(self) -> tuple[tuple[int, ...], ...]:
        """Each node's inputs as tensor indices (0: the graph input, ``k``: the ``k``-th node
        of the order), in the graph's order."""
        return self._in_idx

    def output_indices(self) -> tuple[int, ...]:
        """The tensor indices of the graph's outputs."""
        return tuple(self._index[o] for o in self.outputs)

    def node_attrs(self) -> tuple[Mapping[str, Any], ...]:
        """Each node's normalized attributes, in the graph's order."""
        return self._attrs

    def arrays(self) -> NodeArrays:
        """The graph as arrays over its tensors and nodes, made on each call (the cost models
        keep what they make of them, ``fitnas.costs.compact``)."""
        specs, shapes, elements, params, macs, bias, workspace, read, kinds, io = \
            zip(*self._facts)
        return NodeArrays(
            names=(INPUT, *self._order),
            positions=MappingProxyType(self._index),
            inputs=((), *self._in_idx),
            shapes=(self.input_shape, *shapes),
            elements=(numel(self.input_shape), *elements),
            outputs=tuple(self._index[o] for o in self.outputs),
            last_readers=self._last,
            repeats=self._repeats,
            specs=specs, params=params, macs=macs, bias_macs=bias, workspace=workspace,
            input_elements=read, kinds=kinds, layer_io=io,
        )

    def __len__(self) -> int:
        return len(self._order)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArchGraph):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<ArchGraph{label} input={self.input_shape} nodes={len(self._order)}>"

    # ---------------------------------------------------------- transformations
    def _rows(self) -> list[tuple[str, str, tuple[str, ...], Mapping[str, Any]]]:
        return list(zip(self._order, self._ops, self._inputs, self._attrs))

    def with_input_shape(self, shape: Sequence[int]) -> ArchGraph:
        """The same graph over another input shape (shapes are inferred again)."""
        return ArchGraph(shape, self._rows(), self.outputs, self.name)

    def with_order(self, order: Sequence[str]) -> ArchGraph:
        """The same graph with another execution order (a topological order of its nodes)."""
        check_order(self, order)
        rows, index = self._rows(), self._index
        return ArchGraph(self.input_shape, [rows[index[n] - 1] for n in order], self.outputs,
                         self.name)

    # ---------------------------------------------------------------- identity
    def fingerprint(self) -> str:
        """A hash of the structure, independent of node names and of the order of independent
        nodes (a Merkle hash of each node over its op, attributes and input hashes)."""
        if self._fingerprint is None:
            digest: dict[str, str] = {INPUT: _hash(("input", self.input_shape))}
            for name, op, inputs, attrs, facts in zip(self._order, self._ops, self._inputs,
                                                      self._attrs, self._facts):
                hashes = [digest[i] for i in inputs]
                if facts.spec.commutative:
                    hashes.sort()
                # normalized attributes come in the op's fixed order, so no sorting is needed
                digest[name] = _hash((op, tuple(attrs.items()), tuple(hashes)))
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
            "nodes": [node_dict(*row) for row in self._rows()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchGraph:
        """Rebuild a graph from :meth:`to_dict` output (e.g. an ``arch.json``).

        Every part of the document is checked before a node is made (types, at most
        :data:`MAX_NODES` nodes, sizes at most :data:`MAX_SIZE`, bounded nesting), so a
        malformed file raises :class:`ArchError` with one line, never another exception."""
        if not isinstance(data, Mapping) or "nodes" not in data or "input_shape" not in data:
            raise ArchError("an ArchGraph JSON object needs the keys 'input_shape' and 'nodes'")
        check_depth(data, "an ArchGraph JSON object", ArchError)
        version = data.get("version", SCHEMA_VERSION)
        if type(version) is not int or version != SCHEMA_VERSION:
            raise ArchError(f"ArchGraph format version {version!r} is not supported (only 1)")
        items = data["nodes"]
        if not isinstance(items, list) or not items:
            raise ArchError(f"'nodes' must be a non-empty list of node objects, got "
                            f"{_brief(items)}")
        if len(items) > MAX_NODES:
            raise ArchError(f"an ArchGraph has at most {MAX_NODES:,} nodes; this one has "
                            f"{len(items):,}")
        nodes = [_node_from_json(i, item) for i, item in enumerate(items)]
        outputs = data.get("outputs")
        if outputs is not None and (not isinstance(outputs, list)
                                    or not all(isinstance(o, str) for o in outputs)):
            raise ArchError(f"'outputs' must be a list of node names, got {_brief(outputs)}")
        name = data.get("name", "")
        if not isinstance(name, str):
            raise ArchError(f"'name' must be a string, got {_brief(name)}")
        return cls(data["input_shape"], nodes, outputs, name)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> ArchGraph:
        return cls.from_dict(loads(text, "the ArchGraph JSON", ArchError))


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
    inputs, index = graph._inputs, graph._index
    for name in order:
        for i in inputs[index[name] - 1]:
            if i not in done:
                raise ArchError(f"order runs {name!r} before its input {i!r}")
        done.add(name)


# ---------------------------------------------------------------- helpers
def _check_input_shape(shape: Sequence[int]) -> Shape:
    try:
        if isinstance(shape, (str, bytes)) or any(isinstance(d, bool) for d in shape):
            raise TypeError
        dims = tuple(operator.index(d) for d in shape)  # ints, numpy ints; not 1.5 or "3"
    except TypeError:
        raise ArchError(f"input_shape must be a list of positive ints, got {_brief(shape)}"
                        ) from None
    if len(dims) < 2 or min(dims) < 1 or max(dims) > MAX_SIZE:
        raise ArchError(f"input_shape must be 2 or more batch-first positive ints, each at most "
                        f"{MAX_SIZE:,} (e.g. 1x3x32x32), got {_brief(list(dims))}")
    return dims


def _brief(value: Any) -> str:
    """``repr`` of a bad value, cut to one short line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _node_from_json(i: int, item: Any) -> tuple[str, str, tuple[str, ...], dict[str, Any]]:
    """One node of an ``arch.json`` as a ``(name, op, inputs, attrs)`` row, its JSON types
    checked (the op then checks the attribute values)."""
    if not isinstance(item, Mapping) or "name" not in item or "op" not in item:
        raise ArchError(f"node #{i} needs the keys 'name' and 'op', got {_brief(item)}")
    name, op = item["name"], item["op"]
    if not isinstance(name, str) or not name:
        raise ArchError(f"node #{i}: 'name' must be a non-empty string, got {_brief(name)}")
    if not isinstance(op, str):
        raise ArchError(f"node {name!r}: 'op' must be a string, got {_brief(op)}")
    inputs = item.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise ArchError(f"node {name!r}: 'inputs' must be a list of node names, got "
                        f"{_brief(inputs)}")
    attrs = item.get("attrs", {})
    if not isinstance(attrs, Mapping):
        raise ArchError(f"node {name!r}: 'attrs' must be an object of attribute values, got "
                        f"{_brief(attrs)}")
    for key, value in attrs.items():
        _check_attr_value(name, key, value)
    return name, op, tuple(inputs), dict(attrs)


def _check_attr_value(node: str, key: str, value: Any) -> None:
    """An attribute value of JSON is a bool, a string, a number or a flat list of them; ints
    are at most :data:`MAX_SIZE` in size."""
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, bool) or isinstance(v, str) or v is None:
            continue
        if isinstance(v, int):
            if abs(v) > MAX_SIZE:
                raise ArchError(f"node {node!r}: attribute {key!r} = {_brief(value)} is out of "
                                f"range; sizes are at most {MAX_SIZE:,}")
            continue
        if isinstance(v, float):
            continue
        raise ArchError(f"node {node!r}: attribute {key!r} must be a number, a string, a bool "
                        f"or a list of them, got {_brief(value)}")


def _hash(obj: tuple[Any, ...]) -> str:
    """A stable hash of nested tuples of str, int, float and bool (their ``repr``)."""
    return hashlib.blake2b(repr(obj).encode(), digest_size=16).hexdigest()
