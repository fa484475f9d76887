"""The ``dppnet`` space (paper 003 section 4, DPP-Net): shapes and widths of the dense cells,
the grow tree from the 1-layer cells, the grammar, bad arguments, parameters and MACs against
the built module and a hand count, and the hand-written CondenseNet- and MobileNet-like cells."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

import fitnas.arch.graph as graph_module
from fitnas.arch.builder import LearnedGroupConv, build, deployed_params
from fitnas.cli import main
from fitnas.costs import count_macs, count_params, estimate, lifetime_table
from fitnas.costs.measure import measure_peak
from fitnas.costs.schedule import best_order
from fitnas.spaces import InvalidEncoding, SearchSpace, SpaceError, create_space
from fitnas.spaces._emit import Emitter
from fitnas.spaces.dppnet import (
    CONDENSENET_LIKE,
    CONVS,
    CONVS_BY_COST,
    MOBILENET_LIKE,
    MOBILENETV2_LIKE,
    NORMS,
    NORMS_BY_COST,
    DPPNetSpace,
)

DENSENET_BC = ("bnrelu", "conv1x1", "bnrelu", "conv3x3")


def every_encoding(space: SearchSpace) -> Iterator[tuple[str, ...]]:
    """Every encoding of the space, by growing from the 1-layer cells."""
    front = space.grow_roots()
    while front:
        yield from front
        front = [child for enc in front for child in space.grow(enc)]


def shapes(space: SearchSpace, enc: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    graph = space.decode(enc)
    return {name: graph.shape(name) for name in graph.order}


# ------------------------------------------------------------------ decode and widths
def test_dense_cells_add_the_growth_rate_and_transitions_halve_the_map() -> None:
    space = create_space("dppnet")  # 1x3x32x32, growth 8, 3 stages of 4 cells, stem 16
    got = shapes(space, CONDENSENET_LIKE)
    assert got["stem_conv2d"] == (1, 16, 32, 32)
    for stage, side in enumerate((32, 16, 8)):
        for k in range(4):
            c = 16 + 8 * (4 * stage + k)  # the running features the cell reads
            p = f"s{stage}c{k}_"
            assert got[p + "l0_batchnorm"] == (1, c, side, side)
            assert got[p + "l1_learned_group_conv"] == (1, 32, side, side)  # the bottleneck
            assert got[p + "l1_channel_shuffle"] == (1, 32, side, side)
            assert got[p + "l3_conv2d"] == (1, 8, side, side)  # the last Conv: growth rate
            assert got[p + "concat"] == (1, c + 8, side, side)
        if stage:
            assert got[f"t{stage}_avgpool"] == (1, 16 + 32 * stage, side, side)
    assert got["head_batchnorm"] == (1, 112, 8, 8)
    assert got["head_linear"] == (1, 10)
    graph = space.decode(CONDENSENET_LIKE)
    concat = graph.node("s1c2_concat")
    assert concat.inputs == ("s1c1_concat", "s1c2_l3_channel_shuffle")  # x' = concat(x, y)


def test_a_depthwise_conv_keeps_channels_and_the_last_one_is_projected() -> None:
    space = create_space("dppnet")
    got = shapes(space, ("bn", "dwconv3x3"))
    assert got["s0c0_l1_dwconv"] == (1, 16, 32, 32)  # keeps the cell input's channels
    assert got["s0c0_l1_pwconv"] == (1, 8, 32, 32)  # projected to the growth rate
    got = shapes(space, ("bn", "conv1x1", "identity", "dwconv3x3", "bn"))
    assert got["s0c0_l1_pwconv"] == (1, 32, 32, 32)
    assert got["s0c0_l3_dwconv"] == (1, 32, 32, 32)
    assert got["s0c0_l3_pwconv"] == (1, 8, 32, 32)
    assert got["s0c0_l4_batchnorm"] == (1, 8, 32, 32)  # a trailing Norm on the cell's output
    got = shapes(space, MOBILENET_LIKE)
    assert got["s0c1_l1_dwconv"] == (1, 24, 32, 32)  # not the last Conv: no projection
    assert "s0c1_l1_pwconv" not in got
    assert got["s0c1_l3_pwconv"] == (1, 8, 32, 32)


def test_cells_without_a_conv_add_no_channels_and_are_three_networks() -> None:
    space = create_space("dppnet")
    for norm in NORMS:
        got = shapes(space, (norm,))
        assert got["head_batchnorm"] == (1, 16, 8, 8)
        assert all(s[1] == 16 for name, s in got.items() if name.startswith("s"))
        assert not any(name.endswith("concat") for name in got)
    roots = space.grow_roots()
    assert len({space.fingerprint(e) for e in roots}) == 3
    assert count_params(space.decode(("identity",))) < count_params(space.decode(("bn",)))
    pair = [("identity", "conv1x1"), ("identity", "conv1x1", "identity")]
    assert space.fingerprint(pair[0]) != space.fingerprint(pair[1])


def test_group_ops_divide_their_channels_for_any_groups() -> None:
    """Widths that are multiples of lcm(groups, condense_factor) keep every group op valid:
    every encoding of 1..4 layers decodes, with group convs of the space's groups."""
    space = create_space("dppnet", input_shape=(1, 3, 12, 12), growth_rate=6, stem_channels=12,
                         bottleneck=18, groups=3, condense_factor=2, max_layers=4,
                         cells_per_stage=2, stages=2)
    encodings = list(every_encoding(space))
    assert len(encodings) == 3 + 18 + 54 + 324
    seen = set()
    for enc in encodings:
        graph = space.decode(enc)
        for node in graph.nodes:
            if node.op in ("channel_shuffle", "learned_group_conv") or (
                    node.op in ("conv2d", "pwconv") and node.attrs["groups"] != 1):
                assert node.attrs["groups"] == 3
                assert graph.shape(node.inputs[0])[1] % 3 == 0 or node.op == "learned_group_conv"
                seen.add(node.op)
    assert seen == {"channel_shuffle", "learned_group_conv", "conv2d", "pwconv"}


