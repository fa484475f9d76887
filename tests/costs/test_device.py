"""Device latency, energy and power (``fitnas.costs.device``): hand-computed costs of a small
network under both combines, the fusion rules, layer kinds, the per-layer breakdown, caching,
the profile checks and the costs a ``CostModel`` with a device adds."""

from __future__ import annotations

import dataclasses
import json
from itertools import pairwise
from typing import Any

import pytest

from fitnas.arch import ArchGraph
from fitnas.arch.random_graph import random_graph
from fitnas.costs.device import (
    ComputeProfile,
    DeviceModelError,
    device_costs,
    layer_kind,
)
from fitnas.costs.model import CostModel, CostModelError, Costs

# The hand-written profile: 1 MHz, so a cycle is a microsecond (1e-3 ms); fp32, 4 B/element.
CLOCK = 1e6
PER_MAC = {"conv": 2.0, "depthwise": 3.0, "pointwise": 1.5, "linear": 4.0}
PER_ELEMENT = {"pool": 0.5, "elementwise": 1.0}
SRAM_BPC, WEIGHT_BPC = 8.0, 2.0
LAYER_OVERHEAD, INVOKE = 100.0, 1000.0
STATIC, ACTIVE = 10.0, 90.0  # mW
PJ_MAC, PJ_SRAM, PJ_WEIGHT = 5.0, 2.0, 3.0


def num(value: float | None) -> float:
    """A cost that must be known."""
    assert value is not None
    return value


def profile(combine: str = "sum", name: str = "bench", **changes: Any) -> ComputeProfile:
    compute: dict[str, Any] = {
        "core": "test core", "clock_hz": CLOCK, "combine": combine,
        "cycles_per_mac": dict(PER_MAC), "cycles_per_element": dict(PER_ELEMENT),
        "bytes_per_cycle": {"sram": SRAM_BPC, "weights": WEIGHT_BPC},
        "layer_overhead_cycles": LAYER_OVERHEAD, "invoke_overhead_cycles": INVOKE,
    }
    power: dict[str, Any] = {"static_mw": STATIC, "active_mw": ACTIVE, "pj_per_mac": PJ_MAC,
                             "pj_per_sram_byte": PJ_SRAM, "pj_per_weight_byte": PJ_WEIGHT}
    for key, value in changes.items():
        (power if key in power else compute)[key] = value
    return ComputeProfile.from_tables(name, "fp32", compute, power)


def small_graph(outputs: list[str] | None = None) -> ArchGraph:
    """conv2d 3->4 3x3 (bias) on 8x8 -> batchnorm -> relu -> global_avgpool -> flatten ->
    linear 4->3."""
    return ArchGraph((1, 3, 8, 8), [
        ("conv", "conv2d", ("input",), {"out_channels": 4, "kernel": 3, "padding": 1}),
        ("bn", "batchnorm", ("conv",), {}),
        ("relu", "relu", ("bn",), {}),
        ("gap", "global_avgpool", ("relu",), {}),
        ("flat", "flatten", ("gap",), {}),
        ("fc", "linear", ("flat",), {"out_features": 3}),
    ], outputs)


def hand_layer(work: float, per_unit: float, act_elements: int, weights: int, macs: int,
               combine: str) -> tuple[float, float]:
    """(ms, uJ) of one layer by the module docstring's formulas, at fp32 (4 B per element)."""
    act_bytes, weight_bytes = 4 * act_elements, 4 * weights
    compute = work * per_unit
    memory = act_bytes / SRAM_BPC + weight_bytes / WEIGHT_BPC
    cycles = LAYER_OVERHEAD + (compute + memory if combine == "sum" else max(compute, memory))
    ms = cycles / CLOCK * 1000.0
    uj = (STATIC + ACTIVE) * ms + 1e-6 * (PJ_MAC * macs + PJ_SRAM * act_bytes
                                          + PJ_WEIGHT * weight_bytes)
    return ms, uj


