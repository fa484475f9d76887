"""Pooling: max and average windows, global average and adaptive average pooling.

Output sizes follow ``torch.nn.MaxPool2d``/``AvgPool2d`` exactly, ``ceil_mode`` included (a
window that would start in the right padding is dropped). Pools have no parameters and no MACs
(MACs count conv and linear layers only, the convention of torchvision's metadata).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ...errors import ArchError
from ._base import Attrs, OpSpec, Shape, pair, register_op

__all__ = ["AdaptiveAvgPool", "AvgPool", "GlobalAvgPool", "MaxPool", "pool_out_size"]


def pool_out_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """Output length of a pooling window along one axis, as PyTorch computes it."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


class _WindowPool(OpSpec):
    defaults: ClassVar[dict[str, Any]] = {
        "kernel": OpSpec.REQUIRED,
        "stride": None,
        "padding": 0,
        "ceil_mode": False,
    }

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        attrs["kernel"] = pair(attrs["kernel"], f"{self.name}.kernel")
        attrs["stride"] = (
            attrs["kernel"] if attrs["stride"] is None else pair(attrs["stride"], f"{self.name}.stride")
        )
        attrs["padding"] = pair(attrs["padding"], f"{self.name}.padding")
        if "dilation" in attrs:
            attrs["dilation"] = pair(attrs["dilation"], f"{self.name}.dilation")
        if min(attrs["kernel"]) < 1 or min(attrs["stride"]) < 1 or min(attrs["padding"]) < 0:
            raise ArchError(
                f"{self.name}: kernel and stride must be >= 1 and padding >= 0, got kernel "
                f"{attrs['kernel']}, stride {attrs['stride']}, padding {attrs['padding']}"
            )
        for k, p in zip(attrs["kernel"], attrs["padding"]):
            if 2 * p > k:
                raise ArchError(
                    f"{self.name}: padding {attrs['padding']} is more than half the kernel "
                    f"{attrs['kernel']}"
                )
        if not isinstance(attrs["ceil_mode"], bool):
            raise ArchError(f"{self.name}.ceil_mode must be true or false")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        shape = in_shapes[0]
        if len(shape) != 4:
            raise self.fail(f"needs a 4-D (N, C, H, W) input, got shape {shape}")
        n, c, h, w = shape
        dilation = attrs.get("dilation", (1, 1))
        ho, wo = (
            pool_out_size(size, attrs["kernel"][i], attrs["stride"][i], attrs["padding"][i],
                          dilation[i], attrs["ceil_mode"])
            for i, size in enumerate((h, w))
        )
        if ho < 1 or wo < 1:
            raise self.fail(f"window {attrs['kernel']} does not fit a {h}x{w} input")
        return (n, c, ho, wo)


class MaxPool(_WindowPool):
    name = "maxpool"
    summary = "max pooling (kernel, stride, padding, dilation, ceil_mode)"
    defaults = {**_WindowPool.defaults, "dilation": 1}


class AvgPool(_WindowPool):
    name = "avgpool"
    summary = "average pooling (kernel, stride, padding, ceil_mode, count_include_pad)"
    defaults = {**_WindowPool.defaults, "count_include_pad": True}


class GlobalAvgPool(OpSpec):
    name = "global_avgpool"
    summary = "global average pooling to (N, C, 1, 1), or (N, C) without keepdim"
    defaults = {"keepdim": True}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        if not isinstance(attrs["keepdim"], bool):
            raise ArchError("global_avgpool.keepdim must be true or false")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        shape = in_shapes[0]
        if len(shape) != 4:
            raise self.fail(f"needs a 4-D (N, C, H, W) input, got shape {shape}")
        return (shape[0], shape[1], 1, 1) if attrs["keepdim"] else (shape[0], shape[1])


class AdaptiveAvgPool(OpSpec):
    name = "adaptive_avgpool"
    summary = "adaptive average pooling to a fixed output size"
    defaults = {"output_size": OpSpec.REQUIRED}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        attrs["output_size"] = pair(attrs["output_size"], "adaptive_avgpool.output_size")
        if min(attrs["output_size"]) < 1:
            raise ArchError(f"adaptive_avgpool.output_size must be >= 1, got {attrs['output_size']}")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        shape = in_shapes[0]
        if len(shape) != 4:
            raise self.fail(f"needs a 4-D (N, C, H, W) input, got shape {shape}")
        return (shape[0], shape[1], *attrs["output_size"])


for _spec in (MaxPool, AvgPool, GlobalAvgPool, AdaptiveAvgPool):
    register_op(_spec)