def test_every_conv_builds_runs_and_its_peak_is_measured_exactly() -> None:
    torch.manual_seed(0)
    space = create_space("dppnet", input_shape=(2, 3, 8, 8), classes=3, cells_per_stage=2,
                         stages=2)
    for first, last in itertools.product(CONVS, repeat=2):
        enc = ("bnrelu", first, "bn", last)
        for cell in (enc, enc[:2], enc[:3]):
            graph = space.decode(cell)
            module = build(graph).eval()
            assert deployed_params(module) == count_params(graph), cell
            with torch.no_grad():
                out = module(torch.randn(2, 3, 8, 8))
            assert out.shape == (2, 3) and torch.isfinite(out).all()
            if cell is enc:
                assert measure_peak(graph, module=module).peak_bytes == \
                    lifetime_table(graph).peak_bytes, cell


# ------------------------------------------------------------------ moves and grammar
def test_grow_gives_three_or_six_children_and_stops_at_max_layers() -> None:
    space = create_space("dppnet", max_layers=4)
    roots = space.grow_roots()
    assert roots == [("bnrelu",), ("bn",), ("identity",)]
    seen = set()
    front = roots
    for length in range(1, 5):
        assert all(len(e) == length for e in front)
        seen.update(front)
        children = [space.grow(e) for e in front]
        if length == 4:
            assert all(c == [] for c in children)
            break
        for enc, kids in zip(front, children):
            assert len(kids) == (6 if length % 2 else 3)
            assert all(k[:-1] == enc for k in kids)
            assert all(space.trim(k) == [enc] for k in kids)
        front = [k for kids in children for k in kids]
    assert len(seen) == 3 + 18 + 54 + 324
    assert space.trim(("bn",)) == []
    assert space.grow(("bn", "conv3x3")) == [("bn", "conv3x3", n) for n in NORMS]
    assert space.grow(("bn",)) == [("bn", c) for c in CONVS]


