"""Each op's shape, parameter and MAC arithmetic against the module the builder makes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from fitnas.arch import ArchGraph, create_op, list_ops
from fitnas.arch.builder import build, deployed_params
from fitnas.costs import count_macs, count_params
from fitnas.errors import ArchError

CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("conv2d", {"out_channels": 6, "kernel": 3, "padding": 1}, (2, 4, 9, 9)),
    ("conv2d", {"out_channels": 6, "kernel": (3, 5), "stride": (2, 1), "padding": (1, 2),
                "dilation": (2, 1), "groups": 2, "bias": False}, (1, 4, 11, 10)),
    ("conv2d", {"out_channels": 8, "kernel": 3, "padding": "same", "dilation": 2}, (1, 4, 7, 7)),
    ("dwconv", {"kernel": 5, "stride": 2, "padding": 2}, (1, 6, 9, 9)),
    ("dwconv", {"kernel": 3, "multiplier": 2, "bias": True}, (1, 3, 6, 6)),
    ("pwconv", {"out_channels": 7}, (2, 5, 4, 4)),
    ("fac_conv", {"out_channels": 6, "kernel": 7}, (1, 4, 9, 9)),
    ("fac_conv", {"out_channels": 5, "kernel": 3, "stride": 2, "bias": True}, (1, 4, 9, 8)),
    ("batchnorm", {}, (2, 4, 5, 5)),
    ("batchnorm", {"affine": False}, (3, 6)),
    ("relu", {}, (1, 3, 4, 4)),
    ("relu6", {}, (1, 3, 4, 4)),
    ("hardswish", {}, (1, 3, 4, 4)),
    ("hardsigmoid", {}, (1, 3, 4, 4)),
    ("sigmoid", {}, (1, 3, 4, 4)),
    ("silu", {}, (1, 3, 4, 4)),
    ("tanh", {}, (1, 3, 4, 4)),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": 1}, (1, 3, 9, 9)),
    ("maxpool", {"kernel": 3, "stride": 2, "ceil_mode": True}, (1, 3, 10, 13)),
    ("maxpool", {"kernel": 2, "dilation": 2}, (1, 3, 9, 9)),
    ("avgpool", {"kernel": 3, "stride": 1, "padding": 1, "count_include_pad": False},
     (1, 3, 5, 5)),
    ("avgpool", {"kernel": 2, "ceil_mode": True}, (1, 3, 7, 7)),
    ("global_avgpool", {}, (2, 5, 3, 4)),
    ("global_avgpool", {"keepdim": False}, (2, 5, 3, 4)),
    ("adaptive_avgpool", {"output_size": (3, 2)}, (1, 4, 7, 7)),
    ("identity", {}, (1, 3, 4, 4)),
    ("dropout", {"p": 0.2}, (1, 3, 4, 4)),
    ("flatten", {}, (2, 3, 4, 4)),
    ("flatten", {"start_dim": 2}, (2, 3, 4, 4)),
    ("zero", {}, (1, 3, 4, 4)),
    ("zero", {"stride": 2}, (1, 3, 5, 5)),
    ("linear", {"out_features": 7}, (2, 9)),
    ("linear", {"out_features": 3, "bias": False}, (2, 4, 9)),
    ("channel_shuffle", {"groups": 3}, (2, 6, 4, 5)),
    ("channel_shuffle", {"groups": 1}, (1, 4, 3, 3)),
    ("learned_group_conv", {"out_channels": 8}, (2, 12, 5, 4)),
    ("learned_group_conv", {"out_channels": 6, "groups": 3, "condense_factor": 2}, (1, 4, 3, 3)),
]


def one_op_graph(op: str, attrs: dict[str, Any], shape: tuple[int, ...]) -> ArchGraph:
    return ArchGraph(shape, [("x", op, ("input",), attrs)])


def measured_macs(graph: ArchGraph) -> int:
    module = build(graph).eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(torch.randn(graph.input_shape))
    return counter.get_total_flops() // 2  # FlopCounterMode counts a multiply-add as 2


@pytest.mark.parametrize(("op", "attrs", "shape"), CASES, ids=lambda v: str(v))
def test_op_matches_its_module(op: str, attrs: dict[str, Any], shape: tuple[int, ...]) -> None:
    graph = one_op_graph(op, attrs, shape)
    module = build(graph).eval()
    with torch.inference_mode():
        out = module(torch.randn(shape))
    assert tuple(out.shape) == graph.shape("x")
    assert count_params(graph) == deployed_params(module)  # learned_group_conv: as deployed
    assert count_macs(graph) == measured_macs(graph)


def test_every_op_is_covered() -> None:
    tested = {op for op, _, _ in CASES} | {"add", "mul", "concat", "parameter", "opaque"}
    assert tested == set(list_ops())


def test_multi_input_ops() -> None:
    graph = ArchGraph((1, 4, 6, 6), [
        ("g", "global_avgpool", ("input",)),
        ("m", "mul", ("input", "g")),
        ("a", "add", ("input", "m", "input")),
        ("c", "concat", ("a", "input", "m")),
        ("w", "parameter", (), {"shape": (1, 12, 6, 6)}),
        ("b", "add", ("c", "w")),
    ])
    assert graph.shape("m") == (1, 4, 6, 6)
    assert graph.shape("c") == (1, 12, 6, 6)
    module = build(graph).eval()
    x = torch.randn(graph.input_shape)
    with torch.inference_mode():
        out = module(x.clone())
    m = x * x.mean((2, 3), keepdim=True)
    weight = module.layer("w").weight
    assert isinstance(weight, torch.Tensor)
    expected = torch.cat([x + m + x, x, m], 1) + weight
    torch.testing.assert_close(out, expected)
    assert count_params(graph) == 12 * 36 == sum(p.numel() for p in module.parameters())


def test_bias_macs_follow_paper_002() -> None:
    # eq. 7: (x_w x_h / s^2)(x_d f_w f_h + 1) k for a conv; eq. 8: h (x + 1) for a linear layer
    conv = one_op_graph("conv2d", {"out_channels": 5, "kernel": 3, "padding": 1}, (1, 4, 8, 8))
    assert count_macs(conv, count_bias=True) == 8 * 8 * (4 * 3 * 3 + 1) * 5
    assert count_macs(conv) == 8 * 8 * 4 * 3 * 3 * 5
    fc = one_op_graph("linear", {"out_features": 10}, (1, 64))
    assert count_macs(fc, count_bias=True) == 10 * (64 + 1)
    no_bias = one_op_graph("linear", {"out_features": 10, "bias": False}, (1, 64))
    assert count_macs(no_bias, count_bias=True) == 640


@pytest.mark.parametrize(
    ("op", "attrs", "message"),
    [
        ("conv2d", {"out_channels": 4, "kernel": 3, "padding": "same", "stride": 2}, "stride 1"),
        ("conv2d", {"out_channels": 3, "kernel": 3, "groups": 2}, "divisible"),
        ("fac_conv", {"out_channels": 3, "kernel": 4}, "odd"),
        ("maxpool", {"kernel": 2, "padding": 2}, "more than half"),
        ("dropout", {"p": 1.5}, r"\[0, 1\)"),
        ("linear", {"out_features": 0}, "positive"),
        ("zero", {"stride": 0}, "positive"),
    ],
)
def test_bad_attributes(op: str, attrs: dict[str, Any], message: str) -> None:
    with pytest.raises(ArchError, match=message):
        one_op_graph(op, attrs, (1, 4, 8, 8))


def test_op_summaries() -> None:
    for name in list_ops():
        assert create_op(name).summary
