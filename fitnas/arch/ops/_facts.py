"""Memoized op arithmetic: attribute normalization and the facts of one node's shape inference.

Building an :class:`~fitnas.arch.ArchGraph` validates every node's attributes
(:meth:`OpSpec.normalize`) and infers its output shape, parameters, MACs and workspace. Both are
pure functions: of the op and its attributes, and of the op, its normalized attributes and its
input shapes. A search decodes thousands of networks made of the same few dozen layer kinds, so
both are memoized here, in two bounded tables (cleared when full):

* The key of a node's attributes (:func:`attrs_key`) holds the op, the attributes and the
  *types* of their values (and of the items of a tuple value), so ``True`` and ``1``, ``1`` and
  ``1.0`` or ``(3, 3)`` and ``(True, 3)`` never share an entry (they do not normalize alike).
  Attributes with floats, lists or nested tuples key on their ``repr``, which tells these types
  apart (and ``0.0`` from ``-0.0``); values of any other type are never memoized.
* :func:`normalized` keys on that and the number of inputs (checked against the op's arity);
  :func:`node_facts` on that and the input shapes (tuples of ints, which fix the number of
  inputs too); :func:`trusted_facts` on the identity of normalized attributes (the table holds
  them, so an identity is never reused while its entry lives) and the input shapes.

Errors are never memoized: a bad node is checked again every time and raises the same error.

The facts also say, once per entry rather than once per graph, what the cost models read of the
op: its ``kind`` (:data:`ALIAS`, :data:`INPLACE`, :data:`WEIGHT`: how its output uses buffers,
``fitnas.costs.compact``) and Chan's layer input plus output (``layer_io``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from ._base import OpSpec, Shape, create_op, numel

__all__ = ["ALIAS", "INPLACE", "WEIGHT", "NodeFacts", "complete_facts", "node_facts", "normalized",
           "trusted", "trusted_facts"]

#: :attr:`NodeFacts.kind` bit: the op returns its first input's buffer (``OpSpec.alias``).
ALIAS = 1
#: :attr:`NodeFacts.kind` bit: the op may overwrite an input buffer (``OpSpec.inplace``).
INPLACE = 2
#: :attr:`NodeFacts.kind` bit: the tensor is a weight, not an activation (``OpSpec.activation``).
WEIGHT = 4

_NO_MACS = OpSpec.macs
_NO_WORKSPACE = OpSpec.workspace
_ATOMS = frozenset({int, str, bool, type(None)})
_ATOMS_OR_TUPLE = frozenset({int, str, bool, type(None), tuple})
_PLAIN = frozenset({int, str, bool, type(None), float})
_NORMAL_LIMIT = 4096
_FACTS_LIMIT = 32768

Normalized = tuple["MappingProxyType[str, Any]", str, OpSpec]


class NodeFacts(NamedTuple):
    """What shape inference knows about one node (all integers but ``spec`` and ``shape``)."""

    spec: OpSpec
    shape: Shape
    elements: int
    params: int
    macs: int
    #: MACs added by ``count_bias=True`` (one per output element of a layer with bias).
    bias_macs: int
    #: Elements of the tensors alive only while the op runs (``OpSpec.workspace``).
    workspace: int
    #: Elements of its inputs, summed (an input read twice counts twice).
    input_elements: int
    #: :data:`ALIAS`, :data:`INPLACE` and :data:`WEIGHT` bits of the op.
    kind: int
    #: ``input_elements + elements`` for a layer (an op neither a view nor a weight), else 0:
    #: Chan's ``|x_l| + |y_l|`` where no input is a weight or read twice.
    layer_io: int


#: (attribute key, number of inputs) -> (normalized attributes, op, spec)
_NORMAL: dict[Hashable, Normalized] = {}
#: id of normalized attributes made here -> the same entry (the trusted ones)
_BY_ID: dict[int, Normalized] = {}
#: (attribute key, input shapes) or (id of normalized attributes, input shapes) -> (the
#: normalized attributes, facts)
_FACTS: dict[Hashable, tuple[Mapping[str, Any], NodeFacts]] = {}


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind in _PLAIN:
        return True
    return (kind is tuple or kind is list) and all(_plain(v) for v in value)


def attrs_key(op: str, attrs: Mapping[str, Any]) -> Hashable | None:
    """A key equal only for attributes that normalize alike (``op`` alone for none);
    ``None``: do not memoize."""
    if type(attrs) is not dict and type(attrs) is not MappingProxyType:
        return None
    if not attrs:
        return op
    values = tuple(attrs.values())
    types = tuple(map(type, values))
    if _ATOMS.issuperset(types):
        return (op, tuple(attrs), values, types)
    if _ATOMS_OR_TUPLE.issuperset(types):  # e.g. kernel (3, 5): the types of the pairs too
        inner = tuple([tuple(map(type, v)) for v in values if type(v) is tuple])
        if all(map(_ATOMS.issuperset, inner)):
            return (op, tuple(attrs), values, types, inner)
    if all(_plain(v) for v in attrs.values()):
        return (op, repr(tuple(attrs.items())))
    return None


def normalized(op: str, attrs: Mapping[str, Any], n_inputs: int,
               key: Hashable | None = None) -> Normalized:
    """``(MappingProxyType(create_op(op).normalize(attrs)), op, spec)`` for a node of
    ``n_inputs`` inputs (checked against the op's arity first), memoized; raises what
    ``create_op``, ``check_arity`` and ``normalize`` raise. ``key``: ``attrs_key(op,
    attrs)``, when known."""
    if key is None:
        key = attrs_key(op, attrs)
    if key is not None:
        key = (key, n_inputs)
        hit = _NORMAL.get(key)
        if hit is not None:
            return hit
    spec = create_op(op)
    spec.check_arity(n_inputs)
    entry: Normalized = (MappingProxyType(spec.normalize(attrs)), op, spec)
    if key is not None:
        if len(_NORMAL) >= _NORMAL_LIMIT:
            _NORMAL.clear()
            _BY_ID.clear()
        _NORMAL[key] = entry
        _BY_ID[id(entry[0])] = entry
    return entry


def trusted(op: str, attrs: Mapping[str, Any]) -> Normalized | None:
    """The entry of ``attrs`` when :func:`normalized` made them for ``op`` (and still holds
    them), else ``None``."""
    hit = _BY_ID.get(id(attrs))
    if hit is not None and hit[0] is attrs and hit[1] == op:
        return hit
    return None


def complete_facts(spec: OpSpec, attrs: Mapping[str, Any], in_shapes: Sequence[Shape],
                   shape: Sequence[int]) -> NodeFacts:
    """The facts of a node whose output shape ``spec.output_shape`` gave as ``shape``."""
    out = tuple(map(int, shape))
    macs = bias = workspace = 0
    if type(spec).macs is not _NO_MACS:  # convolutions and linear layers
        macs = spec.macs(attrs, in_shapes, out, False)
        bias = spec.macs(attrs, in_shapes, out, True) - macs
    if type(spec).workspace is not _NO_WORKSPACE:
        workspace = sum(numel(s) for s in spec.workspace(attrs, in_shapes))
    elements, read = numel(out), sum(map(numel, in_shapes))
    kind = _kind(spec)
    return NodeFacts(spec, out, elements, spec.params(attrs, in_shapes), macs, bias, workspace,
                     read, kind, 0 if kind & (ALIAS | WEIGHT) else read + elements)


def _kind(spec: OpSpec) -> int:
    """The :attr:`NodeFacts.kind` bits of an op."""
    kind = ALIAS if spec.alias else INPLACE if spec.inplace else 0
    return kind | (0 if spec.activation else WEIGHT)


def _remember(key: Hashable, attrs: Mapping[str, Any], facts: NodeFacts) -> None:
    if len(_FACTS) >= _FACTS_LIMIT:
        _FACTS.clear()
    _FACTS[key] = (attrs, facts)


def node_facts(op: str, attrs: Mapping[str, Any], in_shapes: tuple[Shape, ...]
               ) -> tuple[Mapping[str, Any], NodeFacts]:
    """The normalized attributes and the facts of a node ``op`` with ``attrs`` over
    ``in_shapes``, memoized; raises what :func:`normalized` and ``output_shape`` raise (the
    latter unprefixed)."""
    akey = attrs_key(op, attrs) if type(attrs) is not dict or attrs else op
    if akey is not None:  # the input shapes tell the number of inputs (arity) too
        hit = _FACTS.get((akey, in_shapes))
        if hit is not None:
            return hit
    entry = normalized(op, attrs, len(in_shapes), akey)
    proxy, _, spec = entry
    if akey is None:
        return proxy, trusted_facts(entry, in_shapes)
    facts = complete_facts(spec, proxy, in_shapes, spec.output_shape(proxy, in_shapes))
    _remember((akey, in_shapes), proxy, facts)
    return proxy, facts


def trusted_facts(entry: Normalized, in_shapes: tuple[Shape, ...]) -> NodeFacts:
    """The facts of a node with the normalized attributes ``entry`` (from :func:`trusted`)
    over ``in_shapes``, memoized; raises what ``output_shape`` raises (unprefixed)."""
    attrs, _, spec = entry
    key = (id(attrs), in_shapes)
    hit = _FACTS.get(key)
    if hit is not None and hit[0] is attrs:
        return hit[1]
    facts = complete_facts(spec, attrs, in_shapes, spec.output_shape(attrs, in_shapes))
    _remember(key, attrs, facts)
    return facts
