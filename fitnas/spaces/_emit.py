"""A small helper that writes the nodes of a decoded network (used by every space).

:class:`Emitter` hands out unique node names and keeps the channels of every tensor it made, so
a decoder can ask "how many channels" while it writes. Composite layers are written as
their primitive nodes (ReLU, conv, BN, ...) so the lifetime model sees every tensor. A piece
repeated with other inputs and names (a cell stacked N times) can be written once into a
:meth:`Emitter.fragment` and copied in with :meth:`Emitter.splice`.
"""

from __future__ import annotations

from typing import Any

from ..arch import INPUT, ArchGraph

__all__ = ["Emitter"]

_SETS_CHANNELS = frozenset({"conv2d", "pwconv", "fac_conv"})


class Emitter:
    """Collects nodes over one input of shape ``input_shape``, tracking channel counts.

    Only channels are tracked here (what the decoders need to choose a projection); full shapes
    and attribute checks are done once, by :class:`ArchGraph`, when :meth:`graph` is called.
    Nodes are kept as ``(name, op, inputs, attrs)`` rows, the form :class:`ArchGraph` checks in
    one pass.
    """

    def __init__(self, input_shape: tuple[int, ...]):
        self.input_shape = input_shape
        self.nodes: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = []
        self._channels: dict[str, int] = {INPUT: int(input_shape[1])}
        self._counts: dict[str, int] = {}

    def add(self, op: str, inputs: tuple[str, ...] | list[str], prefix: str = "",
            **attrs: Any) -> str:
        """Append a node; returns its name (``prefix`` + op + a counter)."""
        base = prefix + op
        counts, channels = self._counts, self._channels
        k = counts.get(base, 0)
        counts[base] = k + 1
        name = f"{base}_{k}" if k else base
        self.nodes.append((name, op, tuple(inputs), attrs))
        if op in _SETS_CHANNELS:
            channels[name] = int(attrs["out_channels"])
        elif op == "concat":
            channels[name] = sum(map(channels.__getitem__, inputs))
        elif op == "linear":
            channels[name] = int(attrs["out_features"])
        else:
            channels[name] = channels[inputs[0]]
        return name

    def fragment(self, inputs: dict[str, str]) -> Emitter:
        """An empty emitter for a piece of network over the tensors ``inputs`` of this one
        (placeholder -> name), written once and then copied in with :meth:`splice`."""
        piece = Emitter(self.input_shape)
        piece._channels = {p: self._channels[name] for p, name in inputs.items()}
        return piece

    def splice(self, piece: Emitter, prefix: str, inputs: dict[str, str]) -> dict[str, str] | None:
        """Append a copy of the nodes of ``piece`` (from :meth:`fragment`), their names
        prefixed, their placeholder inputs given by ``inputs``: exactly the nodes that writing
        the piece here with ``prefix`` on every node would give. Returns the names of the copies
        (piece name -> name), or ``None``, writing nothing, where a copy's name would be taken
        or the piece reads a tensor that is neither a placeholder nor one of its earlier nodes
        (then write the piece here instead). ``inputs`` must have the channels the piece was
        written for."""
        counts = self._counts
        bases = [prefix + base for base in piece._counts]
        if not counts.keys().isdisjoint(bases):
            return None
        # every base used once: the piece's names are its bases, and so are the copies'
        names = bases if len(bases) == len(piece.nodes) else \
            [prefix + row[0] for row in piece.nodes]
        rename = dict(inputs)
        nodes, channels, made = self.nodes, self._channels, piece._channels
        start, add = len(nodes), nodes.append
        try:
            for (name, op, ins, attrs), new in zip(piece.nodes, names):
                add((new, op, (rename[ins[0]],) if len(ins) == 1 else
                     tuple(map(rename.__getitem__, ins)), attrs))
                rename[name] = new
                channels[new] = made[name]
        except KeyError:  # the piece reads a tensor it does not have: undo
            for row in nodes[start:]:
                channels.pop(row[0], None)
            del nodes[start:]
            return None
        counts.update(zip(bases, piece._counts.values()))
        return rename

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
