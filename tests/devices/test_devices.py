"""Device profiles: the shipped TOML files, their sources, limits and ``fitnas devices``."""

from __future__ import annotations

import json
import math
import re
import sys
from importlib import resources
from pathlib import Path

import pytest

from fitnas.cli import main
from fitnas.constraints import Constraints
from fitnas.devices import MEMORY_LIMITS, DeviceError, list_devices, load_device

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

PROFILES = resources.files("fitnas.devices").joinpath("profiles")
SOURCE_WORDS = re.compile(r"datasheet|product specification|product brief", re.IGNORECASE)


def test_shipped_profiles() -> None:
    names = list_devices()
    devices = [load_device(n) for n in names]
    mcus = [d for d in devices if d.limits.max_peak_mem and d.limits.max_param_mem]
    sbcs = [d for d in devices if d.limits.max_total_mem]
    assert len(mcus) >= 3 and len(sbcs) >= 1
    assert {"stm32f746-disco", "nano33-ble-sense", "rpi-pico", "rpi-zero-2w"} <= set(names)
    assert all(d.limits.dtype == "int8" for d in mcus)
    for d in devices:
        assert d.description and d.sources and d.path.endswith(f"{d.name}.toml")


@pytest.mark.parametrize("name", list_devices())
def test_each_figure_has_its_source_in_a_comment_and_limits_follow(name: str) -> None:
    text = PROFILES.joinpath(f"{name}.toml").read_text()
    data = tomllib.loads(text)
    lines = text.splitlines()
    for key in data.get("memory", {}):
        at = next(k for k, line in enumerate(lines) if line.startswith(f"{key} ="))
        comment = []
        k = at - 1
        while k >= 0 and lines[k].startswith("#"):
            comment.append(lines[k])
            k -= 1
        assert comment and SOURCE_WORDS.search(" ".join(comment)), f"{name}: {key} has no source"
        assert SOURCE_WORDS.search(data["sources"][key])
    for fraction in data.get("reserve", {}):
        at = next(k for k, line in enumerate(lines) if line.startswith(f"{fraction} ="))
        assert lines[at - 1].startswith("#"), f"{name}: reserve.{fraction} is not explained"
    device = load_device(name)
    for key, value in data.get("memory", {}).items():
        kept = 1.0 - data["reserve"][key.removesuffix("_bytes")]
        assert getattr(device.limits, MEMORY_LIMITS[key]) == math.floor(value * kept)


def test_stm32_figures() -> None:
    d = load_device("stm32f746-disco")
    assert d.memory == {"sram_bytes": 320 * 1024, "flash_bytes": 1024 * 1024}
    assert d.limits.max_peak_mem == 240 * 1024 and d.limits.max_param_mem == 768 * 1024
    assert Constraints(d.limits).describe()[0].startswith("peak activation memory <= 240.00 KiB")


def test_unknown_device_lists_the_valid_names() -> None:
    with pytest.raises(DeviceError) as err:
        load_device("stm32f9")
    message = str(err.value)
    assert "'stm32f9'" in message and all(n in message for n in list_devices())


def test_user_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "myboard.toml"
    path.write_text('description = "mine"\ndtype = "fp16"\n[memory]\n# datasheet X\n'
                    'sram_bytes = 100_000\n[reserve]\nsram = 0.5\n[limits]\nmax_macs = "5M"\n')
    d = load_device(str(path))
    assert d.name == "myboard" and d.limits.max_peak_mem == 50_000
    assert d.limits.max_macs == 5_000_000 and d.limits.dtype == "fp16"


@pytest.mark.parametrize(("body", "message"), [
    ("[memory]\nsram_bytes = -4\n", "positive number of bytes"),
    ("[memory]\nsram_bytes = 4000\n[reserve]\nsram = 1.5\n", "fraction in"),
    ("[memory]\neeprom_bytes = 4000\n", "unknown memory figure"),
    ("colour = 3\n", "unknown key 'colour'"),
    ("dtype = 'int4'\n", "int4"),
    ("[memory\n", "bad TOML"),
    ("[memory]\nsram_bytes = 4000\n[limits]\nmax_peak_mem = 5\n", "set by [memory] and [limits]"),
])
def test_malformed_profiles(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(DeviceError, match=re.escape(message)):
        load_device(str(path))


def test_cli_devices_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_devices())
    assert "240 KiB" in out and "768 KiB" in out and "int8" in out
    assert main(["devices", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == list_devices()
    stm = next(d for d in data if d["name"] == "stm32f746-disco")
    assert stm["limits"]["max_peak_mem"] == 245_760 and stm["memory"]["sram_bytes"] == 327_680
    assert main(["devices", "--sources"]) == 0
    assert "DS10916" in capsys.readouterr().out


def test_profiles_ship_as_package_data() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["fitnas"]
    shipped = {p.name for p in PROFILES.iterdir() if p.name.endswith(".toml")}
    matched = {f"devices/profiles/{n}" for n in shipped}
    assert any(Path(m).match(p) for p in patterns for m in matched)
    assert "onnxruntime" in " ".join(pyproject["project"]["dependencies"])
