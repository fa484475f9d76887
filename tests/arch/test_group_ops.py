"""ShuffleNet's channel shuffle and group convolution, CondenseNet's learned group convolution:
shapes, bad attributes, costs against the built module, condensation, restore, trace, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fitnas.arch import ArchGraph
from fitnas.arch.builder import ArchModule, LearnedGroupConv, build, deployed_params
from fitnas.arch.trace import trace
from fitnas.costs import count_macs, count_params, lifetime_table
from fitnas.data import create_dataset
from fitnas.errors import ArchError, ShapeError
from fitnas.export import export_onnx, export_torchscript
from fitnas.train import Trainer


def workspace(graph: ArchGraph) -> int:
    """Elements of the workspace of the graph's first node."""
    return graph.node_facts()[0].workspace


def one(op: str, attrs: dict[str, Any], shape: tuple[int, ...]) -> ArchGraph:
    return ArchGraph(shape, [("x", op, ("input",), attrs)])


def lgc(module: ArchModule, name: str = "x") -> LearnedGroupConv:
    layer = module.layer(name)
    assert isinstance(layer, LearnedGroupConv)
    return layer


def shufflenet_unit(shape: tuple[int, ...] = (2, 12, 6, 6), g: int = 3) -> ArchGraph:
    """ShuffleNet's unit (section 3.2, Fig. 2b): 1x1 group conv, shuffle, 3x3 depthwise conv,
    1x1 group conv, residual add."""
    c = shape[1]
    return ArchGraph(shape, [
        ("gc1", "conv2d", ("input",), {"out_channels": c, "kernel": 1, "groups": g,
                                       "bias": False}),
        ("bn1", "batchnorm", ("gc1",)),
        ("r1", "relu", ("bn1",)),
        ("shuffle", "channel_shuffle", ("r1",), {"groups": g}),
        ("dw", "dwconv", ("shuffle",), {"kernel": 3, "padding": 1}),
        ("bn2", "batchnorm", ("dw",)),
        ("gc2", "conv2d", ("bn2",), {"out_channels": c, "kernel": 1, "groups": g,
                                     "bias": False}),
        ("add", "add", ("gc2", "input")),
        ("r2", "relu", ("add",)),
    ])


def condense_layer(shape: tuple[int, ...] = (2, 16, 5, 5), growth: int = 4) -> ArchGraph:
    """CondenseNet's dense layer (section 4): BN-ReLU, 1x1 learned group conv to 4 x growth,
    BN-ReLU, 3x3 group conv to growth, shuffle, concatenated to the layer's input."""
    return ArchGraph(shape, [
        ("bn1", "batchnorm", ("input",)),
        ("r1", "relu", ("bn1",)),
        ("lgc", "learned_group_conv", ("r1",), {"out_channels": 4 * growth}),
        ("bn2", "batchnorm", ("lgc",)),
        ("r2", "relu", ("bn2",)),
        ("gc", "conv2d", ("r2",), {"out_channels": growth, "kernel": 3, "padding": 1,
                                   "groups": 4, "bias": False}),
        ("shuffle", "channel_shuffle", ("gc",), {"groups": 4}),
        ("cat", "concat", ("input", "shuffle")),
    ])


def classifier(body: ArchGraph, classes: int) -> ArchGraph:
    nodes = [(n.name, n.op, n.inputs, dict(n.attrs)) for n in body.nodes]
    last = body.outputs[0]
    nodes += [("pool", "global_avgpool", (last,), {"keepdim": False}),
              ("fc", "linear", ("pool",), {"out_features": classes})]
    return ArchGraph(body.input_shape, nodes)


# ---- shapes and attributes ---------------------------------------------------------------


def test_shapes_and_defaults() -> None:
    shuffle = one("channel_shuffle", {"groups": 4}, (2, 8, 3, 5))
    assert shuffle.shape("x") == (2, 8, 3, 5)
    assert count_params(shuffle) == 0 and count_macs(shuffle) == 0
    conv = one("learned_group_conv", {"out_channels": 12}, (2, 16, 3, 5))
    assert dict(conv.node("x").attrs) == {"out_channels": 12, "groups": 4, "condense_factor": 4}
    assert conv.shape("x") == (2, 12, 3, 5)
    assert count_params(conv) == 12 * 16 // 4
    assert count_macs(conv) == count_macs(conv, count_bias=True) == 2 * 3 * 5 * 12 * 4
    assert workspace(conv) == 2 * (4 * 4) * 3 * 5  # the gathered G * in/C channels