# The small graph by hand. conv: 4x8x8 outputs x 3x3x3 = 6,912 MACs, reads 3x8x8 = 192 and
# writes 256 elements, 4x3x3x3 + 4 = 112 weights (batch norm folded, relu fused: they cost
# nothing); global_avgpool reads 256, writes 4; flatten is a view; linear: 4x3 = 12 MACs,
# reads 4, writes 3, 4x3 + 3 = 15 weights.
CONV = (6912, PER_MAC["conv"], 192 + 256, 112, 6912)
POOL = (256, PER_ELEMENT["pool"], 256 + 4, 0, 0)
FC = (12, PER_MAC["linear"], 4 + 3, 15, 12)
# unfused: batch norm 256 -> 256 with 2 x 4 weights, relu 256 -> 256
BN = (256, PER_ELEMENT["elementwise"], 512, 8, 0)
RELU = (256, PER_ELEMENT["elementwise"], 512, 0, 0)


@pytest.mark.parametrize("combine", ["sum", "max"])
def test_latency_energy_and_power_of_a_small_graph_by_hand(combine: str) -> None:
    layers = {name: hand_layer(*spec, combine=combine)
              for name, spec in (("conv", CONV), ("gap", POOL), ("fc", FC))}
    invoke_ms = INVOKE / CLOCK * 1000.0
    latency = invoke_ms + sum(ms for ms, _ in layers.values())
    energy = (STATIC + ACTIVE) * invoke_ms + sum(uj for _, uj in layers.values())
    powers = {name: uj / ms for name, (ms, uj) in layers.items()}
    peak_layer = max(powers, key=powers.__getitem__)
    if combine == "sum":  # the numbers themselves, worked out on paper
        assert latency == pytest.approx(1.0 + 14.372 + 0.358 + 0.1815)
        assert layers["conv"][1] == pytest.approx(100 * 14.372 + 1e-6 * (5 * 6912 + 2 * 1792
                                                                        + 3 * 448))
    else:
        assert latency == pytest.approx(1.0 + 13.924 + 0.230 + 0.148)

    got = device_costs(small_graph(), profile(combine), layers=True)
    assert (got.device, got.dtype) == ("bench", "fp32")
    assert got.latency_ms == pytest.approx(latency, rel=1e-12)
    assert got.energy_uj == pytest.approx(energy, rel=1e-12)
    assert got.avg_power_mw == pytest.approx(energy / latency, rel=1e-12)
    assert got.peak_power_mw == pytest.approx(powers[peak_layer], rel=1e-12)
    assert got.peak_power_layer == peak_layer
    rows = {row.name: row for row in got.layers}
    for name, (ms, uj) in layers.items():
        assert rows[name].latency_ms == pytest.approx(ms, rel=1e-12), name
        assert rows[name].energy_uj == pytest.approx(uj, rel=1e-12), name
    conv = rows["conv"]
    assert (conv.kind, conv.work, conv.macs, conv.activation_bytes, conv.weight_bytes) == \
        ("conv", 6912, 6912, 4 * 448, 4 * 112)
    assert conv.compute_ms == pytest.approx(6912 * 2 / 1000)
    assert conv.memory_ms == pytest.approx((4 * 448 / 8 + 4 * 112 / 2) / 1000)
    assert got.costs() == {"latency_ms": got.latency_ms, "energy_uj": got.energy_uj,
                           "avg_power_mw": got.avg_power_mw,
                           "peak_power_mw": got.peak_power_mw}


def test_without_fusion_batchnorm_and_relu_are_layers_of_their_own() -> None:
    fused = device_costs(small_graph(), profile(), layers=True)
    plain = device_costs(small_graph(), profile(fuse=[]), layers=True)
    extra = [hand_layer(*BN, combine="sum"), hand_layer(*RELU, combine="sum")]
    assert plain.latency_ms == pytest.approx(fused.latency_ms + sum(ms for ms, _ in extra))
    assert plain.energy_uj == pytest.approx(num(fused.energy_uj) + sum(uj for _, uj in extra))
    assert all(row.fused_into is None for row in plain.layers)
    rows = {row.name: row for row in plain.layers}
    assert rows["bn"].kind == rows["relu"].kind == "elementwise"
    assert rows["bn"].weight_bytes == 4 * 8


def fused_into(graph: ArchGraph, p: ComputeProfile | None = None) -> dict[str, str | None]:
    return {row.name: row.fused_into
            for row in device_costs(graph, p or profile(), layers=True).layers}


