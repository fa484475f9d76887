"""The names of Pareto objectives, and the costs on named devices they refer to.

An objective is a cost a run's Pareto front is taken over besides accuracy. Most are plain
``Costs`` keys (``params``, ``macs``, ``peak_activation_bytes``, ...). DPP-Net (paper 003
section 4, Table 2) searches for several devices at once, each with its own inference time,
so an objective may also name a device: ``latency@stm32f746-disco`` is the latency the device
model of that profile estimates (``fitnas.costs.device``), ``energy@rpi-zero-2w`` its energy
per inference. Each device's costs are modelled at the profile's own dtype (a microcontroller
runs the int8 network, a Raspberry Pi the fp32 one), whatever dtype the run's limits use: the
number an engineer shipping to that device would read.

``latency`` and ``energy`` are short for ``latency_ms`` and ``energy_uj``; the canonical name
(:func:`canonical_objective`) is the ``Costs`` key, e.g. ``latency_ms@stm32f746-disco``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import FitnasError
from .device import DEVICE_COST_KEYS

__all__ = ["OBJECTIVE_ALIASES", "ObjectiveError", "canonical_objective", "check_unique",
           "device_key", "objective_devices", "split_objective"]

#: Short names an objective may use for a device cost.
OBJECTIVE_ALIASES: dict[str, str] = {"latency": "latency_ms", "energy": "energy_uj",
                                     "avg_power": "avg_power_mw", "peak_power": "peak_power_mw"}


class ObjectiveError(FitnasError):
    """An objective that names an unknown cost or device, or one given twice."""


def device_key(cost: str, device: str) -> str:
    """The ``Costs`` key of ``cost`` (a :data:`~fitnas.costs.device.DEVICE_COST_KEYS` name) on
    ``device``: ``latency_ms@stm32f746-disco``."""
    return f"{cost}@{device}"


def split_objective(name: str) -> tuple[str, str | None]:
    """``(cost, device)`` of an objective name (``device`` ``None`` for a plain cost), the
    cost's alias resolved; a one-line :class:`ObjectiveError` for a device cost that is not
    one."""
    cost, at, device = name.partition("@")
    cost = OBJECTIVE_ALIASES.get(cost.strip(), cost.strip())
    if not at:
        return cost, None
    device = device.strip()
    if cost not in DEVICE_COST_KEYS:
        accepted = ", ".join([*OBJECTIVE_ALIASES, *DEVICE_COST_KEYS])
        raise ObjectiveError(f"objective {name!r}: only a device cost can name a device; "
                             f"accepted before '@': {accepted}")
    if not device:
        raise ObjectiveError(f"objective {name!r}: expected a device name after '@', e.g. "
                             f"latency@stm32f746-disco (see `fitnas devices`)")
    return cost, device


def canonical_objective(name: str) -> str:
    """The ``Costs`` key of an objective name (aliases resolved)."""
    cost, device = split_objective(name)
    return cost if device is None else device_key(cost, device)


def objective_devices(names: Sequence[str]) -> list[str]:
    """The devices ``names`` refer to, in first-seen order, each once."""
    found: dict[str, None] = {}
    for name in names:
        device = split_objective(name)[1]
        if device is not None:
            found[device] = None
    return list(found)


def check_unique(names: Sequence[str], flag: str = "--objective") -> list[str]:
    """``names`` in canonical form; a one-line error for one given twice (also as an alias)."""
    out: list[str] = []
    for name in names:
        key = canonical_objective(name)
        if key in out:
            raise ObjectiveError(f"{flag} {name!r} is given twice; name each objective once")
        out.append(key)
    return out