@pytest.mark.parametrize(
    ("op", "attrs", "shape", "error", "message"),
    [
        ("channel_shuffle", {"groups": 0}, (1, 4, 3, 3), ArchError, r"groups must be a positive int, got 0"),
        ("channel_shuffle", {"groups": True}, (1, 4, 3, 3), ArchError, "positive int, got True"),
        ("channel_shuffle", {"groups": "2"}, (1, 4, 3, 3), ArchError, "positive int, got '2'"),
        ("channel_shuffle", {}, (1, 4, 3, 3), ArchError, "needs attribute 'groups'"),
        ("channel_shuffle", {"groups": 3}, (1, 4, 3, 3), ShapeError,
         "4 input channels are not divisible by groups 3"),
        ("channel_shuffle", {"groups": 2}, (1, 4), ShapeError, r"4-D \(N, C, H, W\) input"),
        ("learned_group_conv", {}, (1, 8, 3, 3), ArchError, "needs attribute 'out_channels'"),
        ("learned_group_conv", {"out_channels": 6}, (1, 8, 3, 3), ArchError,
         "out_channels 6 is not divisible by groups 4"),
        ("learned_group_conv", {"out_channels": 8, "condense_factor": 3}, (1, 8, 3, 3),
         ShapeError, "8 input channels are not divisible by condense_factor 3"),
        ("learned_group_conv", {"out_channels": 8, "condense_factor": 0}, (1, 8, 3, 3),
         ArchError, "condense_factor must be a positive int, got 0"),
        ("learned_group_conv", {"out_channels": 8, "groups": -1}, (1, 8, 3, 3), ArchError,
         "groups must be a positive int, got -1"),
        ("learned_group_conv", {"out_channels": 8, "kernel": 3}, (1, 8, 3, 3), ArchError,
         "no attribute 'kernel'; accepted: condense_factor, groups, out_channels"),
    ],
)
def test_bad_attributes_are_one_line(op: str, attrs: dict[str, Any], shape: tuple[int, ...],
                                     error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as info:
        one(op, attrs, shape)
    assert "\n" not in str(info.value)


# ---- costs against the built module -------------------------------------------------------


def flops_macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(torch.randn(shape))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("graph", [shufflenet_unit(), shufflenet_unit((1, 8, 5, 5), 4),
                                   condense_layer(), condense_layer((1, 8, 4, 4), 8)],
                         ids=["shuffle3", "shuffle4", "condense", "condense-small"])
def test_params_and_macs_equal_the_deployed_module(graph: ArchGraph) -> None:
    module = build(graph).eval()
    assert count_params(graph) == deployed_params(module)
    assert count_macs(graph) == flops_macs(module, graph.input_shape)
    # the deployed weights that matter: the group convolutions' and the condensed ones
    dense = sum(p.numel() for p in module.parameters())
    condensed = sum(m.condensed.numel() for m in module.modules()
                    if isinstance(m, LearnedGroupConv))
    weights = sum(m.weight.numel() for m in module.modules() if isinstance(m, LearnedGroupConv))
    assert deployed_params(module) == dense - weights + condensed


def test_group_conv_is_exact() -> None:
    graph = one("conv2d", {"out_channels": 12, "kernel": 3, "padding": 1, "groups": 4,
                           "bias": False}, (2, 8, 5, 5))
    module = build(graph).eval()
    conv = module.layer("x")
    assert isinstance(conv, nn.Conv2d) and conv.groups == 4
    assert conv.weight.shape == (12, 2, 3, 3)
    assert count_params(graph) == 12 * 2 * 9 == deployed_params(module)
    assert count_macs(graph) == 2 * 25 * 12 * 2 * 9 == flops_macs(module, graph.input_shape)
    traced = trace(module, graph.input_shape).graph
    assert traced.node(traced.order[0]).attrs["groups"] == 4


def test_channel_shuffle_is_shufflenets_permutation() -> None:
    graph = one("channel_shuffle", {"groups": 3}, (2, 6, 2, 2))
    x = torch.randn(graph.input_shape)
    with torch.inference_mode():
        out = build(graph).eval()(x.clone())
    # channel k of the output is channel (k % g) * (C/g) + k // g of the input
    assert torch.equal(out, x[:, [0, 2, 4, 1, 3, 5]])
    assert torch.equal(out, nn.ChannelShuffle(3)(x))


# ---- learned group convolution: condensation -----------------------------------------------


def test_condensing_stages_follow_the_schedule_and_the_l1_criterion() -> None:
    torch.manual_seed(0)
    module = build(one("learned_group_conv", {"out_channels": 8, "groups": 2,
                                              "condense_factor": 4}, (1, 8, 3, 3)))
    layer = lgc(module)
    with torch.no_grad():  # group 0 (rows 0-3) prefers high channels, group 1 low ones
        magnitude = torch.arange(1, 9, dtype=torch.float32)
        layer.weight.copy_(torch.cat([magnitude.expand(4, 8), magnitude.flip(0).expand(4, 8)])
                           .view(8, 8, 1, 1) * torch.randn(8, 1, 1, 1).sign())
    assert layer.stage == 0
    kept: list[list[list[int]]] = []
    for fraction in (0.0, 0.1, 1 / 6, 0.2, 1 / 3, 0.45, 0.5, 0.9, 1.0):
        layer.set_progress(fraction)
        mask = layer.mask.view(2, 4, 8)
        assert (mask == mask[:, :1]).all()  # one set of channels per group
        kept.append([mask[g, 0].nonzero().flatten().tolist() for g in range(2)])
    stages = [8 - len(k[0]) for k in kept]
    assert stages == [0, 0, 2, 2, 4, 4, 6, 6, 6]  # in/C = 2 channels per stage, 3 stages
    assert kept[-1] == [[6, 7], [0, 1]]  # the largest L1 norms of each group survive
    assert kept[2] == [[2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5]]
    assert layer.stage == 3


def test_eval_finishes_condensation_without_touching_the_mask() -> None:
    torch.manual_seed(1)
    graph = one("learned_group_conv", {"out_channels": 6, "groups": 3, "condense_factor": 4},
                (2, 8, 4, 4))
    module = build(graph)
    layer = lgc(module)
    layer.set_progress(0.2)  # early assessment stopped after the first stage
    mask = layer.mask.clone()
    assert int(mask[0].sum()) == 6
    x = torch.randn(graph.input_shape)
    module.eval()
    with torch.no_grad():
        out = module(x.clone())
    assert torch.equal(layer.mask, mask)
    final = layer.deployed_mask()
    assert (final.view(3, 2, 8).sum(2) == 2).all()  # in/C per group
    assert (final <= mask).all()  # the deployed channels are among the kept ones
    expected = F.conv2d(x, layer.weight * final[:, :, None, None])
    torch.testing.assert_close(out, expected)
    assert layer.index.shape == (3 * 2,) and layer.condensed.shape == (6, 2, 1, 1)
    module.train()
    with torch.no_grad():  # training goes on with the mask of stage 1
        torch.testing.assert_close(module(x.clone()),
                                   F.conv2d(x, layer.weight * mask[:, :, None, None]))


def test_condensed_groups_may_share_channels() -> None:
    module = build(one("learned_group_conv", {"out_channels": 4, "groups": 4,
                                              "condense_factor": 2}, (1, 4, 2, 2)))
    layer = lgc(module)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([4.0, 3.0, 2.0, 1.0]).expand(4, 4).reshape(4, 4, 1, 1))
    module.eval()
    assert layer.index.tolist() == [0, 1] * 4  # every group keeps channels 0 and 1
    graph = module.graph
    assert workspace(graph) == 4 * 2 * 2 * 2  # G * in/C = 8 gathered channels of 4