def conv(name: str, src: str = "input", channels: int = 4, **attrs: Any
         ) -> tuple[str, str, tuple[str, ...], dict[str, Any]]:
    return (name, "conv2d", (src,), {"out_channels": channels, "kernel": 3, "padding": 1,
                                     **attrs})


def test_fusion_rules() -> None:
    shape = (1, 3, 8, 8)
    # BN right after a conv is folded, relu after the folded BN is fused (into the conv)
    assert fused_into(small_graph()) == {"conv": None, "bn": "conv", "relu": "conv",
                                         "gap": None, "flat": None, "fc": None}
    # relu right after a conv, relu6 after a linear layer
    graph = ArchGraph(shape, [conv("c"), ("r", "relu", ("c",), {}),
                              ("f", "flatten", ("r",), {}),
                              ("l", "linear", ("f",), {"out_features": 5}),
                              ("r6", "relu6", ("l",), {})])
    assert fused_into(graph) == {"c": None, "r": "c", "f": None, "l": None, "r6": "l"}
    # the conv's output has two readers: neither the BN nor the relu is fused
    two = ArchGraph(shape, [conv("c"), ("bn", "batchnorm", ("c",), {}),
                            ("r", "relu", ("c",), {}), ("a", "add", ("bn", "r"), {})])
    assert fused_into(two) == {"c": None, "bn": None, "r": None, "a": None}
    # the conv's output is a graph output: the relu after it is not fused
    out = ArchGraph(shape, [conv("c"), ("r", "relu", ("c",), {})], outputs=["c", "r"])
    assert fused_into(out) == {"c": None, "r": None}
    # ... nor a BN after it folded
    out_bn = ArchGraph(shape, [conv("c"), ("bn", "batchnorm", ("c",), {})],
                       outputs=["c", "bn"])
    assert fused_into(out_bn) == {"c": None, "bn": None}
    # a BN after the relu is not folded (the relu is fused, the BN stays a layer)
    late = ArchGraph(shape, [conv("c"), ("r", "relu", ("c",), {}),
                             ("bn", "batchnorm", ("r",), {})])
    assert fused_into(late) == {"c": None, "r": "c", "bn": None}
    # a BN's output with two readers: the BN is folded, the relu after it is not fused
    split = ArchGraph(shape, [conv("c"), ("bn", "batchnorm", ("c",), {}),
                              ("r", "relu", ("bn",), {}), ("a", "add", ("r", "bn"), {})])
    assert fused_into(split) == {"c": None, "bn": "c", "r": None, "a": None}
    # a BN on the network input (no producer) is not folded, nor the relu after it
    first = ArchGraph(shape, [("bn", "batchnorm", ("input",), {}), ("r", "relu", ("bn",), {}),
                              conv("c", "r")])
    assert fused_into(first) == {"bn": None, "r": None, "c": None}
    # a BN after a pool is no fold
    pooled = ArchGraph(shape, [("p", "maxpool", ("input",), {"kernel": 2}),
                               ("bn", "batchnorm", ("p",), {}), ("r", "relu", ("bn",), {})])
    assert fused_into(pooled) == {"p": None, "bn": None, "r": None}
    # a profile that fuses nothing
    assert set(fused_into(small_graph(), profile(fuse=[])).values()) == {None}
    # one that fuses relu but does not fold batch norm: the relu after the BN stays
    assert fused_into(small_graph(), profile(fuse=["relu"]))["relu"] is None
    assert fused_into(graph, profile(fuse=["relu"]))["r"] == "c"
    assert fused_into(graph, profile(fuse=["relu"]))["r6"] is None


def test_a_fused_node_costs_nothing_and_its_producer_writes_the_output() -> None:
    rows = {r.name: r for r in device_costs(small_graph(), profile(), layers=True).layers}
    for name in ("bn", "relu"):
        row = rows[name]
        assert (row.latency_ms, row.energy_uj, row.work, row.macs, row.power_mw) == \
            (0.0, 0.0, 0, 0, None)
    assert rows["flat"].kind == "view" and rows["flat"].latency_ms == 0.0


