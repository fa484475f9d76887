"""Device profiles: the limits of real boards, read from TOML files shipped with fitnas.

Each ``fitnas/devices/profiles/NAME.toml`` gives a board's memory figures with their source
(datasheet and section) in a comment and in a ``[sources]`` table, the share of each memory
kept for everything that is not the network, a default dtype and a description::

    description = "..."
    dtype = "int8"
    [memory]        # exact bytes
    sram_bytes = 327_680        # -> max_peak_mem  (activations live in SRAM)
    flash_bytes = 1_048_576     # -> max_param_mem (weights live in flash)
    ram_bytes = 536_870_912     # -> max_total_mem (weights and activations share one RAM)
    [reserve]       # fraction of each memory kept for the stack, heap, OS and runtime
    sram = 0.25
    flash = 0.25
    [limits]        # optional: any other Limits field, e.g. max_macs = "60M"
    [compute]       # optional: the latency model (``fitnas.costs.device``)
    clock_hz = 216_000_000
    cycles_per_mac = { conv = 1.6, depthwise = 3.4, pointwise = 1.3, linear = 2.0 }
    cycles_per_element = { pool = 1.0, elementwise = 2.0 }
    bytes_per_cycle = { sram = 4.0, weights = 4.0 }
    [power]         # optional: the energy and power model
    static_mw = 40.0
    active_mw = 300.0
    [sources]       # one line per figure, shown by ``fitnas devices``

A limit is the usable part of a memory, ``floor(bytes * (1 - reserve))``. This turns paper 002
eq. 1's thresholds ``tau_j`` into figures a datasheet gives. The ``[compute]`` and ``[power]``
tables are read by :class:`~fitnas.costs.device.ComputeProfile` (their keys and formulas are in
``fitnas.costs.device``); each coefficient is for the profile's dtype. ``load_device`` also accepts the
path of a TOML file of the same form, for a board fitnas does not ship.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..constraints import Limits
from ..costs.device import ComputeProfile
from ..errors import FitnasError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Device", "DeviceError", "list_devices", "load_device"]

#: Memory figure -> the limit it sets.
MEMORY_LIMITS: dict[str, str] = {
    "sram_bytes": "max_peak_mem",
    "flash_bytes": "max_param_mem",
    "ram_bytes": "max_total_mem",
}


class DeviceError(FitnasError):
    """An unknown device name or a malformed device profile."""


@dataclass(frozen=True)
class Device:
    """A board: its name, description, limits, memory figures, reserves and their sources."""

    name: str
    description: str
    limits: Limits
    memory: dict[str, int] = field(default_factory=dict)
    reserve: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    path: str = ""
    #: the latency, energy and power model (``None``: the profile has no ``[compute]``)
    compute: ComputeProfile | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "limits": self.limits.to_dict(), "memory": dict(self.memory),
                "reserve": dict(self.reserve), "sources": dict(self.sources), "path": self.path,
                "compute": self.compute.to_dict() if self.compute is not None else None}


def _profiles_dir() -> Any:
    return resources.files("fitnas.devices").joinpath("profiles")


def list_devices() -> list[str]:
    """Names of the device profiles shipped with fitnas, sorted."""
    return sorted(p.name[: -len(".toml")] for p in _profiles_dir().iterdir()
                  if p.name.endswith(".toml"))


def load_device(name: str) -> Device:
    """The profile called ``name`` (see :func:`list_devices`), or a ``.toml`` file's path."""
    if name.endswith(".toml") and Path(name).is_file():
        return parse_device(Path(name).read_text(), Path(name).stem, str(Path(name)))
    entry = _profiles_dir().joinpath(f"{name}.toml")
    if name not in list_devices():
        raise DeviceError(f"unknown device {name!r}; accepted: {', '.join(list_devices())} "
                          "(or the path of a device .toml file)")
    return parse_device(entry.read_text(), name, str(entry))


def _fraction(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise DeviceError(f"{where}: reserve.{key} = {value!r}; expected a fraction in [0, 1)")
    return float(value)


def parse_device(text: str, name: str, path: str = "") -> Device:
    """A :class:`Device` from the text of a profile (see the module docstring)."""
    where = path or name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DeviceError(f"device profile {where}: bad TOML: {err}") from None
    known = {"description", "dtype", "memory", "reserve", "limits", "sources", "schedule",
             "compute", "power"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DeviceError(f"device profile {where}: unknown key {unknown[0]!r}; accepted: "
                          f"{', '.join(sorted(known))}")
    memory = dict(data.get("memory", {}))
    reserve = dict(data.get("reserve", {}))
    limits: dict[str, Any] = {}
    for key, value in memory.items():
        if key not in MEMORY_LIMITS:
            raise DeviceError(f"device profile {where}: unknown memory figure {key!r}; "
                              f"accepted: {', '.join(MEMORY_LIMITS)}")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise DeviceError(f"device profile {where}: memory.{key} = {value!r}; expected a "
                              "positive number of bytes")
        fraction = _fraction(where, key[: -len("_bytes")],
                             reserve.get(key[: -len("_bytes")], 0.0))
        limits[MEMORY_LIMITS[key]] = math.floor(value * (1.0 - fraction))
    extra = dict(data.get("limits", {}))
    clash = sorted(set(extra) & set(limits))
    if clash:
        raise DeviceError(f"device profile {where}: {clash[0]} is set by [memory] and [limits]; "
                          "keep one")
    limits.update(extra)
    for key in ("dtype", "schedule"):
        if key in data:
            limits[key] = data[key]
    try:
        parsed = Limits.from_dict(limits)
    except FitnasError as err:
        raise DeviceError(f"device profile {where}: {err}") from None
    compute = None
    if "compute" in data or "power" in data:
        for key in ("compute", "power"):
            if not isinstance(data.get(key, {}), dict):
                raise DeviceError(f"device profile {where}: {key} must be a table ([{key}])")
        try:
            compute = ComputeProfile.from_tables(name, parsed.dtype, data.get("compute"),
                                                 data.get("power"), where)
        except FitnasError as err:
            raise DeviceError(str(err)) from None
    return Device(
        name=name, description=str(data.get("description", "")), limits=parsed,
        memory={k: int(v) for k, v in memory.items()},
        reserve={k: float(v) for k, v in reserve.items()},
        sources={str(k): str(v) for k, v in data.get("sources", {}).items()}, path=path,
        compute=compute,
    )
