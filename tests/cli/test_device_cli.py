"""``fitnas estimate --device`` and ``fitnas calibrate`` from the command line, and the energy
and power limit flags."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fitnas.cli import main
from fitnas.constraints import LimitError, Limits
from fitnas.constraints.limits import parse_microjoules, parse_milliwatts
from fitnas.costs.device import ComputeProfile, device_costs
from fitnas.devices import load_device
from fitnas.modelspec import load_graph

ROOT = Path(__file__).resolve().parents[2]
NETWORKS = ROOT / "benchmarks" / "devices" / "published_networks.py"
PLUMERAI = ROOT / "benchmarks" / "devices" / "measurements" / "stm32f746-disco_plumerai-v1.0.csv"
DS_CNN = f"{NETWORKS}:ds_cnn"
RECIPE = ["--only", "conv,pointwise,depthwise,linear,invoke_overhead_cycles",
          "--tie", "pointwise,depthwise"]

def compute_of(name: str) -> ComputeProfile:
    """The [compute] model of a device profile (every shipped one has one)."""
    compute = load_device(name).compute
    assert compute is not None, name
    return compute



def estimate_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["estimate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2, argv
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


def test_estimate_on_a_device_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = estimate_json(capsys, DS_CNN, "--device", "stm32f746-disco")
    graph = load_graph(DS_CNN).graph
    expected = device_costs(graph, compute_of("stm32f746-disco"))
    assert data["device"] == "stm32f746-disco" and data["dtype"] == "int8"
    assert data["macs"] == 2_656_768
    for key in ("latency_ms", "energy_uj", "avg_power_mw", "peak_power_mw"):
        assert data[key] == pytest.approx(getattr(expected, key)), key
        assert data[key] > 0
    assert data["peak_power_layer"] == expected.peak_power_layer
    # MLPerf Tiny v1.0 measured 19.12 ms for this network on this board
    assert data["latency_ms"] == pytest.approx(19.12, rel=0.05)
    assert "layers" not in data
    # without --device: none of it
    plain = estimate_json(capsys, DS_CNN)
    assert not {"device", "latency_ms", "energy_uj", "layers"} & set(plain)
    assert plain["dtype"] == "fp32"


@pytest.mark.parametrize("device", ["stm32f746-disco", "nano33-ble-sense"])
def test_estimate_layers_sum_to_the_latency(capsys: pytest.CaptureFixture[str],
                                            device: str) -> None:
    data = estimate_json(capsys, DS_CNN, "--device", device, "--layers")
    compute = compute_of(device)
    assert compute.clock_hz is not None
    invoke_ms = compute.invoke_overhead_cycles / compute.clock_hz * 1000.0
    layers = data["layers"]
    graph = load_graph(DS_CNN).graph
    assert [row["name"] for row in layers] == list(graph.order)
    assert invoke_ms + sum(row["latency_ms"] for row in layers) == \
        pytest.approx(data["latency_ms"], rel=1e-9)
    assert compute.static_mw is not None and compute.active_mw is not None
    watts = compute.static_mw + compute.active_mw
    assert watts * invoke_ms + sum(row["energy_uj"] for row in layers) == \
        pytest.approx(data["energy_uj"], rel=1e-9)
    assert sum(row["macs"] for row in layers) == data["macs"]
    kinds = {row["kind"] for row in layers if not row["fused_into"]}
    assert {"conv", "depthwise", "pointwise", "linear", "pool"} <= kinds
    fused = [row for row in layers if row["fused_into"]]
    assert fused and all(row["op"] in ("batchnorm", "relu") for row in fused)
    assert all(row["latency_ms"] == 0.0 for row in fused)
    if device == "nano33-ble-sense":
        assert invoke_ms > 0


def test_estimate_human_tables(capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["estimate", DS_CNN, "--device", "stm32f746-disco"]) == 0
    out = capsys.readouterr().out
    assert "on stm32f746-disco (int8" in out and "latency" in out and " ms" in out
    assert "energy per inference" in out and " uJ" in out
    assert "average power" in out and "peak power" in out and " mW" in out
    assert "per layer" not in out
    assert main(["estimate", DS_CNN, "--device", "stm32f746-disco", "--layers"]) == 0
    out = capsys.readouterr().out
    assert "per layer" in out and "fused into" in out and "depthwise" in out


def test_layers_without_a_device_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    message = one_line_error(capsys, ["estimate", DS_CNN, "--layers"])
    assert "--layers needs --device" in message
    message = one_line_error(capsys, ["estimate", DS_CNN, "--device", "stm32f9"])
    assert "'stm32f9'" in message
    message = one_line_error(capsys, ["estimate", DS_CNN, "--device", "stm32f746-disco",
                                      "--dtype", "fp32"])
    assert "int8" in message and "fp32" in message


def test_a_device_without_a_model_is_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "memonly.toml"
    path.write_text('description = "x"\ndtype = "int8"\n[memory]\nsram_bytes = 100_000\n')
    message = one_line_error(capsys, ["estimate", DS_CNN, "--device", str(path)])
    assert "memonly" in message and "[compute]" in message


def test_a_device_without_power_figures(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    data = estimate_json(capsys, DS_CNN, "--device", "rpi-pico")
    assert data["latency_ms"] > 0 and data["device"] == "rpi-pico"
    assert data["energy_uj"] is None and data["avg_power_mw"] is None
    assert data["peak_power_mw"] is None and data["peak_power_layer"] is None
    assert main(["estimate", DS_CNN, "--device", "rpi-pico"]) == 0
    out = capsys.readouterr().out
    assert "energy, power" in out and "no [power] figures" in out
    assert "energy per inference" not in out


def test_calibrate_writes_a_profile_estimate_accepts(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    out = tmp_path / "x.toml"
    argv = ["calibrate", "--device", "stm32f746-disco", "--measurements", str(PLUMERAI),
            *RECIPE, "--out", str(out)]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["out"] == str(out) and result["rows"] == 4
    assert set(result["fitted"]) == {"cycles_per_mac.conv", "cycles_per_mac.pointwise",
                                     "cycles_per_mac.depthwise", "cycles_per_mac.linear",
                                     "invoke_overhead_cycles"}
    assert result["profile"]["compute"]["cycles_per_mac"]["conv"] == pytest.approx(0.9029,
                                                                                   rel=2e-3)
    assert result["median_relative_error"] < 0.05
    device = load_device(str(out))
    assert device.name == "x" and device.limits == load_device("stm32f746-disco").limits
    assert device.compute is not None and device.compute.has_energy
    data = estimate_json(capsys, DS_CNN, "--device", str(out))
    shipped = estimate_json(capsys, DS_CNN, "--device", "stm32f746-disco")
    assert data["device"] == "x"
    assert data["latency_ms"] == pytest.approx(shipped["latency_ms"], rel=2e-3)
    assert data["energy_uj"] == pytest.approx(shipped["energy_uj"], rel=2e-3)
    # again without --force: refused, the file untouched
    before = (out.read_bytes(), os.stat(out).st_mtime_ns)
    message = one_line_error(capsys, argv)
    assert str(out) in message and "--force" in message
    assert (out.read_bytes(), os.stat(out).st_mtime_ns) == before
    # with --force it is written again (the human summary this time)
    assert main([*argv, "--force"]) == 0
    printed = capsys.readouterr().out
    assert "fitted stm32f746-disco" in printed and f"--device {out}" in printed
    assert compute_of(str(out)) == device.compute


def test_calibrate_errors_are_one_line(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "y.toml"
    message = one_line_error(capsys, ["calibrate", "--device", "stm32f746-disco",
                                      "--out", str(out)])
    assert "stm32f746-disco is not this machine" in message and "--measurements" in message
    message = one_line_error(capsys, ["calibrate", "--device", "stm32f746-disco",
                                      "--measurements", str(PLUMERAI), "--only", "conv,winograd",
                                      "--out", str(out)])
    assert "'winograd'" in message
    message = one_line_error(capsys, ["calibrate", "--device", "stm32f746-disco",
                                      "--measurements", str(PLUMERAI), "--tie", "conv,turbo",
                                      "--out", str(out)])
    assert "'turbo'" in message
    message = one_line_error(capsys, ["calibrate", "--device", "stm32f746-disco",
                                      "--measurements", str(PLUMERAI), "--out",
                                      str(tmp_path / "y.txt")])
    assert ".toml" in message
    message = one_line_error(capsys, ["calibrate", "--device", "stm32f746-disco",
                                      "--measurements", str(tmp_path / "none.csv"),
                                      "--out", str(out)])
    assert "none.csv" in message
    bad = tmp_path / "bad.csv"
    bad.write_text("op,input,attrs,time_us\nrelu,1x4x8x8,,fast\n")
    message = one_line_error(capsys, ["calibrate", "--device", "stm32f746-disco",
                                      "--measurements", str(bad), "--out", str(out)])
    assert f"{bad}:2" in message and "'fast'" in message
    message = one_line_error(capsys, ["calibrate", "--device", "stm32f746-disco",
                                      "--measurements", str(PLUMERAI), "--clock-hz", "0",
                                      "--out", str(out)])
    assert "--clock-hz" in message
    # a base profile without a clock needs --clock-hz (the unit of the cycles)
    memonly = tmp_path / "memonly.toml"
    memonly.write_text('description = "x"\ndtype = "int8"\n[memory]\nsram_bytes = 100_000\n')
    message = one_line_error(capsys, ["calibrate", "--device", str(memonly), "--measurements",
                                      str(PLUMERAI), "--out", str(out)])
    assert "memonly has no compute.clock_hz" in message and "--clock-hz" in message
    assert not out.exists()
    assert main(["calibrate", "--device", str(memonly), "--measurements", str(PLUMERAI),
                 "--clock-hz", "216e6", "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    fitted = compute_of(str(out))
    assert fitted is not None and fitted.clock_hz == 216e6 and fitted.has_latency


@pytest.mark.parametrize(("text", "microjoules"), [
    ("500", 500.0), ("500uJ", 500.0), ("2.5 uj", 2.5), ("2mJ", 2000.0), ("0.01J", 1e4),
    ("1j", 1e6), (750, 750.0),
])
def test_energy_limits_parse(text: str | int, microjoules: float) -> None:
    assert parse_microjoules(text) == pytest.approx(microjoules)
    assert Limits(max_energy_uj=text).max_energy_uj == pytest.approx(microjoules)


@pytest.mark.parametrize(("text", "milliwatts"), [
    ("150", 150.0), ("150mW", 150.0), ("0.5W", 500.0), ("2 w", 2000.0), (80.5, 80.5),
])
def test_power_limits_parse(text: str | float, milliwatts: float) -> None:
    assert parse_milliwatts(text) == pytest.approx(milliwatts)
    assert Limits(max_power_mw=text).max_power_mw == pytest.approx(milliwatts)


@pytest.mark.parametrize("text", ["0", "-5", "abc", "0uJ", "5kJ", "5mW", "", True])
def test_bad_energy_limits_are_one_line(text: str | bool) -> None:
    with pytest.raises(LimitError) as err:
        parse_microjoules(text, "--max-energy-uj")
    message = str(err.value)
    assert "--max-energy-uj" in message and repr(text) in message and "\n" not in message


@pytest.mark.parametrize("text", ["0", "-5", "abc", "0W", "5uJ", "1kW", False])
def test_bad_power_limits_are_one_line(text: str | bool) -> None:
    with pytest.raises(LimitError) as err:
        parse_milliwatts(text, "--max-power-mw")
    message = str(err.value)
    assert "--max-power-mw" in message and repr(text) in message and "\n" not in message


@pytest.mark.parametrize(("flag", "value"), [("--max-energy-uj", "abc"), ("--max-energy-uj", "0"),
                                             ("--max-energy-uj", "-3mJ"),
                                             ("--max-power-mw", "abc"),
                                             ("--max-power-mw", "0"), ("--max-power-mw", "-1W")])
def test_bad_limit_flags_exit_2_before_any_folder(tmp_path: Path, flag: str, value: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    message = one_line_error(capsys, ["search", "--device", "stm32f746-disco", f"{flag}={value}",
                                      "--budget", "1", "--out", str(out)])
    assert flag in message and repr(value) in message
    assert not out.exists()