@pytest.mark.parametrize(("op", "attrs", "channels", "kind"), [
    ("conv2d", {"groups": 8, "kernel": (3, 3)}, 8, "depthwise"),
    ("conv2d", {"groups": 1, "kernel": (1, 1)}, 8, "pointwise"),
    ("conv2d", {"groups": 1, "kernel": 1}, 8, "pointwise"),
    ("conv2d", {"groups": 2, "kernel": (3, 3)}, 8, "conv"),
    ("conv2d", {"groups": 1, "kernel": (3, 3)}, 8, "conv"),
    ("conv2d", {"groups": 2, "kernel": (1, 1)}, 8, "conv"),
    ("dwconv", {"kernel": (3, 3)}, 8, "depthwise"),
    ("pwconv", {}, 8, "pointwise"),
    ("fac_conv", {"kernel": 7}, 8, "conv"),
    ("linear", {"out_features": 4}, None, "linear"),
    ("maxpool", {"kernel": (2, 2)}, 8, "pool"),
    ("avgpool", {"kernel": (2, 2)}, 8, "pool"),
    ("global_avgpool", {}, 8, "pool"),
    ("adaptive_avgpool", {"output_size": (1, 1)}, 8, "pool"),
    ("relu", {}, 8, "elementwise"),
    ("batchnorm", {}, 8, "elementwise"),
    ("add", {}, 8, "elementwise"),
    ("concat", {}, 8, "elementwise"),
    ("identity", {}, 8, None),
    ("flatten", {}, 8, None),
    ("dropout", {}, 8, None),
    ("parameter", {"shape": (1, 4)}, None, None),
])
def test_layer_kind(op: str, attrs: dict[str, Any], channels: int | None, kind: str | None
                    ) -> None:
    assert layer_kind(op, attrs, channels) == kind


def test_layer_kinds_in_a_graph_and_the_work_of_pools() -> None:
    graph = ArchGraph((1, 8, 8, 8), [
        ("dw", "conv2d", ("input",), {"out_channels": 8, "kernel": 3, "padding": 1,
                                      "groups": 8, "bias": False}),
        ("pw", "conv2d", ("dw",), {"out_channels": 8, "kernel": 1, "bias": False}),
        ("g2", "conv2d", ("pw",), {"out_channels": 8, "kernel": 3, "padding": 1,
                                   "groups": 2, "bias": False}),
        ("d2", "dwconv", ("g2",), {"kernel": 3, "padding": 1}),
        ("p2", "pwconv", ("d2",), {"out_channels": 8}),
        ("fac", "fac_conv", ("p2",), {"out_channels": 8, "kernel": 3}),
        ("mp", "maxpool", ("fac",), {"kernel": 2}),
        ("ap", "avgpool", ("mp",), {"kernel": 2, "stride": 1}),
        ("drop", "dropout", ("ap",), {}),
        ("id", "identity", ("drop",), {}),
        ("gap", "global_avgpool", ("id",), {}),
    ])
    rows = {r.name: r for r in device_costs(graph, profile(fuse=[]), layers=True).layers}
    assert {n: r.kind for n, r in rows.items()} == {
        "dw": "depthwise", "pw": "pointwise", "g2": "conv", "d2": "depthwise",
        "p2": "pointwise", "fac": "conv", "mp": "pool", "ap": "pool", "drop": "view",
        "id": "view", "gap": "pool"}
    # a window pool reads window x output elements; a global one reads its input
    assert rows["mp"].work == 8 * 4 * 4 * 4  # 8x4x4 outputs of 2x2 windows
    assert rows["ap"].work == 8 * 3 * 3 * 4
    assert rows["gap"].work == 8 * 3 * 3
    assert rows["dw"].work == rows["dw"].macs == 8 * 8 * 8 * 9
    assert rows["id"].latency_ms == rows["drop"].latency_ms == 0.0


@pytest.mark.parametrize("combine", ["sum", "max"])
def test_breakdown_sums_to_the_totals(combine: str) -> None:
    p = profile(combine)
    invoke_ms = INVOKE / CLOCK * 1000.0
    for seed in range(8):
        graph = random_graph(seed, 16)
        got = device_costs(graph, p, layers=True)
        assert [r.name for r in got.layers] == list(graph.order)
        assert invoke_ms + sum(r.latency_ms for r in got.layers) == \
            pytest.approx(got.latency_ms, rel=1e-12)
        assert (STATIC + ACTIVE) * invoke_ms + sum(num(r.energy_uj) for r in got.layers) == \
            pytest.approx(got.energy_uj, rel=1e-12)
        powers = [r.power_mw for r in got.layers if r.power_mw is not None]
        assert got.peak_power_mw == pytest.approx(max(powers))
        assert num(got.avg_power_mw) <= num(got.peak_power_mw)
        # the totals without the breakdown are the same numbers
        bare = device_costs(graph, p)
        assert bare.layers == ()
        assert (bare.latency_ms, bare.energy_uj, bare.peak_power_mw) == \
            (got.latency_ms, got.energy_uj, got.peak_power_mw)


