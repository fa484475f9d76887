"""A small helper that writes the nodes of a decoded network (used by every space).

:class:`Emitter` hands out unique node names and keeps the channels of every tensor it made, so
a decoder can ask "how many channels" while it writes. Composite layers are written as
their primitive nodes (ReLU, conv, BN, ...) so the lifetime model sees every tensor.
"""

from __future__ import annotations

from typing import Any

from ..arch import INPUT, ArchGraph, Node

__all__ = ["Emitter"]

_SETS_CHANNELS = frozenset({"conv2d", "pwconv", "fac_conv"})


class Emitter:
    """Collects nodes over one input of shape ``input_shape``, tracking channel counts.

    Only channels are tracked here (what the decoders need to choose a projection); full shapes
    and attribute checks are done once, by :class:`ArchGraph`, when :meth:`graph` is called.
    """

    def __init__(self, input_shape: tuple[int, ...]):
        self.input_shape = input_shape
        self.nodes: list[Node] = []
        self._channels: dict[str, int] = {INPUT: int(input_shape[1])}
        self._counts: dict[str, int] = {}

    def add(self, op: str, inputs: tuple[str, ...] | list[str], prefix: str = "",
            **attrs: Any) -> str:
        """Append a node; returns its name (``prefix`` + op + a counter)."""
        base = f"{prefix}{op}"
        k = self._counts.get(base, 0)
        self._counts[base] = k + 1
        name = base if k == 0 else f"{base}_{k}"
        self.nodes.append(Node(name, op, tuple(inputs), attrs))
        if op in _SETS_CHANNELS:
            self._channels[name] = int(attrs["out_channels"])
        elif op == "concat":
            self._channels[name] = sum(self._channels[i] for i in inputs)
        elif op == "linear":
            self._channels[name] = int(attrs["out_features"])
        else:
            self._channels[name] = self._channels[inputs[0]]
        return name

    def channels(self, name: str) -> int:
        """Channels (dimension 1) of a tensor made so far."""
        return self._channels[name]

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

    def graph(self, outputs: list[str] | None = None, name: str = "") -> ArchGraph:
        return ArchGraph(self.input_shape, self.nodes, outputs, name)