def test_parameters_grow_with_the_layers_but_for_a_projected_depthwise_conv() -> None:
    """The one documented exception: a depthwise conv that stops being the last Conv loses its
    1x1 projection, and a group or learned group 1x1 appended after it costs less."""
    space = create_space("dppnet", max_layers=4, cells_per_stage=2)
    params = {e: count_params(space.decode(e)) for e in every_encoding(space)}
    drops = {(e[-2 if len(e) % 2 else -1], c[-1]) for e in params for c in space.grow(e)
             if params[c] < params[e]}
    assert drops == {("dwconv3x3", "gconv1x1"), ("dwconv3x3", "lgconv1x1")}
    macs = {e: count_macs(space.decode(e)) for e in params}
    assert all(macs[c] >= macs[e] for e in params for c in space.grow(e)
               if not any(layer == "dwconv3x3" for layer in e))


def test_mutations_change_one_layer_within_its_kind_and_steps_follow_the_cost_order() -> None:
    space = create_space("dppnet")
    enc = ("bn", "conv3x3", "identity", "dwconv3x3")
    muts = space.mutations(enc)
    assert len(muts) == 2 + 5 + 2 + 5 == len(set(muts))
    assert all(sum(a != b for a, b in zip(m, enc)) == 1 and len(m) == 4 for m in muts)
    assert len(space.mutations(("bnrelu",))) == 2
    assert space.coordinates(enc) == [0, 1, 2, 3]
    assert space.step(enc, 0, 1) == ("bnrelu", *enc[1:])
    assert space.step(enc, 2, 1) == ("bn", "conv3x3", "bn", "dwconv3x3")
    assert space.step(enc, 1, -1) == ("bn", "gconv3x3", "identity", "dwconv3x3")
    assert set(CONVS_BY_COST) == set(CONVS) and set(NORMS_BY_COST) == set(NORMS)
    with pytest.raises(InvalidEncoding, match="already at its largest"):
        space.step(enc, 1, 1)
    with pytest.raises(InvalidEncoding, match="already at its smallest"):
        space.step(enc, 3, -1)
    with pytest.raises(InvalidEncoding, match=r"coordinate 4 is not a layer 0\.\.3"):
        space.step(enc, 4, 1)


def test_the_grammar_alternates_norm_and_conv_up_to_max_layers() -> None:
    space = create_space("dppnet", max_layers=3)
    assert space.vocab_size == 9
    assert space.next_tokens([]) == ((0, 1, 2), False)
    assert space.next_tokens([2]) == ((3, 4, 5, 6, 7, 8), True)
    assert space.next_tokens([2, 8]) == ((0, 1, 2), True)
    assert space.next_tokens([2, 8, 0]) == ((), True)
    with pytest.raises(InvalidEncoding, match="token 3 at position 0 is not allowed"):
        space.next_tokens([3])
    with pytest.raises(InvalidEncoding, match="token 1 at position 1 is not allowed"):
        space.next_tokens([0, 1])
    with pytest.raises(InvalidEncoding, match="position 3 is not allowed there; allowed: none"):
        space.next_tokens([0, 3, 0, 3])
    assert space.to_tokens(("identity", "dwconv3x3", "bnrelu")) == [2, 8, 0]
    assert space.from_tokens([1, 4]) == ("bn", "conv3x3")
    for bad in ([], [3], [0, 0], [0, 3, 0, 3]):
        with pytest.raises(InvalidEncoding):
            space.from_tokens(bad)


