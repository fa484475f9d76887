"""Calibration (``fitnas.costs.calibrate``): the fit recovers a known profile exactly, ``only``
and ``tie`` keep what they should, measurements CSVs are read with one-line errors, the profile
written reads back, the shipped profiles are reproduced from their measurements, and (slow) a
profile fitted on this host ranks the search spaces' networks as onnxruntime does."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from fitnas.arch import ArchGraph
from fitnas.arch.random_graph import random_graph
from fitnas.costs.calibrate import (
    GROUPS,
    CalibrationError,
    Measurement,
    expand,
    fit,
    host_benchmarks,
    profile_toml,
    read_measurements,
)
from fitnas.costs.device import FEATURES, ComputeProfile, DeviceModelError, device_costs
from fitnas.devices import load_device
from fitnas.devices.registry import parse_device
from tests.profile_comments import compute_keys

ROOT = Path(__file__).resolve().parents[2]
MEASUREMENTS = ROOT / "benchmarks" / "devices" / "measurements"

TRUTH_COMPUTE: dict[str, Any] = {
    "core": "known core", "clock_hz": 1e8, "combine": "sum",
    "cycles_per_mac": {"conv": 0.8, "depthwise": 3.0, "pointwise": 1.2, "linear": 2.0},
    "cycles_per_element": {"pool": 0.7, "elementwise": 1.5},
    "bytes_per_cycle": {"sram": 4.0, "weights": 2.0},
    "layer_overhead_cycles": 300.0, "invoke_overhead_cycles": 5000.0,
}
POWER = {"static_mw": 1.0, "active_mw": 20.0}

def compute_of(name: str) -> ComputeProfile:
    """The [compute] model of a device profile (every shipped one has one)."""
    compute = load_device(name).compute
    assert compute is not None, name
    return compute



def known(**changes: Any) -> ComputeProfile:
    return ComputeProfile.from_tables("known", "fp32", {**TRUTH_COMPUTE, **changes}, POWER)


def coefficients(p: ComputeProfile) -> dict[str, float]:
    """Every coefficient of the 'sum' form by its FEATURES name (bytes as cycles per byte)."""
    out = {f"cycles_per_mac.{k}": v for k, v in p.cycles_per_mac.items()}
    out.update({f"cycles_per_element.{k}": v for k, v in p.cycles_per_element.items()})
    out["sram_bytes"] = 1 / p.bytes_per_cycle["sram"] if "sram" in p.bytes_per_cycle else 0.0
    out["weight_bytes"] = 1 / p.bytes_per_cycle["weights"] if "weights" in p.bytes_per_cycle \
        else 0.0
    out["layer_overhead_cycles"] = p.layer_overhead_cycles
    out["invoke_overhead_cycles"] = p.invoke_overhead_cycles
    return out


def composed() -> list[tuple[str, ArchGraph]]:
    """Networks with fused batch norms and activations, branches and pools."""
    cbr = ArchGraph((1, 3, 16, 16), [
        ("c1", "conv2d", ("input",), {"out_channels": 8, "kernel": 3, "padding": 1}),
        ("b1", "batchnorm", ("c1",), {}), ("r1", "relu", ("b1",), {}),
        ("d1", "dwconv", ("r1",), {"kernel": 3, "padding": 1}),
        ("b2", "batchnorm", ("d1",), {}), ("r2", "relu6", ("b2",), {}),
        ("p1", "pwconv", ("r2",), {"out_channels": 16}),
        ("a", "add", ("p1", "p1"), {}),
        ("mp", "maxpool", ("a",), {"kernel": 2}),
        ("g", "global_avgpool", ("mp",), {}), ("f", "flatten", ("g",), {}),
        ("l", "linear", ("f",), {"out_features": 10}),
    ])
    return [("conv-bn-relu", cbr)] + [(f"random {s}", random_graph(s, 14)) for s in range(4)]


def measured(profile: ComputeProfile, graphs: list[tuple[str, ArchGraph]]) -> list[Measurement]:
    return [Measurement(label, g, device_costs(g, profile).latency_ms) for label, g in graphs]


# A dozen-odd varied graphs: every layer kind, single layers and stacks (which separate the
# per-layer overhead from the per-inference one), and composed networks with fusions.
GRAPHS = host_benchmarks()[::4] + [g for g in host_benchmarks() if g[0].endswith(("x2", "x4"))] \
    + composed()


def test_fit_recovers_a_known_profile_exactly() -> None:
    truth = known()
    base = known(combine="max", cycles_per_mac={k: 1.0 for k in TRUTH_COMPUTE["cycles_per_mac"]},
                 cycles_per_element={"pool": 1.0, "elementwise": 1.0},
                 bytes_per_cycle={"sram": 1.0, "weights": 1.0},
                 layer_overhead_cycles=1.0, invoke_overhead_cycles=1.0)
    assert 12 <= len(GRAPHS) <= 40
    result = fit(measured(truth, GRAPHS), base, "synthetic")
    assert result.fitted == FEATURES and result.kept == ()
    assert result.rows == len(GRAPHS) and result.source == "synthetic"
    assert result.max_relative_error < 1e-9
    got = coefficients(result.profile)
    for name, value in coefficients(truth).items():
        assert got[name] == pytest.approx(value, rel=1e-6), name
    assert result.profile.combine == "sum" and result.profile.clock_hz == 1e8
    # what was not fitted comes from the base: name, dtype, power, fusions
    assert (result.profile.name, result.profile.dtype, result.profile.active_mw) == \
        ("known", "fp32", 20.0)
    graph = random_graph(11, 16)
    assert device_costs(graph, result.profile).latency_ms == \
        pytest.approx(device_costs(graph, truth).latency_ms, rel=1e-9)


def test_measurements_at_another_clock_count_in_cycles() -> None:
    truth = known()
    rows = measured(truth, GRAPHS)
    # every other measurement was made on a sibling board at half the clock: twice the time
    rows = [Measurement(m.label, m.graph, 2 * m.time_ms, clock_hz=5e7) if i % 2 else m
            for i, m in enumerate(rows)]
    result = fit(rows, known(cycles_per_mac={"conv": 9.0, "depthwise": 9.0, "pointwise": 9.0,
                                             "linear": 9.0}), "")
    for name, value in coefficients(truth).items():
        assert coefficients(result.profile)[name] == pytest.approx(value, rel=1e-6), name
    # clock_hz replaces the base's clock: the same times are twice the cycles at twice the clock
    doubled = fit(measured(truth, GRAPHS), truth, "", clock_hz=2e8)
    assert doubled.profile.clock_hz == 2e8
    for name, value in coefficients(truth).items():
        assert coefficients(doubled.profile)[name] == pytest.approx(2 * value, rel=1e-6), name


def test_only_fits_those_and_keeps_the_rest_at_the_base() -> None:
    truth = known()
    base = known(cycles_per_mac={"conv": 5.0, "depthwise": 3.0, "pointwise": 1.2,
                                 "linear": 7.0})
    result = fit(measured(truth, GRAPHS), base, "", only=["conv", "linear"])
    assert result.fitted == ("cycles_per_mac.conv", "cycles_per_mac.linear")
    assert set(result.kept) == set(FEATURES) - set(result.fitted)
    assert result.profile.cycles_per_mac["conv"] == pytest.approx(0.8, rel=1e-6)
    assert result.profile.cycles_per_mac["linear"] == pytest.approx(2.0, rel=1e-6)
    got, kept = coefficients(result.profile), coefficients(base)
    for name in result.kept:
        assert got[name] == kept[name], name
    # a group name: every per-element coefficient, nothing else
    wrong = known(cycles_per_element={"pool": 9.0, "elementwise": 9.0})
    by_group = fit(measured(truth, GRAPHS), wrong, "", only=["elements"])
    assert by_group.fitted == GROUPS["elements"]
    assert dict(by_group.profile.cycles_per_element) == pytest.approx({"pool": 0.7,
                                                                       "elementwise": 1.5})
    assert dict(by_group.profile.cycles_per_mac) == dict(truth.cycles_per_mac)


def test_tie_keeps_the_base_ratio() -> None:
    truth = known()
    base = known(cycles_per_mac={"conv": 0.8, "depthwise": 10.0, "pointwise": 2.0,
                                 "linear": 2.0})
    result = fit(measured(truth, GRAPHS), base, "", only=["pointwise", "depthwise"],
                 tie=[["pointwise", "depthwise"]])
    per_mac = result.profile.cycles_per_mac
    assert per_mac["depthwise"] / per_mac["pointwise"] == pytest.approx(5.0, rel=1e-12)
    assert per_mac["pointwise"] != 2.0  # fitted, not kept
    assert set(result.fitted) == {"cycles_per_mac.pointwise", "cycles_per_mac.depthwise"}
    assert (per_mac["conv"], per_mac["linear"]) == (0.8, 2.0)
    # a group tied as one: every cycles per MAC in the base's ratios 1 : 2 : 3 : 4
    ratios = known(cycles_per_mac={"conv": 1.0, "depthwise": 2.0, "pointwise": 3.0,
                                   "linear": 4.0})
    tied = fit(measured(truth, GRAPHS), ratios, "", only=["macs"], tie=[["macs"]])
    values = tied.profile.cycles_per_mac
    scale = values["conv"]
    assert scale > 0
    assert [values[k] / scale for k in ("conv", "depthwise", "pointwise", "linear")] == \
        pytest.approx([1.0, 2.0, 3.0, 4.0], rel=1e-12)


def test_expand_names_and_groups() -> None:
    assert expand(["conv"]) == ["cycles_per_mac.conv"]
    assert expand(["pool", "invoke_overhead_cycles"]) == ["cycles_per_element.pool",
                                                          "invoke_overhead_cycles"]
    assert expand(["macs"]) == [f"cycles_per_mac.{k}" for k in
                                ("conv", "depthwise", "pointwise", "linear")]
    assert expand(["elements", "pool"]) == ["cycles_per_element.pool",
                                            "cycles_per_element.elementwise"]
    assert expand(["bytes"]) == ["sram_bytes", "weight_bytes"]
    assert expand(["overheads"]) == ["layer_overhead_cycles", "invoke_overhead_cycles"]
    assert expand(["cycles_per_mac.depthwise"]) == ["cycles_per_mac.depthwise"]
    with pytest.raises(CalibrationError) as err:
        expand(["conv", "winograd"])
    message = str(err.value)
    assert "'winograd'" in message and "macs" in message and "cycles_per_mac.conv" in message
    assert "\n" not in message


def test_fit_errors_are_one_line() -> None:
    truth = known()
    rows = measured(truth, GRAPHS)
    with pytest.raises(CalibrationError, match="at least 2 measurements, got 1"):
        fit(rows[:1], truth)
    no_clock = ComputeProfile(name="noclock", dtype="fp32")
    with pytest.raises(DeviceModelError, match=r"noclock has no compute\.clock_hz"):
        fit(rows, no_clock)
    linear_only = measured(truth, [g for g in host_benchmarks() if g[0].startswith("linear")])
    with pytest.raises(CalibrationError, match="no coefficient to fit"):
        fit(linear_only, truth, only=["depthwise"])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


NETS = """\
import torch.nn as nn


