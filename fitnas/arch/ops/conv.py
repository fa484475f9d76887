"""Convolutions and the fully connected layer.

Parameter counts follow ``torch.nn.Conv2d``/``Linear``: ``out * in/groups * kh * kw`` weights
plus ``out`` biases. MACs follow torchvision's weight metadata (``_ops``): one multiply-accumulate
per weight use, ``N * out * Ho * Wo * in/groups * kh * kw`` for a convolution and
``rows * in * out`` for a linear layer, bias not counted. With ``count_bias`` one more per output
element for a layer with bias, as paper 002 eq. 7 (``(x_d f_w f_h + 1) k`` per output position)
and eq. 8 (``h (x + 1)``) count it. Paper 002 eq. 7 scales by ``1/s`` where the output size is
meant; we use the exact output height and width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import ArchError
from ._base import Attrs, OpSpec, Shape, numel, pair, register_op

__all__ = ["Conv2d", "DepthwiseConv", "FactorizedConv", "Linear", "PointwiseConv", "conv_out_size"]


def conv_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution or pooling window along one axis (floor mode)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _check_image(spec: OpSpec, in_shapes: Sequence[Shape]) -> Shape:
    shape = in_shapes[0]
    if len(shape) != 4:
        raise spec.fail(f"needs a 4-D (N, C, H, W) input, got shape {shape}")
    return shape


class Conv2d(OpSpec):
    name = "conv2d"
    summary = "2-D convolution (kernel h x w, stride, padding, dilation, groups, bias)"
    defaults = {
        "out_channels": OpSpec.REQUIRED,
        "kernel": OpSpec.REQUIRED,
        "stride": 1,
        "padding": 0,
        "dilation": 1,
        "groups": 1,
        "bias": True,
    }

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        for key in ("kernel", "stride", "dilation"):
            attrs[key] = pair(attrs[key], f"{self.name}.{key}")
            if min(attrs[key]) < 1:
                raise ArchError(f"{self.name}.{key} must be >= 1, got {attrs[key]}")
        if attrs["padding"] == "same":
            if attrs["stride"] != (1, 1):
                raise ArchError(f"{self.name}: padding 'same' needs stride 1, got {attrs['stride']}")
            spans = [d * (k - 1) for k, d in zip(attrs["kernel"], attrs["dilation"])]
            if any(s % 2 for s in spans):
                raise ArchError(f"{self.name}: padding 'same' needs an odd effective kernel")
            attrs["padding"] = (spans[0] // 2, spans[1] // 2)
        attrs["padding"] = pair(attrs["padding"], f"{self.name}.padding")
        if min(attrs["padding"]) < 0:
            raise ArchError(f"{self.name}.padding must be >= 0, got {attrs['padding']}")
        for key in ("out_channels", "groups"):
            value = attrs[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ArchError(f"{self.name}.{key} must be a positive int, got {value!r}")
        if attrs["out_channels"] % attrs["groups"]:
            raise ArchError(
                f"{self.name}: out_channels {attrs['out_channels']} is not divisible by "
                f"groups {attrs['groups']}"
            )
        if not isinstance(attrs["bias"], bool):
            raise ArchError(f"{self.name}.bias must be true or false, got {attrs['bias']!r}")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        n, c, h, w = _check_image(self, in_shapes)
        if c % attrs["groups"]:
            raise self.fail(f"{c} input channels are not divisible by groups {attrs['groups']}")
        ho = conv_out_size(h, attrs["kernel"][0], attrs["stride"][0], attrs["padding"][0],
                           attrs["dilation"][0])
        wo = conv_out_size(w, attrs["kernel"][1], attrs["stride"][1], attrs["padding"][1],
                           attrs["dilation"][1])
        if ho < 1 or wo < 1:
            raise self.fail(
                f"kernel {attrs['kernel']} (dilation {attrs['dilation']}, padding "
                f"{attrs['padding']}) does not fit a {h}x{w} input"
            )
        return (n, attrs["out_channels"], ho, wo)

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        c_in = in_shapes[0][1]
        kh, kw = attrs["kernel"]
        weights = attrs["out_channels"] * (c_in // attrs["groups"]) * kh * kw
        return weights + (attrs["out_channels"] if attrs["bias"] else 0)

    def macs(
        self, attrs: Attrs, in_shapes: Sequence[Shape], out_shape: Shape, count_bias: bool
    ) -> int:
        c_in = in_shapes[0][1]
        kh, kw = attrs["kernel"]
        per_output = (c_in // attrs["groups"]) * kh * kw
        if count_bias and attrs["bias"]:
            per_output += 1
        return numel(out_shape) * per_output


_CONV = Conv2d()


class DepthwiseConv(OpSpec):
    name = "dwconv"
    summary = "depthwise convolution (groups = input channels, optional channel multiplier)"
    defaults = {
        "kernel": OpSpec.REQUIRED,
        "stride": 1,
        "padding": 0,
        "dilation": 1,
        "multiplier": 1,
        "bias": False,
    }

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        if not isinstance(attrs["multiplier"], int) or attrs["multiplier"] < 1:
            raise ArchError(f"dwconv.multiplier must be a positive int, got {attrs['multiplier']!r}")
        probe = {k: v for k, v in attrs.items() if k != "multiplier"}
        attrs.update(_CONV.normalize({**probe, "out_channels": 1}))
        del attrs["out_channels"], attrs["groups"]

    def as_conv(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> dict[str, Any]:
        """The equivalent ``conv2d`` attributes for an input with these channels."""
        c = in_shapes[0][1]
        conv = {k: v for k, v in attrs.items() if k != "multiplier"}
        return {**conv, "out_channels": c * attrs["multiplier"], "groups": c}

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        _check_image(self, in_shapes)
        return _CONV.output_shape(self.as_conv(attrs, in_shapes), in_shapes)

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        return _CONV.params(self.as_conv(attrs, in_shapes), in_shapes)

    def macs(
        self, attrs: Attrs, in_shapes: Sequence[Shape], out_shape: Shape, count_bias: bool
    ) -> int:
        return _CONV.macs(self.as_conv(attrs, in_shapes), in_shapes, out_shape, count_bias)


class PointwiseConv(OpSpec):
    name = "pwconv"
    summary = "pointwise (1x1) convolution"
    defaults = {"out_channels": OpSpec.REQUIRED, "stride": 1, "groups": 1, "bias": False}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        attrs.update(_CONV.normalize({**attrs, "kernel": 1}))
        del attrs["kernel"], attrs["padding"], attrs["dilation"]

    def as_conv(self, attrs: Attrs) -> dict[str, Any]:
        return {**attrs, "kernel": (1, 1), "padding": (0, 0), "dilation": (1, 1)}

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        _check_image(self, in_shapes)
        return _CONV.output_shape(self.as_conv(attrs), in_shapes)

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        return _CONV.params(self.as_conv(attrs), in_shapes)

    def macs(
        self, attrs: Attrs, in_shapes: Sequence[Shape], out_shape: Shape, count_bias: bool
    ) -> int:
        return _CONV.macs(self.as_conv(attrs), in_shapes, out_shape, count_bias)


class FactorizedConv(OpSpec):
    """A 1 x k convolution then a k x 1 convolution (paper 000's "Fac 1x7", NASNet's 1x7-7x1).

    The first conv maps C_in to ``out_channels`` with stride ``(1, s)`` and padding ``(0, k//2)``,
    the second keeps ``out_channels`` with stride ``(s, 1)`` and padding ``(k//2, 0)``. The tensor
    between them is this op's workspace: alive while the op runs, counted in the peak.
    """

    name = "fac_conv"
    summary = "factorized 1xk then kx1 convolution"
    defaults = {"out_channels": OpSpec.REQUIRED, "kernel": 7, "stride": 1, "bias": False}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        k, s = attrs["kernel"], attrs["stride"]
        if not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise ArchError(f"fac_conv.kernel must be an odd positive int, got {k!r}")
        if not isinstance(s, int) or s < 1:
            raise ArchError(f"fac_conv.stride must be a positive int, got {s!r}")
        _CONV.normalize({"out_channels": attrs["out_channels"], "kernel": k, "bias": attrs["bias"]})

    def stages(self, attrs: Attrs) -> tuple[dict[str, Any], dict[str, Any]]:
        """``conv2d`` attributes of the 1 x k and the k x 1 stage."""
        k, s, c = attrs["kernel"], attrs["stride"], attrs["out_channels"]
        common = {"out_channels": c, "bias": attrs["bias"], "dilation": (1, 1), "groups": 1}
        first = {**common, "kernel": (1, k), "stride": (1, s), "padding": (0, k // 2)}
        second = {**common, "kernel": (k, 1), "stride": (s, 1), "padding": (k // 2, 0)}
        return first, second

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        _check_image(self, in_shapes)
        first, second = self.stages(attrs)
        mid = _CONV.output_shape(first, in_shapes)
        return _CONV.output_shape(second, [mid])

    def workspace(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> tuple[Shape, ...]:
        return (_CONV.output_shape(self.stages(attrs)[0], in_shapes),)

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        first, second = self.stages(attrs)
        mid = _CONV.output_shape(first, in_shapes)
        return _CONV.params(first, in_shapes) + _CONV.params(second, [mid])

    def macs(
        self, attrs: Attrs, in_shapes: Sequence[Shape], out_shape: Shape, count_bias: bool
    ) -> int:
        first, second = self.stages(attrs)
        mid = _CONV.output_shape(first, in_shapes)
        return _CONV.macs(first, in_shapes, mid, count_bias) + _CONV.macs(
            second, [mid], out_shape, count_bias
        )


class Linear(OpSpec):
    name = "linear"
    summary = "fully connected layer on the last dimension"
    defaults = {"out_features": OpSpec.REQUIRED, "bias": True}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        value = attrs["out_features"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ArchError(f"linear.out_features must be a positive int, got {value!r}")
        if not isinstance(attrs["bias"], bool):
            raise ArchError(f"linear.bias must be true or false, got {attrs['bias']!r}")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        shape = in_shapes[0]
        if len(shape) < 2:
            raise self.fail(f"needs an input with a batch and a feature dimension, got {shape}")
        return (*shape[:-1], attrs["out_features"])

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        f_in = in_shapes[0][-1]
        return f_in * attrs["out_features"] + (attrs["out_features"] if attrs["bias"] else 0)

    def macs(
        self, attrs: Attrs, in_shapes: Sequence[Shape], out_shape: Shape, count_bias: bool
    ) -> int:
        f_in = in_shapes[0][-1]
        per_output = f_in + (1 if count_bias and attrs["bias"] else 0)
        return numel(out_shape) * per_output


for _spec in (Conv2d, DepthwiseConv, PointwiseConv, FactorizedConv, Linear):
    register_op(_spec)