def test_text_and_json_forms() -> None:
    space = create_space("dppnet")
    enc = space.parse("bnrelu-conv3x3-bn-gconv1x1")
    assert enc == ("bnrelu", "conv3x3", "bn", "gconv1x1")
    assert space.format(enc) == "bnrelu-conv3x3-bn-gconv1x1"
    assert space.parse('["bn", "lgconv1x1"]') == ("bn", "lgconv1x1")
    assert space.to_json(enc) == '["bnrelu","conv3x3","bn","gconv1x1"]'
    for text, message in (("conv3x3", r"layer 0 must be a Norm \(bnrelu, bn, identity\), got "
                                      r"'conv3x3'"),
                          ("bn-bn", "layer 1 must be a Conv"),
                          ("bn-conv9x9", "got 'conv9x9'"),
                          ("", "1..6 layers"),
                          ("-".join(["bn", "conv1x1"] * 4), "1..6 layers")):
        with pytest.raises(InvalidEncoding, match=message) as info:
            space.parse(text)
        assert "\n" not in str(info.value)


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"growth_rate": 10}, "growth_rate 10 must be a multiple of 4"),
    ({"groups": 3}, "stem_channels 16 must be a multiple of 12"),
    ({"bottleneck": 7, "groups": 2, "condense_factor": 1}, "bottleneck 7 must be a multiple of 2"),
    ({"growth_rate": 0}, "growth_rate must be in 1..1048576, got 0"),
    ({"stages": 7}, r"needs at least 64x64, got 32x32"),
    ({"stages": 0}, "stages must be in 1..16, got 0"),
    ({"cells_per_stage": 2.5}, "cells_per_stage must be an int, got 2.5"),
    ({"max_layers": 0}, "max_layers must be in 1..64, got 0"),
    ({"max_layers": True}, "max_layers must be an int, got True"),
    ({"condense_factor": 0}, "condense_factor must be in 1..1048576, got 0"),
    ({"stem_channels": -4}, "stem_channels must be in 1..1048576, got -4"),
    ({"growth_rate": 2**18, "stem_channels": 4}, "give 3,145,732 channels"),
    ({"width": 3}, "accepted: input_shape, classes, growth_rate, stages"),
])
def test_bad_arguments_are_one_line_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(SpaceError, match=message) as info:
        create_space("dppnet", **kwargs)
    assert "\n" not in str(info.value)


def test_small_inputs_and_config_round_trip() -> None:
    space = create_space("dppnet", input_shape=(1, 1, 4, 4), classes=2, stages=3)
    graph = space.decode(CONDENSENET_LIKE)
    assert graph.shape("head_batchnorm")[2:] == (1, 1)
    again = create_space("dppnet", **space.get_config())
    assert again.get_config() == space.get_config()
    assert again.decode(CONDENSENET_LIKE).fingerprint() == graph.fingerprint()


