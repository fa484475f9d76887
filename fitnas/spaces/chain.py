"""``chain``: Chan et al.'s chain ("macro") CNNs (paper 002, section 3.2 and Algorithm II).

A network is the descriptor ``(size_input, params_conv, params_fc, size_output)`` (eq. 3-5);
the space fixes the input size and the output size (classes), so an encoding is
``(convs, fcs)``: ``convs`` a tuple of conv layers ``(N_filt, filt_x, filt_y, pool_x, pool_y,
sub_x, sub_y)`` (eq. 5) and ``fcs`` a tuple of hidden widths ``N_fc`` (eq. 3). JSON form:
``{"conv": [[64, 3, 3, 2, 2, 2, 2], ...], "fc": [512]}``.

Each conv layer decodes to a conv of ``filt_y x filt_x`` (height x width), stride 1, padding
``(filt - 1) // 2`` (an odd kernel keeps the size, an even one loses one pixel), with bias;
then ReLU and batch norm, in the order section 3.2 states ("passed through a standard ReLU
activation function and followed by a batch normalization step"); then, unless the pool and
subsampling sizes are all 1, a max pool of window ``pool_y x pool_x`` and stride
``sub_y x sub_x`` (we read the "subsampling factor" as the pool's stride: the paper's CIFAR-10
space has "maxpools up to 2x2 with a stride of 2"). Then flatten, each hidden layer is linear
and ReLU, and a linear layer gives the classes. ``batchnorm=False`` drops the BN nodes (the
paper's VGG-19, reachable from its descriptor, has none). A descriptor whose feature map would
shrink below 1x1 raises :class:`FailValidArch` (Algorithm I).

Limits (the initial model space of Algorithm I) are arguments. The defaults are the paper's
CIFAR-10 experiment (section 4.1: up to 26 conv layers, 128 filters, 3x3 kernels, 2x2 max pools
of stride 2, 2048 hidden units; we allow up to 2 hidden layers) scaled by ``min(1, side / 32)``
for inputs smaller than 32x32 (8x8 digits: 6 conv layers, 32 filters, 512 hidden units).

Sampling is the paper's chained sampling: the numbers of conv and hidden layers first, each
uniform, then each layer's parameters, each uniform over its range; a layer's pool and
subsampling sizes are drawn among those that keep the feature map at least 1x1, so every
sample is valid (rejecting whole samples, as Algorithm I does, almost never succeeds for deep
networks on small inputs). Filters are drawn from ``[max_filters // 8, max_filters]`` and
hidden widths from ``[max_hidden // 16, max_hidden]``.

Moves (Algorithm II; the adaptive samples may leave the initial model space): ``grow`` adds a
layer, a copy of an existing layer inserted after it (the paper's ``AddLayer(A, Randomize(L))``
with the identity randomisation; :meth:`ChainSpace.random_layer` draws a randomised one), conv
copies without pooling so the map does not shrink further; ``trim`` removes one layer (at least
one conv layer stays); ``mutations`` are the coordinate steps: scale one key of one layer by
1.5 or 0.66 (``n_filt``, ``filt_sz``, ``pool_sz`` and ``sub_sz`` of a conv layer, the last three
scaling x and y together; ``n_hidden`` of a fully connected one), rounded half up and moved by
at least 1; steps to invalid architectures are left out.

Tokens: ``CONV n fx fy px py sx sy`` per conv layer, ``FC n`` per hidden layer, then ``END``;
token 0 is ``CONV``, 1 ``FC``, 2 ``END`` and value ``v`` is ``2 + v`` for ``v`` in
``1..token_max`` (default: 4 x the largest limit).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial
from typing import Any

from ..arch import INPUT, ArchGraph
from ._base import (
    MAX_CHANNELS,
    FailValidArch,
    InvalidEncoding,
    NextTokens,
    SearchSpace,
    SpaceError,
    check_int,
    make_rng,
    register_space,
)
from ._emit import Emitter

__all__ = ["KEYS", "ChainSpace"]

ConvLayer = tuple[int, int, int, int, int, int, int]
Chain = tuple[tuple[ConvLayer, ...], tuple[int, ...]]

#: The coordinate keys of Algorithm II and the conv-layer fields each one scales.
KEYS = {"n_filt": (0,), "filt_sz": (1, 2), "pool_sz": (3, 4), "sub_sz": (5, 6), "n_hidden": ()}
FACTORS = (1.5, 0.66)
_CONV, _FC, _END = 0, 1, 2


def _scaled(value: int, factor: float) -> int:
    new = int(value * factor + 0.5)
    return max(new, value + 1) if factor > 1 else min(new, value - 1)


@register_space
class ChainSpace(SearchSpace):
    """Chain CNNs of paper 002.

    Args:
        input_shape, classes: the descriptor's input and output sizes (1x3x32x32, 10).
        max_conv_layers, max_filters, max_hidden: limits; ``None`` scales the paper's CIFAR-10
            limits (26, 128, 2048) to the input (see the module docstring).
        max_kernel, max_pool, max_sub: largest filter, pool and subsampling size (3, 2, 2).
        max_fc_layers: most hidden layers (2).
        batchnorm: a BN after each conv layer's ReLU (True).
        token_max: the largest value a token can hold (``None``: 4 x the largest limit).
        min_filters: fewest filters a random conv layer draws (``max_filters // 8``); with
            batch norm a layer's peak is twice its output, so a tight peak limit may need 1.
    """

    name = "chain"
    summary = "Chan et al. chain CNNs: conv layers (filters, kernel, max pool) then FC layers"

    def __init__(self, input_shape: Sequence[int] | None = None, classes: int | None = None,
                 max_conv_layers: int | None = None, max_filters: int | None = None,
                 max_kernel: int = 3, max_pool: int = 2, max_sub: int = 2,
                 max_fc_layers: int = 2, max_hidden: int | None = None,
                 batchnorm: bool = True, token_max: int | None = None,
                 min_filters: int | None = None):
        super().__init__(input_shape, classes)
        scale = min(1.0, min(self.input_shape[2:]) / 32)
        self.max_conv_layers = check_int(
            max(1, round(26 * scale)) if max_conv_layers is None else max_conv_layers,
            "max_conv_layers", 1, 1000)
        self.max_filters = check_int(
            max(8, round(128 * scale)) if max_filters is None else max_filters, "max_filters",
            1, MAX_CHANNELS)
        self.max_hidden = check_int(
            max(16, round(2048 * scale)) if max_hidden is None else max_hidden, "max_hidden",
            1, MAX_CHANNELS)
        self.min_filters = check_int(max(1, self.max_filters // 8) if min_filters is None
                                     else min_filters, "min_filters", 1, self.max_filters)
        self.max_kernel = check_int(max_kernel, "max_kernel", 1, 64)
        self.max_pool = check_int(max_pool, "max_pool", 1, 64)
        self.max_sub = check_int(max_sub, "max_sub", 1, 64)
        self.max_fc_layers = check_int(max_fc_layers, "max_fc_layers", 0, 100)
        if batchnorm not in (True, False):  # True/False, or 1/0 from an option string
            raise SpaceError(f"batchnorm must be true or false, got {batchnorm!r}")
        self.batchnorm = bool(batchnorm)
        biggest = max(self.max_filters, self.max_hidden, self.max_kernel, self.max_pool,
                      self.max_sub)
        self.token_max = check_int(4 * biggest if token_max is None else token_max, "token_max",
                                   1, 4 * MAX_CHANNELS)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_conv_layers": self.max_conv_layers,
                "max_filters": self.max_filters, "max_kernel": self.max_kernel,
                "max_pool": self.max_pool, "max_sub": self.max_sub,
                "max_fc_layers": self.max_fc_layers, "max_hidden": self.max_hidden,
                "batchnorm": self.batchnorm, "token_max": self.token_max,
                "min_filters": self.min_filters}

    # -------------------------------------------------------------- encodings
    def from_data(self, data: Any) -> Chain:
        if isinstance(data, dict):
            extra = sorted(set(data) - {"conv", "fc"})
            if extra:
                raise InvalidEncoding(f"a chain encoding has keys 'conv' and 'fc', not {extra}")
            convs, fcs = data.get("conv", []), data.get("fc", [])
        elif isinstance(data, (list, tuple)) and len(data) == 2:
            convs, fcs = data
        else:
            raise InvalidEncoding(f"a chain encoding is {{'conv': [[N_filt, filt_x, filt_y, "
                                  f"pool_x, pool_y, sub_x, sub_y], ...], 'fc': [N, ...]}}, "
                                  f"got {data!r}")
        if not isinstance(convs, (list, tuple)) or not isinstance(fcs, (list, tuple)):
            raise InvalidEncoding("chain 'conv' and 'fc' must be lists")
        if not convs:
            raise InvalidEncoding("a chain network needs at least one conv layer")
        layers = []
        for i, layer in enumerate(convs):
            if not isinstance(layer, (list, tuple)) or len(layer) != 7:
                raise InvalidEncoding(f"chain conv layer {i} must be 7 ints (N_filt, filt_x, "
                                      f"filt_y, pool_x, pool_y, sub_x, sub_y), got {layer!r}")
            layers.append(tuple(_positive(v, f"conv layer {i}") for v in layer))
        hidden = tuple(_positive(v, f"fc layer {i}") for i, v in enumerate(fcs))
        enc: Chain = (tuple(layers), hidden)  # type: ignore[arg-type]
        self._sizes(enc)
        return enc

    def to_data(self, enc: Chain) -> dict[str, Any]:
        convs, fcs = self.validate(enc)
        return {"conv": [list(c) for c in convs], "fc": list(fcs)}

    def _sizes(self, enc: Chain) -> list[tuple[int, int]]:
        """Feature-map size after each conv layer; :class:`FailValidArch` below 1x1."""
        h, w = self.input_shape[2], self.input_shape[3]
        out = []
        for i, (_, fx, fy, px, py, sx, sy) in enumerate(enc[0]):
            h, w = h - (fy - 1) + 2 * ((fy - 1) // 2), w - (fx - 1) + 2 * ((fx - 1) // 2)
            if h >= 1 and w >= 1 and (px, py, sx, sy) != (1, 1, 1, 1):
                h, w = (h - py) // sy + 1, (w - px) // sx + 1
            if h < 1 or w < 1:
                raise FailValidArch(f"chain conv layer {i} {list(enc[0][i])} shrinks the feature "
                                    f"map below 1x1 (input {self.input_shape[2]}x"
                                    f"{self.input_shape[3]})")
            out.append((h, w))
        return out

    def sample(self, seed: int | random.Random | None = None) -> Chain:
        rng = make_rng(seed)
        n_conv = rng.randint(1, self.max_conv_layers)
        n_fc = rng.randint(0, self.max_fc_layers)
        h, w = self.input_shape[2], self.input_shape[3]
        convs = []
        for _ in range(n_conv):
            layer, (h, w) = self._random_conv(rng, h, w)
            convs.append(layer)
        fcs = tuple(rng.randint(max(1, self.max_hidden // 16), self.max_hidden)
                    for _ in range(n_fc))
        return (tuple(convs), fcs)

    def _random_conv(self, rng: random.Random, h: int, w: int) -> tuple[ConvLayer, tuple[int, int]]:
        n = rng.randint(self.min_filters, self.max_filters)
        fx = rng.choice([k for k in range(1, self.max_kernel + 1) if k % 2 or w >= 2])
        fy = rng.choice([k for k in range(1, self.max_kernel + 1) if k % 2 or h >= 2])
        h, w = h - (1 - fy % 2), w - (1 - fx % 2)
        px, sx = _pool_choice(rng, w, self.max_pool, self.max_sub)
        py, sy = _pool_choice(rng, h, self.max_pool, self.max_sub)
        if (px, py, sx, sy) != (1, 1, 1, 1):
            h, w = (h - py) // sy + 1, (w - px) // sx + 1
        return (n, fx, fy, px, py, sx, sy), (h, w)

    def random_layer(self, enc: Chain, index: int, seed: int | random.Random | None = None
                     ) -> Chain:
        """Algorithm II's ``AddLayer(A, Randomize(L_index))``: a random layer of the same kind
        inserted after layer ``index`` (conv layers first, then hidden layers)."""
        enc = self.validate(enc)
        rng = make_rng(seed)
        convs, fcs = enc
        if index < len(convs):
            h, w = self._sizes(enc)[index]
            layer, _ = self._random_conv(rng, h, w)
            new = self._valid(((*convs[:index + 1], layer, *convs[index + 1:]), fcs))
            if new is None:  # the new layer leaves no room for the later pools
                plain = (*layer[:3], 1, 1, 1, 1)
                new = self._valid(((*convs[: index + 1], plain, *convs[index + 1 :]), fcs))
            if new is None:
                raise FailValidArch(f"no room for a random layer after conv layer {index}")
            return new
        k = self._fc_index(enc, index)
        hidden = rng.randint(max(1, self.max_hidden // 16), self.max_hidden)
        return (convs, (*fcs[: k + 1], hidden, *fcs[k + 1 :]))

    # ------------------------------------------------------------------ moves
    def grow(self, enc: Chain) -> list[Chain]:
        """Add a layer: a copy of each layer inserted after it (conv copies without pooling)."""
        convs, fcs = self.validate(enc)
        out: list[Chain] = []
        for i, c in enumerate(convs):
            out.append(((*convs[:i + 1], (*c[:3], 1, 1, 1, 1), *convs[i + 1:]), fcs))
        for k, n in enumerate(fcs):
            out.append((convs, (*fcs[:k + 1], n, *fcs[k + 1:])))
        return _unique(x for x in map(self._valid, out) if x is not None)

    def trim(self, enc: Chain) -> list[Chain]:
        """Remove a layer (one conv layer always stays)."""
        convs, fcs = self.validate(enc)
        out: list[Chain] = []
        if len(convs) > 1:
            out += [(convs[:i] + convs[i + 1 :], fcs) for i in range(len(convs))]
        out += [(convs, fcs[:k] + fcs[k + 1 :]) for k in range(len(fcs))]
        return _unique(x for x in map(self._valid, out) if x is not None)

    def coordinates(self, enc: Chain) -> list[tuple[int, str]]:
        """The ``(layer, key)`` coordinates Algorithm II may step along."""
        convs, fcs = self.validate(enc)
        conv_keys = [k for k in KEYS if k != "n_hidden"]
        return [(i, k) for i in range(len(convs)) for k in conv_keys] + [
            (len(convs) + k, "n_hidden") for k in range(len(fcs))]

    def scale(self, enc: Chain, layer: int, key: str, factor: float) -> Chain:
        """One coordinate step: ``Val(L_layer, key) <- factor * Val`` (Algorithm II); raises
        :class:`FailValidArch` when the result is invalid."""
        convs, fcs = self.validate(enc)
        if key not in KEYS:
            raise InvalidEncoding(f"unknown chain key {key!r}; accepted: {', '.join(KEYS)}")
        if key == "n_hidden":
            k = self._fc_index((convs, fcs), layer)
            value = _scaled(fcs[k], factor)
            if value < 1:
                raise FailValidArch(f"n_hidden of layer {layer} cannot go below 1")
            return (convs, (*fcs[:k], value, *fcs[k + 1:]))
        if not 0 <= layer < len(convs):
            raise InvalidEncoding(f"chain layer {layer} is not a conv layer (0..{len(convs) - 1})")
        fields = list(convs[layer])
        for f in KEYS[key]:
            fields[f] = _scaled(fields[f], factor)
            if fields[f] < 1:
                raise FailValidArch(f"{key} of conv layer {layer} cannot go below 1")
        return self.validate(((*convs[:layer], tuple(fields), *convs[layer + 1:]), fcs))

    def step(self, enc: Chain, coordinate: Any, direction: int) -> Chain:
        """Algorithm II's step: ``coordinate = (layer, key)`` scaled by 1.5 (``direction`` +1)
        or 0.66 (-1); a step that rounds back to the same value moves it by one instead."""
        if direction not in (1, -1):
            raise InvalidEncoding(f"a coordinate step goes +1 or -1, got {direction!r}")
        try:
            layer, key = coordinate
        except (TypeError, ValueError):
            raise InvalidEncoding(f"chain coordinate {coordinate!r} is not (layer, key)") from None
        return self.scale(enc, layer, key, FACTORS[0] if direction > 0 else FACTORS[1])

    def add_layer(self, enc: Chain, rng: random.Random) -> Chain:
        """Algorithm II's ``AddLayer(A, Randomize(L_i))`` after a random layer ``L_i``."""
        convs, fcs = self.validate(enc)
        return self.random_layer(enc, rng.randrange(len(convs) + len(fcs)), rng)

    def mutations(self, enc: Chain) -> list[Chain]:
        """Every coordinate step: each coordinate scaled by 1.5 and by 0.66."""
        out = []
        for layer, key in self.coordinates(enc):
            for factor in FACTORS:
                try:
                    out.append(self.scale(enc, layer, key, factor))
                except FailValidArch:
                    continue
        return _unique(out)

    def _valid(self, enc: Chain) -> Chain | None:
        try:
            return self.validate(enc)
        except FailValidArch:
            return None

    @staticmethod
    def _fc_index(enc: Chain, layer: int) -> int:
        k = layer - len(enc[0])
        if not 0 <= k < len(enc[1]):
            raise InvalidEncoding(f"chain layer {layer} is not a fully connected layer "
                                  f"({len(enc[0])}..{len(enc[0]) + len(enc[1]) - 1})")
        return k

    # ----------------------------------------------------------------- tokens
    @property
    def vocab_size(self) -> int:
        return 3 + self.token_max

    def to_tokens(self, enc: Chain) -> list[int]:
        convs, fcs = self.validate(enc)
        out = []
        for layer in convs:
            out += [_CONV, *(self._value_token(v) for v in layer)]
        for n in fcs:
            out += [_FC, self._value_token(n)]
        return [*out, _END]

    def _value_token(self, v: int) -> int:
        if v > self.token_max:
            raise InvalidEncoding(f"chain value {v} exceeds token_max {self.token_max}; build the "
                                  f"space with a larger token_max")
        return 2 + v

    def next_tokens(self, prefix: Sequence[int]) -> NextTokens:
        """The grammar of the initial model space (what :meth:`sample` draws from): ``CONV``
        first; each conv layer's values in the sampling ranges, the kernel, pool and
        subsampling sizes among those that keep the feature map at least 1x1 after the layers
        before; ``CONV`` while fewer than ``max_conv_layers``, ``FC`` while fewer than
        ``max_fc_layers``, then ``END``, after which the sequence ends."""
        return self._walk(_ChainGrammar(self), prefix)

    def from_tokens(self, tokens: Sequence[int]) -> Chain:
        toks = self._check_tokens(tokens)
        convs: list[list[int]] = []
        fcs: list[int] = []
        k = 0
        while k < len(toks) and toks[k] != _END:
            kind, width = toks[k], 7 if toks[k] == _CONV else 1
            values = toks[k + 1 : k + 1 + width]
            if kind not in (_CONV, _FC) or len(values) != width or min(values, default=0) < 3:
                raise InvalidEncoding(f"chain tokens at position {k} are not CONV + 7 values "
                                      f"or FC + 1 value: {toks[k : k + 1 + width]}")
            if kind == _CONV and fcs:
                raise InvalidEncoding("chain tokens put a conv layer after a hidden layer")
            (convs.append([v - 2 for v in values]) if kind == _CONV
             else fcs.append(values[0] - 2))
            k += 1 + width
        if k != len(toks) - 1:
            raise InvalidEncoding("chain tokens must end with one END token")
        return self.from_data({"conv": convs, "fc": fcs})

    # ----------------------------------------------------------------- decode
    def decode(self, enc: Chain) -> ArchGraph:
        enc = self.validate(enc)
        return Emitter.build(self.input_shape, partial(self._write, enc),
                             name=f"chain:{self.format(enc)}")

    def _write(self, enc: Chain, em: Emitter) -> None:
        convs, fcs = enc
        x = INPUT
        for i, (n, fx, fy, px, py, sx, sy) in enumerate(convs):
            p = f"c{i}_"
            x = em.add("conv2d", (x,), p, out_channels=n, kernel=(fy, fx),
                       padding=((fy - 1) // 2, (fx - 1) // 2))
            x = em.add("relu", (x,), p)
            if self.batchnorm:
                x = em.add("batchnorm", (x,), p)
            if (px, py, sx, sy) != (1, 1, 1, 1):
                x = em.add("maxpool", (x,), p, kernel=(py, px), stride=(sy, sx))
        x = em.add("flatten", (x,))
        for k, n in enumerate(fcs):
            x = em.add("linear", (x,), f"fc{k}_", out_features=n)
            x = em.add("relu", (x,), f"fc{k}_")
        em.add("linear", (x,), "out_", out_features=self.classes)


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidEncoding(f"chain {where}: values must be positive ints, got {value!r}")
    return value


class _ChainGrammar:
    """Where a prefix of chain tokens stands: the layer being written and the map's size."""

    def __init__(self, space: ChainSpace) -> None:
        self.space = space
        self.h, self.w = space.input_shape[2], space.input_shape[3]
        self.n_conv = self.n_fc = 0
        self.layer: list[int] | None = None  # the conv layer being written
        self.in_fc = False  # an FC token was read, its width not yet
        self.started = self.done = False

    def _values(self, low: int, high: int) -> tuple[int, ...]:
        return tuple(2 + v for v in range(low, high + 1))

    def allowed(self) -> tuple[int, ...]:
        sp = self.space
        if self.done:
            return ()
        if not self.started:
            return (_CONV,)
        if self.in_fc:
            return self._values(max(1, sp.max_hidden // 16), sp.max_hidden)
        if self.layer is not None:
            field = len(self.layer)
            if field == 0:
                return self._values(sp.min_filters, sp.max_filters)
            if field in (1, 2):
                size = self.w if field == 1 else self.h
                return tuple(2 + k for k in range(1, sp.max_kernel + 1) if k % 2 or size >= 2)
            if field in (3, 4):
                size = self.w if field == 3 else self.h
                return tuple(2 + p for p in range(1, sp.max_pool + 1) if p == 1 or size >= p)
            return self._values(1, sp.max_sub)
        out = [_CONV] if self.n_fc == 0 and self.n_conv < sp.max_conv_layers else []
        if self.n_fc < sp.max_fc_layers:
            out.append(_FC)
        return (*out, _END)

    def can_end(self) -> bool:
        return self.done

    def take(self, token: int) -> None:
        """Read one token the grammar allowed."""
        if not self.started:
            self.started, self.layer = True, []
        elif self.in_fc:
            self.in_fc, self.n_fc = False, self.n_fc + 1
        elif self.layer is not None:
            self.layer.append(token - 2)
            if len(self.layer) == 3:  # both kernels: an even one loses a pixel
                self.w -= 1 - self.layer[1] % 2
                self.h -= 1 - self.layer[2] % 2
            if len(self.layer) == 7:
                px, py, sx, sy = self.layer[3:]
                if (px, py, sx, sy) != (1, 1, 1, 1):
                    self.h, self.w = (self.h - py) // sy + 1, (self.w - px) // sx + 1
                self.layer, self.n_conv = None, self.n_conv + 1
        elif token == _CONV:
            self.layer = []
        elif token == _FC:
            self.in_fc = True
        else:
            self.done = True


def _pool_choice(rng: random.Random, size: int, max_pool: int, max_sub: int) -> tuple[int, int]:
    """A (pool, sub) pair along one axis, uniform over those that keep the size >= 1."""
    pairs = [(p, s) for p in range(1, max_pool + 1) for s in range(1, max_sub + 1)
             if (p, s) == (1, 1) or size >= p]
    return rng.choice(pairs)


def _unique(items: Any) -> list[Any]:
    return list(dict.fromkeys(items))
