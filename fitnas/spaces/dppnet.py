"""``dppnet``: DPP-Net's densely connected cells of alternating Norm and Conv layers.

Paper 003 section 4 (DPP-Net, Dong et al., ECCV 2018): a network of a fixed number of cells,
each cell a sequence of layers of type Norm or Conv added in the order Norm-Conv-Norm-Conv...;
the operations come from MobileNet (Howard et al. 2017), CondenseNet (Huang et al., CVPR 2018)
and ShuffleNet (Zhang et al., CVPR 2018). One cell structure is used by every cell.

Encoding: the tuple of the cell's layer choices, e.g. ``("bnrelu", "lgconv1x1", "bnrelu",
"gconv3x3")``; JSON: the list; text (:meth:`DPPNetSpace.parse`, :meth:`DPPNetSpace.format`):
the names joined by ``-``, ``bnrelu-lgconv1x1-bnrelu-gconv3x3``. Layer ``i`` (0-based) is a Norm
for even ``i`` and a Conv for odd ``i``; a cell has 1..``max_layers`` layers.

* Norm (:data:`NORMS`): ``bnrelu`` (batch norm then ReLU), ``bn`` (batch norm), ``identity``.
* Conv (:data:`CONVS`), all without bias (a Norm may follow): ``conv1x1``, ``conv3x3``
  (padding 1); ``gconv1x1``, ``gconv3x3``: a group convolution of ``groups`` groups followed by
  a channel shuffle of ``groups`` (ShuffleNet section 3.1); ``lgconv1x1``: CondenseNet's
  learned group convolution (``learned_group_conv``, ``groups`` and ``condense_factor``,
  costed in its condensed form) followed by a channel shuffle of ``groups``: the op's output
  groups are contiguous, and the shuffle puts them in CondenseNet's interleaved order, as its
  condensed layer does at inference (``CondensingConv``: index select, group conv,
  ``ShuffleLayer``; the paper's "permute" after the 1x1 L-Conv, section 3), so a following
  group conv reads outputs of every learned group;
  ``dwconv3x3``: a 3x3 depthwise convolution (MobileNet section 3.1).

The network (CondenseNet's, Huang et al. 2018 section 3, "Architecture design", and its
reference code): a stem 3x3 conv (no bias) to ``stem_channels``; ``stages`` stages of
``cells_per_stage`` cells; between stages a transition; then the head: batch norm, ReLU,
global average pool, linear to ``classes`` (CondenseNet's ``norm_last``, ``relu_last``, pool
and classifier). Choices where the papers are open, with their sources:

* Dense connectivity is CondenseNet's: each cell reads the running features ``x`` (the stage's
  input concatenated with every earlier cell's output) and its output ``y`` is concatenated to
  them, ``x' = concat(x, y)`` (CondenseNet's ``_DenseLayer.forward``, ``torch.cat([x, y], 1)``).
* Transition: a 2x2 average pool of stride 2 alone (CondenseNet's "fully dense connectivity",
  section 3: no 1x1 compression conv, the pool passes every feature on, so every later cell
  reads every earlier cell's output; the learned group convs prune the inputs instead).
  DenseNet-BC's BN-1x1 conv-pool would add parameters that are not the cell's and halve the
  features the search's cells see.
* Widths: the cell's last Conv outputs ``growth_rate`` channels, every earlier Conv
  ``bottleneck`` channels (DenseNet-BC's 1x1 bottleneck to 4k, Huang et al. 2017 section 3;
  default 4 x 8). A depthwise conv keeps its input's channels; where it is the cell's last
  Conv, a 1x1 conv (no bias) projects it to ``growth_rate`` (MobileNet's pointwise half of the
  depthwise separable conv), so every cell with a Conv adds ``growth_rate`` channels.
* A trailing Norm (after the cell's last Conv) normalizes the cell's output ``y`` before the
  concatenation. A cell without a Conv (the 1-layer cells, paper 003 section 4.1's starting
  point) adds no channels: it passes ``Norm(x)`` on in place of ``x`` (concatenating it would
  double the features; dropping it would make the three 1-layer cells one network). So every
  prefix of the Norm-Conv order is a valid network, and parameters grow with the layers but
  for two cases: a depthwise conv that stops being the last Conv loses its projection (the
  Conv appended after it may cost less, e.g. a group 1x1), and a ``bottleneck`` smaller than
  ``growth_rate`` makes the Conv that stops being the last narrower.
* The ``identity`` Norm is written as an ``identity`` node (a view: no bytes, no parameters),
  so every encoding is its own network (``identity-conv1x1`` and ``identity-conv1x1-identity``
  have two fingerprints) and a progressive search's duplicate removal cuts no branch of the
  ``grow`` tree.
* Groups: ``groups`` (default 4, CondenseNet's G) for every group conv, shuffle and learned
  group conv, ``condense_factor`` (default 4, CondenseNet's C) for the learned group conv.
  Every width a cell reads or writes is ``stem_channels`` plus a multiple of ``growth_rate``,
  or ``bottleneck``, so the three must be divisible by ``groups`` and ``condense_factor``
  (checked when the space is made): every group op then divides its channels.
* One ``growth_rate`` in every stage (CondenseNet's "increasing growth rate" doubles it per
  stage; a fixed one keeps every cell's output the same width, whatever its stage).

Moves: ``grow`` appends the next layer in every allowed way (3 Norms after a Conv, 6 Convs
after a Norm; none at ``max_layers``: paper 003 section 4.1's K' = 3K or 6K); ``grow_roots``
gives the three 1-layer cells; ``trim`` removes the last layer; ``mutations`` change one layer's
choice within its kind (2 per Norm, 5 per Conv). Coordinates are the layers: a step moves a
layer along :data:`NORMS_BY_COST` or :data:`CONVS_BY_COST` (parameters at the defaults).
Tokens: the Norms are 0-2 and the Convs 3-8 (:data:`NORMS` then :data:`CONVS`); the grammar is
the alternation, Norm first, at most ``max_layers`` tokens, ending after at least one.

Hand-written cells in the space, for comparison with found ones (paper 003 Table 3):
:data:`CONDENSENET_LIKE` and :data:`MOBILENET_LIKE` (:meth:`DPPNetSpace.condensenet_like`,
:meth:`DPPNetSpace.mobilenet_like`), and :data:`MOBILENETV2_LIKE`
(:meth:`DPPNetSpace.mobilenetv2_like`, 6 layers).

Decoding copies each layer from a piece written once per process for its choice, width and
input shape (:meth:`Emitter.template`): the same nodes, names and order as writing it node by
node (the reference writer, ``tests/spaces/test_emit.py``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial
from math import lcm
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
from ._emit import Emitter

__all__ = ["CONDENSENET_LIKE", "CONVS", "CONVS_BY_COST", "MOBILENETV2_LIKE", "MOBILENET_LIKE",
           "NORMS", "NORMS_BY_COST", "DPPNetSpace"]

#: The Norm choices (tokens 0-2).
NORMS = ("bnrelu", "bn", "identity")
#: The Conv choices (tokens 3-8).
CONVS = ("conv1x1", "conv3x3", "gconv1x1", "gconv3x3", "lgconv1x1", "dwconv3x3")
#: Norms from the cheapest to the costliest (a coordinate step moves one place).
NORMS_BY_COST = ("identity", "bn", "bnrelu")
#: Convs from the cheapest to the costliest in parameters at the defaults (``groups`` =
#: ``condense_factor`` = 4, a bottleneck Conv): depthwise ``9c``, the group and learned group
#: 1x1 ``c w / 4`` (the learned one adds an index select), 1x1 ``c w``, group 3x3 ``9 c w / 4``,
#: 3x3 ``9 c w``.
CONVS_BY_COST = ("dwconv3x3", "gconv1x1", "lgconv1x1", "conv1x1", "gconv3x3", "conv3x3")

#: CondenseNet's layer (Huang et al. 2018, section 3): BN-ReLU, 1x1 learned group conv to the
#: bottleneck, BN-ReLU, 3x3 group conv to the growth rate.
CONDENSENET_LIKE = ("bnrelu", "lgconv1x1", "bnrelu", "gconv3x3")
#: MobileNet's depthwise separable conv (Howard et al. 2017, Fig. 3) in the pre-activation
#: order: BN-ReLU, 3x3 depthwise, BN-ReLU, 1x1 conv to the growth rate.
MOBILENET_LIKE = ("bnrelu", "dwconv3x3", "bnrelu", "conv1x1")
#: MobileNetV2's inverted residual (Sandler et al. 2018): 1x1 expansion, 3x3 depthwise, 1x1
#: projection (needs ``max_layers`` >= 6).
MOBILENETV2_LIKE = ("bnrelu", "conv1x1", "bnrelu", "dwconv3x3", "bn", "conv1x1")

_N_NORMS = len(NORMS)
_NORM_TOKENS = tuple(range(_N_NORMS))
_CONV_TOKENS = tuple(range(_N_NORMS, _N_NORMS + len(CONVS)))

Cell = tuple[str, ...]


@register_space
class DPPNetSpace(SearchSpace):
    """DPP-Net's space of densely connected cells.

    Args:
        input_shape, classes: default 1x3x32x32 and 10 (CIFAR-10).
        growth_rate: channels each cell adds (8, CondenseNet's first-stage growth).
        stages: stages of cells, a 2x2 average pool between them (3).
        cells_per_stage: cells per stage (4).
        stem_channels: channels of the stem conv (16, CondenseNet's 2 x growth rate).
        bottleneck: channels of every Conv but the cell's last (32, DenseNet-BC's 4 x growth).
        max_layers: most layers per cell (6: three Norm-Conv pairs).
        groups: groups of the group convs, shuffles and learned group convs (4).
        condense_factor: the learned group conv's condensation factor (4).
    """

    name = "dppnet"
    summary = ("DPP-Net: densely connected cells of alternating Norm and Conv layers "
               "(group, learned group, depthwise convs); grow appends a layer")

    def __init__(self, input_shape: Sequence[int] | None = None, classes: int | None = None,
                 growth_rate: int = 8, stages: int = 3, cells_per_stage: int = 4,
                 stem_channels: int = 16, bottleneck: int = 32, max_layers: int = 6,
                 groups: int = 4, condense_factor: int = 4):
        super().__init__(input_shape, classes)
        self.growth_rate = check_int(growth_rate, "growth_rate", 1, MAX_CHANNELS)
        self.stages = check_int(stages, "stages", 1, 16)
        self.cells_per_stage = check_int(cells_per_stage, "cells_per_stage", 1, MAX_CELLS)
        self.stem_channels = check_int(stem_channels, "stem_channels", 1, MAX_CHANNELS)
        self.bottleneck = check_int(bottleneck, "bottleneck", 1, MAX_CHANNELS)
        self.max_layers = check_int(max_layers, "max_layers", 1, 64)
        self.groups = check_int(groups, "groups", 1, MAX_CHANNELS)
        self.condense_factor = check_int(condense_factor, "condense_factor", 1, MAX_CHANNELS)
        widest = self.stem_channels + self.stages * self.cells_per_stage * self.growth_rate
        if widest > MAX_CHANNELS:
            raise SpaceError(f"dppnet: {self.stages} x {self.cells_per_stage} cells of growth_rate "
                             f"{self.growth_rate} give {widest:,} channels; at most "
                             f"{MAX_CHANNELS:,} are accepted")
        unit = lcm(self.groups, self.condense_factor)
        for what in ("stem_channels", "growth_rate", "bottleneck"):
            value = getattr(self, what)
            if value % unit:
                raise SpaceError(f"dppnet {what} {value} must be a multiple of {unit} (groups "
                                 f"{self.groups} and condense_factor {self.condense_factor} "
                                 f"divide every width a group conv reads or writes)")
        side = min(self.input_shape[2:])
        if side < 2 ** (self.stages - 1):
            raise SpaceError(f"dppnet halves the input {self.stages - 1} time(s) with 2x2 pools: "
                             f"it needs at least {2 ** (self.stages - 1)}x"
                             f"{2 ** (self.stages - 1)}, got {self.input_shape[2]}x"
                             f"{self.input_shape[3]}")
        #: per stage, each cell's prefix and its layers' prefixes (``s0c1_``, ``s0c1_l0_``, ...)
        self._prefixes = [tuple((f"s{s}c{k}_", tuple(f"s{s}c{k}_l{i}_"
                                                     for i in range(self.max_layers)))
                                for k in range(self.cells_per_stage))
                          for s in range(self.stages)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "growth_rate": self.growth_rate, "stages": self.stages,
                "cells_per_stage": self.cells_per_stage, "stem_channels": self.stem_channels,
                "bottleneck": self.bottleneck, "max_layers": self.max_layers,
                "groups": self.groups, "condense_factor": self.condense_factor}

    # ------------------------------------------------------------ hand cells
    @staticmethod
    def condensenet_like() -> Cell:
        """:data:`CONDENSENET_LIKE`: CondenseNet's layer written in this space."""
        return CONDENSENET_LIKE

    @staticmethod
    def mobilenet_like() -> Cell:
        """:data:`MOBILENET_LIKE`: MobileNet's depthwise separable conv in this space."""
        return MOBILENET_LIKE

    @staticmethod
    def mobilenetv2_like() -> Cell:
        """:data:`MOBILENETV2_LIKE`: MobileNetV2's inverted residual in this space (6 layers:
        valid where ``max_layers`` >= 6)."""
        return MOBILENETV2_LIKE

    # -------------------------------------------------------------- encodings
    def sample(self, seed: int | random.Random | None = None) -> Cell:
        """A cell of 1..``max_layers`` layers (uniform), each choice uniform within its kind."""
        rng = make_rng(seed)
        return tuple(rng.choice(NORMS if i % 2 == 0 else CONVS)
                     for i in range(rng.randint(1, self.max_layers)))

    def from_data(self, data: Any) -> Cell:
        if isinstance(data, str):
            return self.parse(data)
        if not isinstance(data, (list, tuple)) or not 1 <= len(data) <= self.max_layers:
            raise InvalidEncoding(f"a dppnet encoding is a list of 1..{self.max_layers} layers "
                                  f"alternating Norm and Conv (e.g. ['bnrelu', 'conv3x3']) or "
                                  f"their names joined by '-'; got {data!r}")
        for i, layer in enumerate(data):
            kind, names = ("Norm", NORMS) if i % 2 == 0 else ("Conv", CONVS)
            if not isinstance(layer, str) or layer not in names:
                raise InvalidEncoding(f"dppnet layer {i} must be a {kind} ({', '.join(names)}), "
                                      f"got {layer!r}")
        return tuple(data)

    def to_data(self, enc: Cell) -> list[str]:
        return list(self.validate(enc))

    def parse(self, text: str) -> Cell:
        """An encoding from its names joined by ``-`` (``bnrelu-conv3x3``) or its JSON list."""
        text = text.strip()
        if text[:1] in ("[", "{", '"'):
            return self.from_json(text)
        return self.from_data(text.split("-") if text else [])

    def format(self, enc: Cell) -> str:
        """The layer names joined by ``-``."""
        return "-".join(self.validate(enc))

    # ------------------------------------------------------------------ moves
    def mutations(self, enc: Cell) -> list[Cell]:
        """Every cell with one layer's choice changed within its kind (2 per Norm, 5 per Conv)."""
        enc = self.validate(enc)
        return [(*enc[:i], other, *enc[i + 1:]) for i, layer in enumerate(enc)
                for other in (NORMS if i % 2 == 0 else CONVS) if other != layer]

    def grow(self, enc: Cell) -> list[Cell]:
        """The cell with the next layer appended, in every way: the 3 Norms after a Conv, the 6
        Convs after a Norm (paper 003 section 4.1); none at ``max_layers``."""
        enc = self.validate(enc)
        if len(enc) >= self.max_layers:
            return []
        return [(*enc, layer) for layer in (NORMS if len(enc) % 2 == 0 else CONVS)]

    def grow_roots(self) -> list[Cell]:
        """The three 1-layer cells (one Norm each), where DPP-Net's progressive search starts."""
        return [(norm,) for norm in NORMS]

    def trim(self, enc: Cell) -> list[Cell]:
        """The cell without its last layer (none for a 1-layer cell)."""
        enc = self.validate(enc)
        return [enc[:-1]] if len(enc) > 1 else []

    def coordinates(self, enc: Cell) -> list[int]:
        """The layers: a step moves one along :data:`NORMS_BY_COST` or :data:`CONVS_BY_COST`."""
        return list(range(len(self.validate(enc))))

    def step(self, enc: Cell, coordinate: Any, direction: int) -> Cell:
        enc = self.validate(enc)
        if isinstance(coordinate, bool) or coordinate not in range(len(enc)):
            raise InvalidEncoding(f"dppnet coordinate {coordinate!r} is not a layer "
                                  f"0..{len(enc) - 1}")
        order = NORMS_BY_COST if coordinate % 2 == 0 else CONVS_BY_COST
        value = step_along(order, enc[coordinate], direction, f"layer {coordinate}")
        return (*enc[:coordinate], value, *enc[coordinate + 1:])

    # ----------------------------------------------------------------- tokens
    @property
    def vocab_size(self) -> int:
        return _N_NORMS + len(CONVS)

    def to_tokens(self, enc: Cell) -> list[int]:
        return [NORMS.index(layer) if i % 2 == 0 else _N_NORMS + CONVS.index(layer)
                for i, layer in enumerate(self.validate(enc))]

    def _allowed(self, position: int) -> tuple[int, ...]:
        if position >= self.max_layers:
            return ()
        return _NORM_TOKENS if position % 2 == 0 else _CONV_TOKENS

    def next_tokens(self, prefix: Sequence[int]) -> NextTokens:
        """A Norm (0-2) at even positions, a Conv (3-8) at odd ones, at most ``max_layers``
        tokens; the sequence may end after one."""
        tokens = self._check_tokens(prefix)
        for position, token in enumerate(tokens):
            allowed = self._allowed(position)
            if token not in allowed:
                raise self._refuse(position, token, allowed)
        return NextTokens(self._allowed(len(tokens)), len(tokens) >= 1)

    def from_tokens(self, tokens: Sequence[int]) -> Cell:
        toks = self._check_tokens(tokens)
        if not 1 <= len(toks) <= self.max_layers:
            raise InvalidEncoding(f"a dppnet token sequence has 1..{self.max_layers} tokens, "
                                  f"got {len(toks)}")
        out = []
        for i, t in enumerate(toks):
            if t not in self._allowed(i):
                kind, low, high = ("Norm", 0, _N_NORMS - 1) if i % 2 == 0 else (
                    "Conv", _N_NORMS, self.vocab_size - 1)
                raise InvalidEncoding(f"dppnet token {t} at position {i} must be a {kind} "
                                      f"token {low}..{high}")
            out.append(NORMS[t] if i % 2 == 0 else CONVS[t - _N_NORMS])
        return tuple(out)

    # ----------------------------------------------------------------- decode
    def decode(self, enc: Cell) -> ArchGraph:
        enc = self.validate(enc)
        return Emitter.build(self.input_shape, partial(self._write, enc),
                             name=f"dppnet:{'-'.join(enc)}")

    def _write(self, enc: Cell, em: Emitter) -> None:
        widths = (self.growth_rate, self.bottleneck, self.groups, self.condense_factor)
        x = em.template(_stem, (INPUT,), self.stem_channels, prefix="stem_")
        for stage in range(self.stages):
            if stage > 0:
                x = em.add("avgpool", (x,), f"t{stage}_", kernel=2, stride=2)
            for prefix, layer_prefixes in self._prefixes[stage]:
                x = write_cell(em, x, enc, *widths, prefix=prefix, layer_prefixes=layer_prefixes)
        em.template(_head, (x,), self.classes, prefix="head_")


def write_cell(em: Emitter, x: str, layers: Cell, growth: int, bottleneck: int, groups: int,
               condense: int, prefix: str = "", layer_prefixes: Sequence[str] = ()) -> str:
    """One cell over the running features ``x``: its layers in order (layer ``i`` named
    ``prefix + "l{i}_" + op``, or ``layer_prefixes[i] + op``), then ``concat(x, y)`` where the
    cell has a Conv (named ``prefix + "concat"``); without one, the Norm's result in place of
    ``x``. Each layer is copied from a piece written once per process for its choice, width and
    input shape (:meth:`Emitter.template`)."""
    last = len(layers) - 1 if len(layers) % 2 == 0 else len(layers) - 2
    template = em.template
    t = x
    for i, layer in enumerate(layers):
        p = layer_prefixes[i] if layer_prefixes else f"{prefix}l{i}_"
        if i % 2 == 0:
            t = template(_norm, (t,), layer, prefix=p)
        elif i == last:
            t = template(_conv, (t,), layer, growth, True, groups, condense, prefix=p)
        else:
            t = template(_conv, (t,), layer, bottleneck, False, groups, condense, prefix=p)
    return t if last < 0 else em.add("concat", (x, t), prefix)


def _norm(em: Emitter, x: str, layer: str, prefix: str = "") -> str:
    """A Norm layer: ``bnrelu`` (batch norm, ReLU), ``bn`` or ``identity`` (a view)."""
    if layer == "identity":
        return em.add("identity", (x,), prefix)
    x = em.add("batchnorm", (x,), prefix)
    return em.add("relu", (x,), prefix) if layer == "bnrelu" else x


def _conv(em: Emitter, x: str, layer: str, out: int, last: bool, groups: int, condense: int,
          prefix: str = "") -> str:
    """A Conv layer to ``out`` channels (a depthwise one keeps its input's channels and, as the
    cell's ``last`` Conv, is projected to ``out`` by a 1x1 conv)."""
    if layer == "conv1x1":
        return em.add("pwconv", (x,), prefix, out_channels=out)
    if layer == "conv3x3":
        return em.add("conv2d", (x,), prefix, out_channels=out, kernel=3, padding=1, bias=False)
    if layer == "gconv1x1":
        x = em.add("pwconv", (x,), prefix, out_channels=out, groups=groups)
    elif layer == "gconv3x3":
        x = em.add("conv2d", (x,), prefix, out_channels=out, kernel=3, padding=1,
                   groups=groups, bias=False)
    elif layer == "lgconv1x1":
        x = em.add("learned_group_conv", (x,), prefix, out_channels=out, groups=groups,
                   condense_factor=condense)
    else:  # dwconv3x3
        x = em.add("dwconv", (x,), prefix, kernel=3, padding=1)
        return em.add("pwconv", (x,), prefix, out_channels=out) if last else x
    return em.add("channel_shuffle", (x,), prefix, groups=groups)


def _stem(em: Emitter, x: str, channels: int, prefix: str = "") -> str:
    """The stem: a 3x3 conv (no bias) to ``channels`` (CondenseNet's ``init_conv``)."""
    return em.add("conv2d", (x,), prefix, out_channels=channels, kernel=3, padding=1, bias=False)


def _head(em: Emitter, x: str, classes: int, prefix: str = "") -> str:
    """The head: batch norm, ReLU, global average pool, linear classifier."""
    x = em.add("batchnorm", (x,), prefix)
    x = em.add("relu", (x,), prefix)
    x = em.add("global_avgpool", (x,), prefix, keepdim=False)
    return em.add("linear", (x,), prefix, out_features=classes)