def test_repeated_calls_and_a_graph_rebuilt_from_json_agree() -> None:
    p = profile()
    for seed in range(5):
        graph = random_graph(seed, 14)
        first = device_costs(graph, p, layers=True)
        assert device_costs(graph, p, layers=True) == first
        again = ArchGraph.from_json(graph.to_json())
        assert device_costs(again, p, layers=True) == first
        assert device_costs(again, profile(), layers=True) == first  # a fresh, equal profile


def test_two_profiles_never_share_cached_prices() -> None:
    graph = small_graph()
    slow_conv = profile(cycles_per_mac={**PER_MAC, "conv": 2 * PER_MAC["conv"]})
    base = profile()
    before = device_costs(graph, base).latency_ms
    slower = device_costs(graph, slow_conv).latency_ms
    assert slower - before == pytest.approx(6912 * PER_MAC["conv"] / CLOCK * 1000.0)
    assert device_costs(graph, base).latency_ms == before
    # a profile made by dataclasses.replace starts with no prices either
    maxed = dataclasses.replace(base, combine="max")
    assert device_costs(graph, maxed).latency_ms == \
        pytest.approx(device_costs(graph, profile("max")).latency_ms)
    assert device_costs(graph, maxed).latency_ms < before
    no_power = dataclasses.replace(base, pj_per_mac=0.0, pj_per_sram_byte=0.0,
                                   pj_per_weight_byte=0.0)
    assert device_costs(graph, no_power).latency_ms == before
    assert device_costs(graph, no_power).energy_uj == \
        pytest.approx((STATIC + ACTIVE) * before)
    assert num(device_costs(graph, base).energy_uj) > (STATIC + ACTIVE) * before


def test_energy_grows_with_macs_for_one_layer_kind() -> None:
    energies, macs = [], []
    for width in (2, 4, 8, 16, 32):
        graph = ArchGraph((1, 8, 16, 16), [conv("c", channels=width, bias=False)])
        got = device_costs(graph, profile(), layers=True)
        energies.append(num(got.energy_uj))
        macs.append(got.layers[0].macs)
        assert got.layers[0].kind == "conv"
    assert macs == sorted(macs) and len(set(macs)) == len(macs)
    assert all(a < b for a, b in pairwise(energies)), energies


def test_a_network_of_no_macs_still_costs_static_energy() -> None:
    graph = ArchGraph((1, 4, 8, 8), [("r", "relu", ("input",), {}),
                                     ("a", "add", ("r", "input"), {}),
                                     ("i", "identity", ("a",), {})])
    p = profile(static_mw=5.0, active_mw=0.0, pj_per_mac=0.0, pj_per_sram_byte=0.0,
                pj_per_weight_byte=0.0, invoke_overhead_cycles=0.0)
    got = device_costs(graph, p, layers=True)
    assert CostModel("fp32", device=p).costs(graph).macs == 0
    assert sum(r.macs for r in got.layers) == 0
    # two layers, each at least its overhead: relu 256 elements, add 256
    cycles = 2 * LAYER_OVERHEAD + (256 + 512 * 4 / SRAM_BPC) + (256 + 768 * 4 / SRAM_BPC)
    assert got.latency_ms == pytest.approx(cycles / CLOCK * 1000.0)
    assert num(got.energy_uj) > 0
    assert got.energy_uj == pytest.approx(5.0 * got.latency_ms)
    assert got.peak_power_mw == pytest.approx(5.0)