def tiny():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8 * 6 * 6, 4))
    net.input_shape = (1, 3, 8, 8)
    return net.eval()
"""


def test_read_measurements_layers_and_models(tmp_path: Path) -> None:
    write(tmp_path / "nets" / "nets.py", NETS)
    layers = write(tmp_path / "data" / "layers.csv",
                   "op,input,attrs,time_us,clock_hz,energy_uj,source\n"
                   'conv2d,1x16x32x32,"out_channels=32 kernel=3 padding=1 bias=false",'
                   "1500,216000000,12.5,board A\n"
                   'dwconv,1x8x16x16,"kernel=[3,3] padding=1",250,,,\n'
                   "add,1x16x8x8,,40,,,\n"
                   "global_avgpool,1x16x8x8,,20,,,\n")
    rows = read_measurements(layers)
    assert [m.time_ms for m in rows] == pytest.approx([1.5, 0.25, 0.04, 0.02])
    first = rows[0]
    assert (first.clock_hz, first.energy_uj, first.source) == (216e6, 12.5, "board A")
    assert rows[1].clock_hz is None and rows[1].energy_uj is None
    node = first.graph.nodes[0]
    assert (node.op, first.graph.input_shape) == ("conv2d", (1, 16, 32, 32))
    assert node.attrs["out_channels"] == 32 and node.attrs["kernel"] == (3, 3)
    assert node.attrs["bias"] is False and node.attrs["padding"] == (1, 1)
    assert rows[1].graph.nodes[0].attrs["kernel"] == (3, 3)
    assert len(rows[2].graph.nodes[0].inputs) == 2  # a binary op reads its input twice
    assert first.label.startswith("conv2d 1x16x32x32")
    # a model row: a factory file relative to the CSV's folder (not to the working directory)
    models = write(tmp_path / "data" / "models.csv",
                   "model,time_ms,clock_hz,energy_uj\n"
                   "../nets/nets.py:tiny,3.25,64000000,80\n")
    (row,) = read_measurements(models)
    assert (row.time_ms, row.clock_hz, row.energy_uj) == (3.25, 64e6, 80.0)
    assert row.label == "../nets/nets.py:tiny"
    assert [n.op for n in row.graph.nodes] == ["conv2d", "batchnorm", "relu", "flatten",
                                               "linear"]
    assert row.graph.input_shape == (1, 3, 8, 8)
    # the shipped measurements read as well (relative factories of published_networks.py)
    plumerai = read_measurements(MEASUREMENTS / "stm32f746-disco_plumerai-v1.0.csv")
    assert [m.graph.total_macs() for m in plumerai][:2] == [12_501_632, 2_656_768]


HEADER = "op,input,attrs,time_us,clock_hz,model\n"
GOOD = "relu,1x4x8x8,,10,,\n"


@pytest.mark.parametrize(("row", "value"), [
    ("relu,1xbig,,10,,", "'1xbig'"),
    ("relu,1x0x8,,10,,", "'1x0x8'"),
    ("relu,,,10,,", "bad input shape ''"),
    ("relu,1x4x8x8,,,,", "no time_ms or time_us"),
    ("relu,1x4x8x8,,-3,,", "'-3'"),
    ("relu,1x4x8x8,,0,,", "'0'"),
    ("relu,1x4x8x8,,abc,,", "'abc'"),
    ("conv2d,1x4x8x8,kernel3,10,,", "'kernel3'"),
    ("conv2d,1x4x8x8,=3,10,,", "'=3'"),
    ("conv9,1x4x8x8,,10,,", "conv9"),
    ("conv2d,1x4x8x8,kernel=3,10,,", "out_channels"),
    ("relu,1x4x8x8,,10,fast,", "bad clock_hz 'fast'"),
    ("relu,1x4x8x8,,10,-1,", "bad clock_hz '-1'"),
    (",,,10,,", "neither op nor model"),
    (",,,10,,missing.py:net", "missing.py"),
])
def test_each_bad_row_is_one_line_naming_file_line_and_value(tmp_path: Path, row: str,
                                                             value: str) -> None:
    # a good row and a blank line before it: the bad row is on line 4
    path = write(tmp_path / "bad.csv", HEADER + GOOD + "\n" + row + "\n" + GOOD)
    with pytest.raises(CalibrationError) as err:
        read_measurements(path)
    message = str(err.value)
    assert message.startswith(f"{path}:4: "), message
    assert value in message and "\n" not in message, message


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="cannot read measurements"):
        read_measurements(tmp_path / "nowhere.csv")
    empty = write(tmp_path / "empty.csv", HEADER)
    with pytest.raises(CalibrationError, match="no measurements"):
        read_measurements(empty)


def compute_keys_without_comment(text: str) -> list[str]:
    """Keys of [compute], its sub-tables and [power] with no comment line directly above."""
    return compute_keys(text)[1]


def stm32_fit() -> Any:
    device = load_device("stm32f746-disco")
    rows = read_measurements(MEASUREMENTS / "stm32f746-disco_plumerai-v1.0.csv")
    return device, fit(rows, compute_of("stm32f746-disco"), "plumerai.csv",
                       only=["conv", "pointwise", "depthwise", "linear",
                             "invoke_overhead_cycles"], tie=[["pointwise", "depthwise"]])


def test_profile_toml_reads_back_with_the_same_coefficients() -> None:
    device, result = stm32_fit()
    exact = fit(measured(known(), GRAPHS), known(), "synthetic")  # with bytes and overheads
    for fitted in (result, exact):
        text = profile_toml(fitted, device, "mine")
        back = parse_device(text, "mine", "mine.toml")
        assert back.compute is not None and back.compute.has_latency
        want, got = coefficients(fitted.profile), coefficients(back.compute)
        for name, value in want.items():
            assert got[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name
        p = fitted.profile
        assert back.compute.clock_hz == p.clock_hz and back.compute.combine == "sum"
        assert (back.compute.weights_in, back.compute.fuse, back.compute.measurable) == \
            (p.weights_in, p.fuse, p.measurable)
        assert (back.compute.static_mw, back.compute.active_mw) == (p.static_mw, p.active_mw)
        assert back.limits.active() == device.limits.active() and back.memory == device.memory
        assert back.limits.dtype == p.dtype
        assert compute_keys_without_comment(text) == []
        # each fitted coefficient says it was fitted, each kept one where it came from
        lines = text.splitlines()
        for kind in ("conv", "pool"):
            at = next(k for k, line in enumerate(lines) if line.startswith(f"{kind} ="))
            origin = lines[at - 1]
            if f"cycles_per_{'mac' if kind == 'conv' else 'element'}.{kind}" in fitted.fitted:
                assert "fitted by `fitnas calibrate`" in origin
            else:
                assert "not fitted" in origin and "stm32f746-disco" in origin
        assert "[compute.bytes_per_cycle]" in text or not p.bytes_per_cycle
    # the helper itself finds a coefficient without its comment
    assert compute_keys_without_comment("[compute]\n# ok\nclock_hz = 1\n[compute.cycles_per_mac]"
                                        "\nconv = 1\n[power]\n# x\nstatic_mw = 0\n") == \
        ["compute.cycles_per_mac.conv"]


def test_profile_toml_keeps_the_base_profiles_other_limits(tmp_path: Path) -> None:
    """A base with a [limits] table and a schedule: the calibrated profile limits the same."""
    base_file = write(tmp_path / "limited.toml", 'description = "mine"\ndtype = "int8"\n'
                      'schedule = "best"\n[memory]\n# datasheet\nsram_bytes = 100_000\n'
                      '[limits]\nmax_macs = "5M"\nmax_latency_ms = "12.5ms"\n')
    device = load_device(str(base_file))
    rows = read_measurements(MEASUREMENTS / "stm32f746-disco_plumerai-v1.0.csv")
    result = fit(rows, compute_of("stm32f746-disco"), "plumerai", only=["macs"])
    back = parse_device(profile_toml(result, device, "limited-cal"), "limited-cal")
    assert back.limits == device.limits
    assert (back.limits.max_macs, back.limits.max_latency_ms, back.limits.schedule) == \
        (5_000_000, 12.5, "best")


REFITS = {
    # device: (measurement files, --only, --tie)
    "stm32f746-disco": (["stm32f746-disco_plumerai-v1.0.csv"], "conv,pointwise,depthwise,linear,"
                        "invoke_overhead_cycles", [["pointwise", "depthwise"]]),
    "nano33-ble-sense": (["nucleo-l4r5zi_tflm-cmsis-nn.csv", "nrf52840-dk_tflm-hello-world.csv"],
                         "conv,pointwise,depthwise,linear,invoke_overhead_cycles",
                         [["pointwise", "depthwise"]]),
    "rpi-pico": (["nucleo-g0b1re_bosch-hale.csv", "rpi-pico_tflm-hello-world.csv"],
                 "conv,pointwise,depthwise,linear,invoke_overhead_cycles",
                 [["pointwise", "depthwise"]]),
    "esp32-s3-devkitc": (["esp32-s3_esp-nn-kernels.csv"], "macs,elements", []),
    "rpi-zero-2w": (["raspberry-pi-4_leip-fp32.csv"],
                    "conv,pointwise,depthwise,linear,invoke_overhead_cycles",
                    [["pointwise", "depthwise"]]),
}
SHIPPED = {
    "stm32f746-disco": ({"conv": 0.9029, "pointwise": 1.039, "depthwise": 6.328,
                         "linear": 1.876}, 0.0, 216e6),
    "nano33-ble-sense": ({"conv": 6.540, "pointwise": 5.638, "depthwise": 34.34,
                          "linear": 4.519}, 12010.0, 64e6),
    "rpi-pico": ({"conv": 7.568, "pointwise": 7.586, "depthwise": 46.20, "linear": 9.832},
                 19379.0, 133e6),
    "esp32-s3-devkitc": ({"conv": 6.347, "pointwise": 0.9706, "depthwise": 5.911,
                          "linear": 1.326, "pool": 1.574, "elementwise": 46.09}, 0.0, 240e6),
    "rpi-zero-2w": ({"conv": 0.1527, "pointwise": 0.3689, "depthwise": 2.247,
                     "linear": 0.9538, "pool": 0.0, "elementwise": 0.0}, 0.0, 1e9),
}


@pytest.mark.parametrize("name", sorted(REFITS))
def test_shipped_profiles_are_reproduced_from_their_measurements(name: str) -> None:
    files, only, tie = REFITS[name]
    device = load_device(name)
    base = device.compute
    assert base is not None
    values, invoke, clock = SHIPPED[name]
    shipped = {**base.cycles_per_mac, **base.cycles_per_element}
    for kind, value in values.items():  # the figures the recipe documents are those shipped
        assert shipped[kind] == value, kind
    assert base.invoke_overhead_cycles == invoke and base.clock_hz == clock
    rows = [m for f in files for m in read_measurements(MEASUREMENTS / f)]
    result = fit(rows, base, ", ".join(files), only=only.split(","), tie=tie)
    refit = {**result.profile.cycles_per_mac, **result.profile.cycles_per_element}
    for kind, value in shipped.items():
        assert refit[kind] == pytest.approx(value, rel=2e-3, abs=1e-9), (kind, refit[kind])
    assert result.profile.invoke_overhead_cycles == pytest.approx(invoke, rel=2e-3, abs=1.0)
    assert result.profile.layer_overhead_cycles == base.layer_overhead_cycles
    assert result.profile.clock_hz == clock
    if tie:  # the tie kept the base's ratio exactly
        assert refit["depthwise"] / refit["pointwise"] == \
            pytest.approx(shipped["depthwise"] / shipped["pointwise"], rel=1e-9)
    # the shipped profile explains its own measurements as well as the fit does
    for m in rows:
        cycles = m.time_ms * 1e-3 * (m.clock_hz or clock)
        modelled = device_costs(m.graph, base).latency_ms * 1e-3 * clock
        assert abs(modelled - cycles) / cycles <= result.max_relative_error + 0.01, m.label


def kendall_tau(xs: list[float], ys: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(xs, ys).statistic)


@pytest.mark.slow
def test_a_profile_fitted_on_this_host_ranks_networks_as_measured() -> None:
    """Kendall's tau between the fitted host model and onnxruntime over networks sampled from
    the chain, cells and nb201 spaces (12 each)."""
    from fitnas.cli.calibrate import host_clock_hz
    from fitnas.costs.calibrate import measure_host
    from fitnas.costs.latency import measure_latency_ms
    from fitnas.spaces import create_space

    base = compute_of("host")
    assert base is not None
    rows = measure_host(repeats=5)
    assert len(rows) == len(host_benchmarks()) and all(m.time_ms > 0 for m in rows)
    result = fit(rows, base, "this host", clock_hz=host_clock_hz() or base.clock_hz)
    host = result.profile
    assert host.has_latency and host.measurable
    spaces = {name: create_space(name, input_shape=(1, 3, 32, 32), classes=10)
              for name in ("chain", "cells")}
    spaces["nb201"] = create_space("nb201")
    modelled: dict[str, list[float]] = {}
    timed: dict[str, list[float]] = {}
    for name, space in spaces.items():
        rng = random.Random(7)
        for _ in range(12):
            graph = space.decode(space.sample(rng))
            modelled.setdefault(name, []).append(device_costs(graph, host).latency_ms)
            timed.setdefault(name, []).append(min(
                measure_latency_ms(graph, repeats=20, use_cache=False) for _ in range(2)))
    per_space = {name: round(kendall_tau(modelled[name], timed[name]), 3) for name in spaces}
    pooled = kendall_tau([x for name in spaces for x in modelled[name]],
                         [x for name in spaces for x in timed[name]])
    assert pooled >= 0.7, f"pooled tau {pooled:.3f}; per space {per_space}; fit: median " \
        f"error {result.median_relative_error:.1%}, largest {result.max_relative_error:.1%}"
