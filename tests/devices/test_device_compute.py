"""The [compute] and [power] tables of device profiles: complete and commented in every shipped
profile, read from a user's file, malformed ones refused in one line, an energy limit on a
profile without power figures refused, and ``fitnas devices`` showing them."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import pytest

from fitnas.arch.random_graph import random_graph
from fitnas.cli import main
from fitnas.costs.device import LAYER_KINDS, ComputeProfile, device_costs
from fitnas.devices import DeviceError, list_devices, load_device
from tests.profile_comments import compute_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

PROFILES = resources.files("fitnas.devices").joinpath("profiles")
ROOT = Path(__file__).resolve().parents[2]

def compute_of(name: str) -> ComputeProfile:
    """The [compute] model of a device profile (every shipped one has one)."""
    compute = load_device(name).compute
    assert compute is not None, name
    return compute



def test_every_shipped_profile_has_a_complete_latency_model() -> None:
    for name in list_devices():
        device = load_device(name)
        compute = device.compute
        assert compute is not None, name
        assert compute.has_latency and compute.missing() == [], name
        assert compute.dtype == device.limits.dtype and compute.name == name
        assert compute.clock_hz and compute.clock_hz > 0 and compute.core, name
        assert set(compute.cycles_per_mac) | set(compute.cycles_per_element) == set(LAYER_KINDS)
        assert compute.describe() and str(int(compute.clock_hz / 1e6)) in compute.describe()[0]
        assert "compute" in device.sources, name


@pytest.mark.parametrize("name", list_devices())
def test_every_compute_and_power_key_has_a_comment_directly_above(name: str) -> None:
    text = PROFILES.joinpath(f"{name}.toml").read_text()
    data = tomllib.loads(text)
    checked_keys, uncommented = compute_keys(text)
    assert not uncommented, f"{name}: {uncommented} have no comment line directly above"
    checked = set(checked_keys)
    # every key the TOML holds was seen (none hidden in an inline table or a dotted key)
    expected = set()
    for table_name in ("compute", "power"):
        for key, value in data.get(table_name, {}).items():
            if isinstance(value, dict):
                expected |= {f"{table_name}.{key}.{sub}" for sub in value}
            else:
                expected.add(f"{table_name}.{key}")
    assert expected == checked, name
    assert any(key.startswith("compute.cycles_per_mac.") for key in checked)


def test_only_the_host_is_measurable() -> None:
    measurable = {name for name in list_devices() if compute_of(name).measurable}
    assert measurable == {"host"}


def test_profiles_with_power_figures_give_energy() -> None:
    graph = random_graph(2, 14, input_shape=(1, 3, 16, 16))
    with_power = []
    for name in list_devices():
        compute = compute_of(name)
        got = device_costs(graph, compute, compute.dtype)
        assert got.latency_ms > 0, name
        if compute.has_energy:
            with_power.append(name)
            assert got.energy_uj is not None and got.energy_uj > 0, name
            peak, avg = got.peak_power_mw, got.avg_power_mw
            assert peak is not None and avg is not None and avg > 0, name
            assert peak == pytest.approx(avg) or peak > avg, name
        else:
            assert got.energy_uj is None and got.peak_power_mw is None, name
    assert "stm32f746-disco" in with_power and "rpi-pico" not in with_power
    assert len(with_power) >= 4


def test_an_energy_limit_on_a_profile_without_power_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert not compute_of("rpi-pico").has_energy
    for flag, value in (("--max-energy-uj", "500uJ"), ("--max-power-mw", "100mW")):
        out = tmp_path / f"run{flag}"
        assert main(["search", "--device", "rpi-pico", flag, value, "--budget", "1",
                     "--out", str(out)]) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, captured.err
        assert "rpi-pico" in lines[0] and "power.static_mw" in lines[0] and flag in lines[0]
        assert not out.exists()
    # without a device at all the limit needs one
    out = tmp_path / "none"
    assert main(["search", "--device", "none", "--max-energy-uj", "1mJ", "--budget", "1",
                 "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--max-energy-uj needs a device model" in lines[0]
    assert not out.exists()


USER_PROFILE = """\
description = "my board"
dtype = "int8"
[memory]
# datasheet: 128 KB of SRAM
sram_bytes = 131_072
[compute]
core = "Cortex-M4"
clock_hz = 80_000_000
combine = "max"
layer_overhead_cycles = 200
invoke_overhead_cycles = 1_000
[compute.cycles_per_mac]
conv = 2.0
depthwise = 4.0
pointwise = 1.5
linear = 3.0
[compute.cycles_per_element]
pool = 1.0
elementwise = 2.0
[compute.bytes_per_cycle]
sram = 4.0
weights = 2.0
[power]
static_mw = 1.5
active_mw = 30.0
"""


def test_a_user_profile_with_a_compute_table_loads(tmp_path: Path) -> None:
    path = tmp_path / "myboard.toml"
    path.write_text(USER_PROFILE)
    device = load_device(str(path))
    compute = device.compute
    assert compute is not None and compute.name == "myboard" and compute.dtype == "int8"
    assert (compute.clock_hz, compute.combine, compute.layer_overhead_cycles) == (80e6, "max", 200)
    assert dict(compute.cycles_per_mac) == {"conv": 2.0, "depthwise": 4.0, "pointwise": 1.5,
                                            "linear": 3.0}
    assert dict(compute.bytes_per_cycle) == {"sram": 4.0, "weights": 2.0}
    assert compute.has_energy and (compute.static_mw, compute.active_mw) == (1.5, 30.0)
    assert device.to_dict()["compute"] == compute.to_dict()
    got = device_costs(random_graph(1, 12, input_shape=(1, 3, 16, 16)), compute)
    assert got.latency_ms > 0 and got.energy_uj is not None and got.energy_uj > 0
    # a profile with memory only has no model
    plain = tmp_path / "plain.toml"
    plain.write_text('description = "x"\n[memory]\nsram_bytes = 1000\n')
    assert load_device(str(plain)).compute is None


@pytest.mark.parametrize(("body", "key"), [
    ("[compute]\nclock_hz = 1e6\n[compute.cycles_per_mac]\nconv = -1.0\n",
     "compute.cycles_per_mac.conv"),
    ("[compute]\nclock_hz = 1e6\n[compute.cycles_per_mac]\nconv = \"fast\"\n",
     "compute.cycles_per_mac.conv"),
    ("[compute]\nclock_hz = 1e6\nturbo = true\n", "compute.turbo"),
    ("[compute]\nclock_hz = 0\n", "compute.clock_hz"),
    ("[compute]\ncombine = \"mean\"\n", "compute.combine"),
    ("[compute.cycles_per_element]\nsoftmax = 3.0\n", "compute.cycles_per_element.softmax"),
    ("[power]\nactive_mw = -3\n", "power.active_mw"),
    ("[power]\nvolts = 3.3\n", "power.volts"),
    ("compute = 5\n", "compute must be a table"),
])
def test_malformed_compute_tables_are_one_line(tmp_path: Path, body: str, key: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('description = "x"\ndtype = "int8"\n' + body)
    with pytest.raises(DeviceError) as err:
        load_device(str(path))
    message = str(err.value)
    assert key in message and str(path) in message and "\n" not in message, message


def test_cli_devices_shows_the_compute_model(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per device
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "latency model's core and clock" in out
    assert "Arm Cortex-M7 216 MHz +E" in out  # stm32f746-disco, with power figures
    assert "Arm Cortex-M0+ 133 MHz" in out  # rpi-pico, without power figures
    assert "Arm Cortex-M0+ 133 MHz +E" not in out
    assert main(["devices", "--json"]) == 0
    data = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(data) == set(list_devices())
    for name, entry in data.items():
        assert entry["compute"] == compute_of(name).to_dict(), name
    stm = data["stm32f746-disco"]["compute"]
    assert stm["compute"]["clock_hz"] == 216e6 and stm["power"]["active_mw"] == 122.6
    assert stm["compute"]["cycles_per_mac"]["conv"] == 0.9029
    assert "static_mw" not in data["rpi-pico"]["compute"]["power"]
    assert main(["devices", "--sources"]) == 0
    assert "MLPerf Tiny" in capsys.readouterr().out