def test_peak_power_is_the_largest_layer_power() -> None:
    graph = small_graph()
    got = device_costs(graph, profile(), layers=True)
    powers = {r.name: r.power_mw for r in got.layers if r.power_mw is not None}
    assert len(set(powers.values())) == len(powers) == 3  # conv, pool and fc differ
    assert got.peak_power_mw == max(powers.values())
    assert got.peak_power_layer == max(powers, key=powers.__getitem__)
    assert num(got.peak_power_mw) > num(got.avg_power_mw) > STATIC + ACTIVE
    # without per-byte or per-MAC energy every layer draws the same static + active power
    flat = device_costs(graph, profile(pj_per_mac=0.0, pj_per_sram_byte=0.0,
                                       pj_per_weight_byte=0.0))
    assert flat.peak_power_mw == pytest.approx(STATIC + ACTIVE)
    assert flat.avg_power_mw == pytest.approx(STATIC + ACTIVE)


def test_a_profile_without_power_gives_latency_only() -> None:
    p = ComputeProfile.from_tables("quiet", "fp32", profile().to_dict()["compute"], None)
    got = device_costs(small_graph(), p, layers=True)
    assert got.latency_ms == pytest.approx(device_costs(small_graph(), profile()).latency_ms)
    assert (got.energy_uj, got.avg_power_mw, got.peak_power_mw) == (None, None, None)
    assert all(r.energy_uj is None and r.power_mw is None for r in got.layers)
    assert set(got.costs()) == {"latency_ms"}
    assert not p.has_energy and p.has_latency


def test_dtype_mismatch_names_both_dtypes() -> None:
    with pytest.raises(DeviceModelError) as err:
        device_costs(small_graph(), profile(), "int8")
    message = str(err.value)
    assert "fp32" in message and "int8" in message and "bench" in message
    assert "\n" not in message
    with pytest.raises(DeviceModelError, match="int8"):
        CostModel("int8", device=profile())


def test_require_names_the_profile_the_key_and_what_needs_it() -> None:
    partial = ComputeProfile.from_tables("halfboard", "int8", {
        "clock_hz": 1e6, "cycles_per_mac": {"conv": 1.0, "pointwise": 1.0, "linear": 1.0},
        "cycles_per_element": {"pool": 1.0, "elementwise": 1.0}}, None)
    assert partial.missing() == ["compute.cycles_per_mac.depthwise"]
    with pytest.raises(DeviceModelError) as err:
        partial.require("--max-latency-ms")
    message = str(err.value)
    assert "halfboard" in message and "compute.cycles_per_mac.depthwise" in message
    assert "--max-latency-ms" in message and "\n" not in message
    graph = ArchGraph((1, 3, 8, 8), [conv("c")])
    with pytest.raises(DeviceModelError, match=r"cycles_per_mac\.depthwise"):
        device_costs(graph, partial)
    full = ComputeProfile.from_tables("nopower", "fp32", profile().to_dict()["compute"], {})
    with pytest.raises(DeviceModelError) as err:
        full.require("--max-energy-uj", energy=True)
    message = str(err.value)
    assert "nopower" in message and "power.static_mw" in message and "1 more" in message
    assert "--max-energy-uj" in message and "\n" not in message
    full.require("--max-latency-ms")  # latency it has
    empty = ComputeProfile(name="bare", dtype="fp32")
    with pytest.raises(DeviceModelError, match=r"bare has no compute\.clock_hz \(and 6 more\)"):
        empty.require("a latency estimate")


