"""The op catalogue's base: :class:`OpSpec` and the registry of ops by name.

An op is pure arithmetic on shapes: given its attributes and its input shapes it says the output
shape, the number of trainable parameters, the multiply-accumulates, the transient tensors it
allocates while it runs (``workspace``) and whether its output may overwrite an input buffer
(``inplace``) or always shares the input's buffer (``alias``). No torch import here: the
builder (``fitnas/arch/builder.py``) is the only place that turns an op into a module.

Shapes always include the batch dimension first: ``(N, C, H, W)`` for images, ``(N, F)`` for
vectors. Conventions (DESIGN.md, convention 8): MACs are multiply-accumulates (one per weight use,
not 2x); bias additions are not MACs unless ``count_bias`` is set.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ...errors import ArchError, ShapeError

__all__ = [
    "Attrs",
    "OpSpec",
    "Shape",
    "create_op",
    "list_ops",
    "numel",
    "pair",
    "register_op",
]

Shape = tuple[int, ...]
Attrs = Mapping[str, Any]

_REQUIRED = object()


def numel(shape: Sequence[int]) -> int:
    """Number of elements of a tensor of this shape."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def pair(value: Any, what: str) -> tuple[int, int]:
    """An int or a pair of ints as an ``(h, w)`` pair of non-negative ints."""
    kind = type(value)
    if kind is int:
        return (value, value)
    if kind is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return value
    if isinstance(value, bool):
        raise ArchError(f"{what} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return (int(value[0]), int(value[1]))
    raise ArchError(f"{what} must be an int or a pair of ints, got {value!r}")


class OpSpec(ABC):
    """One kind of node: its attributes and its shape, parameter and MAC arithmetic.

    Subclasses set ``name``, ``summary``, ``defaults`` (attribute -> default, or ``REQUIRED``)
    and ``arity`` and implement :meth:`output_shape`; the other methods default to zero.
    """

    REQUIRED: ClassVar[object] = _REQUIRED
    name: ClassVar[str]
    summary: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    #: The output may overwrite one input buffer when that input has no later consumer.
    inplace: ClassVar[bool] = False
    #: The output always shares the buffer of input 0 (identity, a view, dropout at inference).
    alias: ClassVar[bool] = False
    #: The output is an activation; ``False`` for weights (``parameter`` nodes).
    activation: ClassVar[bool] = True
    #: The order of the inputs does not matter (add, mul): used by the fingerprint.
    commutative: ClassVar[bool] = False

    def normalize(self, attrs: Attrs) -> dict[str, Any]:
        """Validate attributes and fill in defaults; lists become tuples."""
        unknown = sorted(set(attrs) - set(self.defaults))
        if unknown:
            accepted = ", ".join(sorted(self.defaults)) or "none"
            raise ArchError(
                f"op {self.name!r} has no attribute {unknown[0]!r}; accepted: {accepted}"
            )
        out: dict[str, Any] = {}
        for key, default in self.defaults.items():
            if key in attrs:
                out[key] = _freeze(attrs[key])
            elif default is _REQUIRED:
                raise ArchError(f"op {self.name!r} needs attribute {key!r}")
            else:
                out[key] = default
        self.check_attrs(out)
        return out

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        """Hook for value checks and canonical forms; mutate ``attrs`` in place."""

    def check_arity(self, n_inputs: int) -> None:
        low, high = self.arity
        if n_inputs < low or (high is not None and n_inputs > high):
            want = str(low) if high == low else f"{low} or more" if high is None else f"{low}-{high}"
            raise ArchError(f"op {self.name!r} takes {want} inputs, got {n_inputs}")

    @abstractmethod
    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        """The output shape; raise :class:`ShapeError` (via :meth:`fail`) when impossible."""

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        """Trainable parameters (``sum(p.numel() for p in module.parameters())``)."""
        return 0

    def macs(
        self, attrs: Attrs, in_shapes: Sequence[Shape], out_shape: Shape, count_bias: bool
    ) -> int:
        """Multiply-accumulates for the whole batch."""
        return 0

    def workspace(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> tuple[Shape, ...]:
        """Shapes of tensors alive only while this op runs (besides its inputs and output)."""
        return ()

    def fail(self, message: str) -> ShapeError:
        return ShapeError(f"{self.name}: {message}")


_SCALARS = (int, float, str, bool, type(None))


def _freeze(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_freeze(v) for v in value)
    return value


_REGISTRY: dict[str, OpSpec] = {}


def register_op(spec: type[OpSpec]) -> type[OpSpec]:
    """Class decorator: add an op to the catalogue under ``spec.name``."""
    if spec.name in _REGISTRY:
        raise ValueError(f"op {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec()
    return spec


def create_op(name: str) -> OpSpec:
    """The catalogue entry for ``name``; an unknown name lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ArchError(f"unknown op {name!r}; known ops: {', '.join(list_ops())}") from None


def list_ops() -> list[str]:
    """Names of all ops in the catalogue, sorted."""
    return sorted(_REGISTRY)