# ------------------------------------------------------------------ costs
def _hand_counts(cell: str, classes: int = 10) -> tuple[int, int]:
    """Parameters and MACs of the default network (1x3x32x32, growth 8, bottleneck 32,
    3 stages of 4 cells, stem 16, G = C = 4), counted by hand per cell."""
    params, macs = 3 * 9 * 16, 3 * 9 * 16 * 32 * 32  # the stem conv
    for k in range(12):
        c, hw = 16 + 8 * k, (32 >> (k // 4)) ** 2  # the cell's input channels and map size
        if cell == "densenet":  # BN(c), 1x1 c->32, BN(32), 3x3 32->8
            p, m = 2 * c + 32 * c + 64 + 9 * 32 * 8, 32 * c + 9 * 32 * 8
        elif cell == "condensenet":  # BN(c), learned 1x1 c->32 keeping c/4, BN(32), 3x3 G=4
            p, m = 2 * c + 32 * c // 4 + 64 + 9 * 8 * 32 // 4, 32 * c // 4 + 9 * 8 * 32 // 4
        else:  # mobilenet: BN(c), 3x3 depthwise, BN(c), 1x1 c->8
            p, m = 2 * c + 9 * c + 2 * c + 8 * c, 9 * c + 8 * c
        params += p
        macs += m * hw
    params += 2 * 112 + 112 * classes + classes  # head BN and classifier
    macs += 112 * classes
    return params, macs


def _module_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of the convolutions and linear layers the module runs."""
    total = 0

    def conv(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features
        elif isinstance(m, LearnedGroupConv):
            total += out.numel() * m.kept

    handles = [m.register_forward_hook(conv) for m in module.modules()]
    with torch.no_grad():
        module(x)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize(("cell", "enc"), [("densenet", DENSENET_BC),
                                           ("condensenet", CONDENSENET_LIKE),
                                           ("mobilenet", MOBILENET_LIKE)])
def test_params_and_macs_match_the_built_module_and_a_hand_count(cell: str,
                                                                 enc: tuple[str, ...]) -> None:
    space = create_space("dppnet")
    graph = space.decode(enc)
    params, macs = _hand_counts(cell)
    assert count_params(graph) == params
    assert count_macs(graph) == macs
    module = build(graph).eval()
    assert deployed_params(module) == params
    assert _module_macs(module, torch.randn(1, 3, 32, 32)) == macs


def test_hand_written_cells_are_in_the_space() -> None:
    space = create_space("dppnet")
    assert DPPNetSpace.condensenet_like() == CONDENSENET_LIKE
    assert DPPNetSpace.mobilenet_like() == MOBILENET_LIKE
    assert DPPNetSpace.mobilenetv2_like() == MOBILENETV2_LIKE
    for enc in (CONDENSENET_LIKE, MOBILENET_LIKE, MOBILENETV2_LIKE):
        assert space.validate(list(enc)) == enc
        assert space.parse(space.format(enc)) == enc
    ops = [n.op for n in space.decode(CONDENSENET_LIKE).nodes if n.name.startswith("s0c0_")]
    assert ops == ["batchnorm", "relu", "learned_group_conv", "channel_shuffle", "batchnorm",
                   "relu", "conv2d", "channel_shuffle", "concat"]
    ops = [n.op for n in space.decode(MOBILENET_LIKE).nodes if n.name.startswith("s0c0_")]
    assert ops == ["batchnorm", "relu", "dwconv", "batchnorm", "relu", "pwconv", "concat"]
    with pytest.raises(InvalidEncoding, match=r"1\.\.4 layers"):
        create_space("dppnet", max_layers=4).validate(MOBILENETV2_LIKE)


def test_the_best_order_of_a_default_network_is_exact_and_quick() -> None:
    space = create_space("dppnet")
    for enc in (CONDENSENET_LIKE, MOBILENET_LIKE, MOBILENETV2_LIKE):
        graph = space.decode(enc)
        start = time.perf_counter()
        schedule = best_order(graph, time_limit=10.0)
        assert time.perf_counter() - start < 5.0
        assert schedule.exact
        assert schedule.peak_bytes == lifetime_table(graph, order=schedule.order).peak_bytes
        assert schedule.peak_bytes <= lifetime_table(graph).peak_bytes
        # the peak: a first-stage cell with its running features, bottleneck and output alive
        assert estimate(graph).peak_activation_bytes >= 4 * (48 + 32) * 32 * 32


@contextmanager
def reference_path() -> Iterator[None]:
    """Decoders write through the reference writer, and graphs take the staged checks."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Emitter, "build", Emitter.build_reference)
        patch.setattr(graph_module, "fast_rows", lambda input_shape, raw: None)
        yield


@pytest.mark.parametrize("options", [
    {"input_shape": (2, 1, 15, 13), "classes": 3, "stages": 2, "cells_per_stage": 3,
     "groups": 2, "condense_factor": 2, "growth_rate": 4, "stem_channels": 6, "bottleneck": 10},
    {"stages": 1, "cells_per_stage": 1, "groups": 1, "condense_factor": 1, "growth_rate": 3,
     "stem_channels": 5, "bottleneck": 7},
])
def test_fast_path_gives_the_reference_networks(options: dict) -> None:
    space = create_space("dppnet", **options)
    encs = [space.sample(seed) for seed in range(40)] + [CONDENSENET_LIKE, MOBILENET_LIKE]
    fast = [space.decode(e) for e in encs]
    with reference_path():
        reference = [space.decode(e) for e in encs]
    for f, r in zip(fast, reference):
        assert f.to_dict() == r.to_dict()
        assert f.fingerprint() == r.fingerprint()
        assert estimate(f) == estimate(r, fast=False)


def test_estimate_and_search_help_name_the_space(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "dppnet:bnrelu-lgconv1x1-bnrelu-gconv3x3", "--json"]) == 0
    out = capsys.readouterr().out
    assert f'"params": {_hand_counts("condensenet")[0]}' in out
    assert main(["estimate", "dppnet:bn-conv3x3-bn-bn"]) == 2
    assert "layer 3 must be a Conv" in capsys.readouterr().err
