"""Group ops: ShuffleNet's channel shuffle and CondenseNet's learned group convolution.

``channel_shuffle`` (ShuffleNet, Zhang et al. 2018, section 3.1): with ``g`` groups, reshape the
``C`` channels to ``(g, C/g)``, transpose to ``(C/g, g)`` and flatten back, so that a following
group convolution sees channels from every group of the previous one. A ShuffleNet group
convolution is ``conv2d(groups=g)`` followed by ``channel_shuffle(groups=g)``. No parameters,
no MACs (it moves data). Its output is a new tensor (the transpose made contiguous is a copy),
so it is neither a view (``alias``) nor in place: input and output are alive together at its
step, which is what PyTorch allocates (the builder always copies, even when ``g`` is 1 or
``C/g`` is 1 and the transpose happens to be contiguous already).

``learned_group_conv`` (CondenseNet, Huang et al. 2018, section 3, "Learned Group
Convolution"): a 1x1 convolution whose ``G`` groups of output channels each learn, during
training, which ``in/C`` of the input channels they read (``C`` is the condensation factor).
The op's costs are those of the *deployed* (condensed) form of section 3, "Index layer" (Fig. 3,
right): an index selection that gathers, for each group, its ``in/C`` kept input channels (the
groups may keep the same channel, so the gathered tensor has ``G * in/C`` channels), then a
1x1 group convolution with ``G`` groups and no bias. Hence

* parameters ``= out * in / C`` (each output channel keeps ``in/C`` weights);
* MACs ``= N * H * W * out * in / C`` (one per kept weight and output position);
* workspace: the gathered tensor ``(N, G * in/C, H, W)``, alive at the op's step only.

Choices where the paper leaves details open:

* Output channel ``o`` belongs to group ``o // (out/G)`` (contiguous groups). The reference
  code interleaves them (``o % G``) and undoes that with a channel shuffle after the condensed
  convolution; the two differ by a fixed permutation of output channels that the learned weights
  absorb, and contiguous groups need no shuffle.
* Requirements: ``C`` divides ``in`` (each group keeps exactly ``in/C``) and ``G`` divides
  ``out``. The reference code also asserts that ``G`` divides ``in``; the method does not need
  it (the condensed convolution has ``G * in/C`` input channels, ``in/C`` per group), so it is
  not required here.
* The int64 channel index (``G * in/C`` entries) is not counted in ``params`` nor, therefore, in
  ``param_bytes``/flash: those count trainable weights (paper 002 eq. 6, ``B_pe * sum |theta|``),
  and the index is a constant that a deployment folds into the gather's addressing (it is
  ``G / out`` of the weight count, a few percent for CondenseNet's layers). The exported ONNX
  file does hold it, as the Gather's int64 indices.
* The kernel is 1x1 with stride 1, as CondenseNet uses learned group convolution only for the
  1x1 layers (section 3; its 3x3 layers are standard group convolutions, ``conv2d(groups=G)``).

The training schedule (condensing stages, the L1-norm criterion) lives in the module the builder
makes (``fitnas.arch.builder.LearnedGroupConv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import ArchError
from ._base import Attrs, OpSpec, Shape, register_op
from .conv import _check_image

__all__ = ["ChannelShuffle", "LearnedGroupConv"]


def _positive(op: str, key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ArchError(f"{op}.{key} must be a positive int, got {value!r}")
    return value


class ChannelShuffle(OpSpec):
    """ShuffleNet's channel shuffle (Zhang et al. 2018, section 3.1)."""

    name = "channel_shuffle"
    summary = "channel shuffle with g groups (ShuffleNet): reshape (g, C/g), transpose, flatten"
    defaults = {"groups": OpSpec.REQUIRED}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        _positive(self.name, "groups", attrs["groups"])

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        shape = _check_image(self, in_shapes)
        if shape[1] % attrs["groups"]:
            raise self.fail(
                f"{shape[1]} input channels are not divisible by groups {attrs['groups']}"
            )
        return tuple(shape)


class LearnedGroupConv(OpSpec):
    """CondenseNet's learned group convolution, costed in its condensed form (section 3)."""

    name = "learned_group_conv"
    summary = ("learned group 1x1 convolution (CondenseNet), deployed as a channel gather "
               "and a G-group conv keeping in/C inputs per group")
    defaults = {"out_channels": OpSpec.REQUIRED, "groups": 4, "condense_factor": 4}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        for key in ("out_channels", "groups", "condense_factor"):
            _positive(self.name, key, attrs[key])
        if attrs["out_channels"] % attrs["groups"]:
            raise ArchError(
                f"{self.name}: out_channels {attrs['out_channels']} is not divisible by "
                f"groups {attrs['groups']}"
            )

    def kept(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        """Input channels each group keeps: ``in / condense_factor``."""
        return in_shapes[0][1] // attrs["condense_factor"]

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        n, c, h, w = _check_image(self, in_shapes)
        if c % attrs["condense_factor"]:
            raise self.fail(
                f"{c} input channels are not divisible by condense_factor "
                f"{attrs['condense_factor']}"
            )
        return (n, attrs["out_channels"], h, w)

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        return attrs["out_channels"] * self.kept(attrs, in_shapes)

    def macs(
        self, attrs: Attrs, in_shapes: Sequence[Shape], out_shape: Shape, count_bias: bool
    ) -> int:
        n, _, h, w = out_shape
        return n * h * w * attrs["out_channels"] * self.kept(attrs, in_shapes)

    def workspace(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> tuple[Shape, ...]:
        n, _, h, w = in_shapes[0]
        return ((n, attrs["groups"] * self.kept(attrs, in_shapes), h, w),)


for _spec in (ChannelShuffle, LearnedGroupConv):
    register_op(_spec)