@pytest.mark.parametrize(("compute", "power", "key"), [
    ({"cycles_per_mac": {"conv": -1.0}}, {}, "compute.cycles_per_mac.conv"),
    ({"cycles_per_mac": {"conv": "fast"}}, {}, "compute.cycles_per_mac.conv"),
    ({"cycles_per_mac": {"conv": True}}, {}, "compute.cycles_per_mac.conv"),
    ({"cycles_per_mac": {"winograd": 1.0}}, {}, "compute.cycles_per_mac.winograd"),
    ({"cycles_per_mac": 2.0}, {}, "compute.cycles_per_mac"),
    ({"cycles_per_element": {"pool": float("nan")}}, {}, "compute.cycles_per_element.pool"),
    ({"bytes_per_cycle": {"sram": 0}}, {}, "compute.bytes_per_cycle.sram"),
    ({"layer_overhead_cycles": -5}, {}, "compute.layer_overhead_cycles"),
    ({"invoke_overhead_cycles": "many"}, {}, "compute.invoke_overhead_cycles"),
    ({"clock_hz": 0}, {}, "compute.clock_hz"),
    ({"clock_hz": -216e6}, {}, "compute.clock_hz"),
    ({"clock_hz": "216MHz"}, {}, "compute.clock_hz"),
    ({"clock_hz": True}, {}, "compute.clock_hz"),
    ({"combine": "min"}, {}, "compute.combine"),
    ({"weights_in": "eeprom"}, {}, "compute.weights_in"),
    ({"measurable": "yes"}, {}, "compute.measurable"),
    ({"fuse": "relu"}, {}, "compute.fuse"),
    ({"colour": "blue"}, {}, "compute.colour"),
    ({"dtype": "fp16"}, {}, "compute.dtype"),
    ({}, {"static_mw": -1.0}, "power.static_mw"),
    ({}, {"active_mw": "high"}, "power.active_mw"),
    ({}, {"pj_per_mac": False}, "power.pj_per_mac"),
    ({}, {"volts": 3.3}, "power.volts"),
])
def test_from_tables_rejects_bad_tables_in_one_line(compute: dict[str, Any],
                                                    power: dict[str, Any], key: str) -> None:
    with pytest.raises(DeviceModelError) as err:
        ComputeProfile.from_tables("badboard", "fp32", compute, power)
    message = str(err.value)
    assert key in message and "badboard" in message and "\n" not in message, message


def test_to_dict_from_dict_round_trip() -> None:
    for p in (profile(), profile("max", fuse=["relu"], weights_in="ram", measurable=True),
              ComputeProfile.from_tables("bare", "int8", {"clock_hz": 5e7}, None)):
        data = json.loads(json.dumps(p.to_dict()))
        again = ComputeProfile.from_dict(data)
        assert again == p and again.to_dict() == p.to_dict()
        if p.has_latency:
            graph = random_graph(3, 12)
            assert device_costs(graph, again) == device_costs(graph, p)
    with pytest.raises(DeviceModelError, match="lacks"):
        ComputeProfile.from_dict({"dtype": "fp32"})


def test_cost_model_with_a_device_adds_its_costs_and_they_round_trip() -> None:
    p = profile()
    graph = random_graph(4, 14)
    model = CostModel("fp32", device=p)
    assert model.latency == "model" and model.models_latency
    costs = model.costs(graph)
    on = device_costs(graph, p)
    assert costs.latency_ms == on.latency_ms and costs.energy_uj == on.energy_uj
    assert costs.avg_power_mw == on.avg_power_mw and costs.peak_power_mw == on.peak_power_mw
    assert (costs.device, costs.latency_source) == ("bench", "model")
    assert {"latency_ms", "energy_uj", "avg_power_mw", "peak_power_mw"} <= set(costs)
    assert costs["energy_uj"] == on.energy_uj
    again = Costs.from_dict(json.loads(json.dumps(costs.to_dict())))
    assert again == costs and dict(again) == dict(costs)
    assert (again.device, again.latency_source) == ("bench", "model")
    # the device travels in the model's configuration (as stored with a run)
    rebuilt = CostModel.from_config(json.loads(json.dumps(model.get_config())))
    assert rebuilt.get_config() == model.get_config() and rebuilt.costs(graph) == costs
    # a measurable device measures latency by default; its energy is still modelled
    host = profile(measurable=True)
    measured = CostModel("fp32", device=host)
    assert measured.latency == "measure"
    local = measured.costs(graph)
    assert local.latency_ms is None and local.energy_uj == on.energy_uj
    # without a device nothing device-related appears
    plain = CostModel("fp32").costs(graph)
    assert "energy_uj" not in plain and plain.device is None


def test_cost_model_latency_sources_are_checked_in_one_line() -> None:
    with pytest.raises(CostModelError) as err:
        CostModel("fp32", device=profile(), latency="measure")
    assert "bench" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CostModelError) as err:
        CostModel("fp32", latency="model")
    assert "device" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CostModelError, match="unknown latency source 'guess'"):
        CostModel("fp32", device=profile(), latency="guess")
    bare = ComputeProfile(name="bare", dtype="fp32")
    with pytest.raises(DeviceModelError, match=r"bare has no compute\.clock_hz"):
        CostModel("fp32", device=bare, latency="model")