def test_trainer_condenses_the_mask_and_state_dict_restores_it(tmp_path: Path) -> None:
    data = create_dataset("synthetic:3x8x8,classes=3,n=96,test=8,noise=1.0")
    body = condense_layer((1, 3 * 4, 8, 8), 4)
    nodes: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = [
        ("stem", "conv2d", ("input",), {"out_channels": 12, "kernel": 3, "padding": 1})]
    nodes += [(n.name, n.op, tuple("stem" if i == "input" else i for i in n.inputs),
               dict(n.attrs)) for n in body.nodes]
    graph = classifier(ArchGraph((1, 3, 8, 8), nodes), 3)
    result = Trainer(epochs=4, batch_size=32, lr=0.05, threads=1).fit(graph, data)
    assert result.ok, result.reason
    assert result.module is not None
    layer = lgc(result.module, "lgc")
    assert layer.stage == 3
    assert (layer.mask.view(4, 4, 12).sum(2) == 3).all()  # in/C = 12/4 per group
    state = result.module.state_dict()
    assert {k.rsplit(".", 1)[1] for k in state if "lgc" in k} == {"weight", "mask"}
    path = tmp_path / "weights.pt"
    torch.save(state, path)
    restored = build(graph)
    restored.load_state_dict(torch.load(path))
    restored.eval()
    result.module.eval()
    x = torch.randn(graph.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(restored(x.clone()), result.module(x.clone()))
    assert torch.equal(lgc(restored, "lgc").index, layer.index)


def test_trainer_calls_set_progress_once_per_epoch() -> None:
    data = create_dataset("synthetic:3x8x8,classes=3,n=64,test=8,noise=1.0")
    graph = classifier(ArchGraph((1, 3, 8, 8), [
        ("stem", "conv2d", ("input",), {"out_channels": 4, "kernel": 3, "padding": 1})]), 3)
    seen: list[float] = []

    class Probe(nn.Module):
        def set_progress(self, fraction: float) -> None:
            seen.append(fraction)

    module = build(graph)
    module.add_module("probe", Probe())
    result = Trainer(epochs=4, batch_size=16, lr=0.05, threads=1).fit(module, data)
    assert result.ok, result.reason
    assert seen == [0.0, 0.25, 0.5, 0.75]


def test_one_epoch_of_training_still_deploys_in_over_c() -> None:
    data = create_dataset("synthetic:3x8x8,classes=3,n=64,test=8,noise=1.0")
    graph = classifier(ArchGraph((1, 3, 8, 8), [
        ("stem", "conv2d", ("input",), {"out_channels": 8, "kernel": 3, "padding": 1}),
        ("lgc", "learned_group_conv", ("stem",), {"out_channels": 8, "groups": 2}),
    ]), 3)
    result = Trainer(epochs=1, batch_size=32, lr=0.05, threads=1).fit(graph, data)
    assert result.ok and result.module is not None
    layer = lgc(result.module, "lgc")
    assert layer.stage == 0  # one epoch: only fraction 0 was seen
    assert layer.index.shape == (2 * 2,)
    assert deployed_params(result.module) == count_params(graph)


# ---- trace and export ----------------------------------------------------------------------


@pytest.mark.parametrize("graph", [shufflenet_unit(), condense_layer()], ids=["shuffle", "condense"])
def test_build_trace_round_trip(graph: ArchGraph) -> None:
    torch.manual_seed(2)
    module = build(graph)
    lgcs = [m for m in module.modules() if isinstance(m, LearnedGroupConv)]
    for m in lgcs:
        m.set_progress(0.25)
    module.eval()
    result = trace(module, graph.input_shape)
    assert result.opaque_nodes == ()
    back = result.graph
    if all(n.op != "dwconv" for n in graph.nodes):
        assert back.fingerprint() == graph.fingerprint()
    for a, b in zip(graph.nodes, back.nodes, strict=True):  # dwconv comes back as a group conv
        want = ("conv2d", {"groups": graph.shape(a.inputs[0])[1]}) if a.op == "dwconv" else (
            a.op, dict(a.attrs))
        assert b.op == want[0] and dict(want[1]).items() <= dict(b.attrs).items()
    assert (count_params(back), count_macs(back), lifetime_table(back).totals) == (
        count_params(graph), count_macs(graph), lifetime_table(graph).totals)
    again = build(result.graph)
    again.load_weights(module, result.source_paths)
    again.eval()
    x = torch.randn(graph.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(again(x.clone()), module(x.clone()))


def test_torch_channel_shuffle_traces_to_the_op() -> None:
    model = nn.Sequential(nn.Conv2d(8, 8, 1, groups=2), nn.ChannelShuffle(2))

    class Functional(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.channel_shuffle(x, 4)

    for m, groups in ((model, 2), (Functional(), 4)):
        graph = trace(m, (1, 8, 4, 4)).graph
        node = graph.node(graph.outputs[0])
        assert (node.op, dict(node.attrs)) == ("channel_shuffle", {"groups": groups})


@pytest.mark.parametrize("graph", [shufflenet_unit(), condense_layer()], ids=["shuffle", "condense"])
def test_onnx_and_torchscript_run_the_deployed_form(graph: ArchGraph, tmp_path: Path) -> None:
    import onnx

    torch.manual_seed(3)
    module = build(graph)
    for m in module.modules():
        if isinstance(m, LearnedGroupConv):
            m.set_progress(0.3)
    path = export_onnx(graph, tmp_path / "model.onnx", module=module)  # checks onnxruntime
    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    groups = [a.i for n in model.graph.node if n.op_type == "Conv" for a in n.attribute
              if a.name == "group"]
    if any(n.op == "learned_group_conv" for n in graph.nodes):
        assert "Gather" in ops and 4 in groups
    else:
        assert "Transpose" in ops and 3 in groups
    export_torchscript(graph, tmp_path / "model.pt", module=module)  # checks torch.jit.load
