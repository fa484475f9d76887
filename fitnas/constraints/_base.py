"""The hard limits of a deployment: :class:`Limits`.

Paper 002 (Chan et al.) eq. 1 searches ``argmin J(A, w) s.t. AND_j C_j(A) < tau_j``: each
resource ``j`` has a cost ``C_j`` of the architecture and a threshold ``tau_j``. A
:class:`Limits` holds the thresholds fitnas knows, each optional:

============== ============================= =====================================
limit          cost it bounds                unit
============== ============================= =====================================
max_peak_mem   ``peak_activation_bytes``     bytes (SRAM for activations)
max_param_mem  ``param_bytes``               bytes (flash for weights)
max_total_mem  ``total_memory_bytes``        bytes (parameters + peak activations)
max_params     ``params``                    count
max_macs       ``macs``                      count (MACs, not 2x FLOPs)
max_latency_ms ``latency_ms``                milliseconds: measured on this host, or
                                             the device model's estimate
max_energy_uj  ``energy_uj``                 microjoules per inference (device model)
max_power_mw   ``peak_power_mw``             milliwatts, the largest per-layer power
============== ============================= =====================================

Byte costs depend on ``dtype`` (bytes per element, paper 002's ``B_pe``) and the peak on the
execution order: ``schedule="default"`` uses the graph's own order, ``"best"`` the
memory-optimal one (``fitnas.costs.schedule``). One refinement of eq. 1: a limit is met when
the cost is *at most* the threshold (a network of exactly 320 KiB fits 320 KiB of SRAM).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ..costs.dtypes import DTYPE_BYTES
from ..costs.model import SCHEDULES
from ..units import format_bytes, format_count
from .limits import (
    LimitError,
    parse_count,
    parse_microjoules,
    parse_milliseconds,
    parse_milliwatts,
    parse_size,
)

__all__ = ["LIMIT_COSTS", "LIMIT_NAMES", "SCHEDULES", "Limits", "format_limit"]

#: Limit name -> the key of the cost it bounds (in ``Constraints.check(...).costs``).
LIMIT_COSTS: dict[str, str] = {
    "max_peak_mem": "peak_activation_bytes",
    "max_param_mem": "param_bytes",
    "max_total_mem": "total_memory_bytes",
    "max_params": "params",
    "max_macs": "macs",
    "max_latency_ms": "latency_ms",
    "max_energy_uj": "energy_uj",
    "max_power_mw": "peak_power_mw",
}
LIMIT_NAMES: tuple[str, ...] = tuple(LIMIT_COSTS)

_KIND = {"max_peak_mem": "size", "max_param_mem": "size", "max_total_mem": "size",
         "max_params": "count", "max_macs": "count", "max_latency_ms": "ms",
         "max_energy_uj": "uj", "max_power_mw": "mw"}
#: The limits whose costs come from a device model (``fitnas.costs.device``).
DEVICE_LIMITS: tuple[str, ...] = ("max_energy_uj", "max_power_mw")
_LABEL = {
    "max_peak_mem": "peak activation memory",
    "max_param_mem": "parameter memory",
    "max_total_mem": "total memory (parameters + peak activations)",
    "max_params": "parameters",
    "max_macs": "MACs",
    "max_latency_ms": "latency",
    "max_energy_uj": "energy per inference",
    "max_power_mw": "peak power",
}


def _parse(name: str, value: Any) -> int | float:
    flag = "--" + name.replace("_", "-")
    kind = _KIND[name]
    if kind == "size":
        return parse_size(value, flag)
    if kind == "count":
        return parse_count(value, flag)
    if kind == "uj":
        return parse_microjoules(value, flag)
    if kind == "mw":
        return parse_milliwatts(value, flag)
    return parse_milliseconds(value, flag)


def format_limit(name: str, value: float) -> str:
    """Human form of a value of limit ``name`` (bytes, count or milliseconds)."""
    kind = _KIND[name]
    if kind == "size":
        return f"{format_bytes(int(value))} ({int(value):,} B)"
    if kind == "count":
        return f"{format_count(int(value))} ({int(value):,})"
    if kind == "uj":
        return f"{value:.4g} uJ"
    if kind == "mw":
        return f"{value:.4g} mW"
    return f"{value:g} ms"


@dataclass(frozen=True)
class Limits:
    """Thresholds of paper 002 eq. 1 (``None``: no limit), the dtype and the schedule.

    Values may be given as numbers or as the strings a user types (``"320KiB"``, ``"300M"``,
    ``"20ms"``); they are stored parsed: integers for bytes and counts, float milliseconds.
    """

    max_peak_mem: int | None = None
    max_param_mem: int | None = None
    max_total_mem: int | None = None
    max_params: int | None = None
    max_macs: int | None = None
    max_latency_ms: float | None = None
    max_energy_uj: float | None = None
    max_power_mw: float | None = None
    dtype: str = "fp32"
    schedule: str = "default"

    def __init__(
        self,
        max_peak_mem: int | str | None = None,
        max_param_mem: int | str | None = None,
        max_total_mem: int | str | None = None,
        max_params: int | str | None = None,
        max_macs: int | str | None = None,
        max_latency_ms: float | str | None = None,
        max_energy_uj: float | str | None = None,
        max_power_mw: float | str | None = None,
        dtype: str = "fp32",
        schedule: str = "default",
    ) -> None:
        # Written out, not generated, so that the types say a limit may be given as a string.
        given = {"max_peak_mem": max_peak_mem, "max_param_mem": max_param_mem,
                 "max_total_mem": max_total_mem, "max_params": max_params, "max_macs": max_macs,
                 "max_latency_ms": max_latency_ms, "max_energy_uj": max_energy_uj,
                 "max_power_mw": max_power_mw}
        for name, value in given.items():
            object.__setattr__(self, name, None if value is None else _parse(name, value))
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "schedule", schedule)
        if self.dtype not in DTYPE_BYTES:
            raise LimitError(f"unknown dtype {self.dtype!r}; accepted: {', '.join(DTYPE_BYTES)}")
        if self.schedule not in SCHEDULES:
            raise LimitError(f"unknown schedule {self.schedule!r}; accepted: {', '.join(SCHEDULES)}")

    def active(self) -> dict[str, int | float]:
        """The limits that are set, by name, in :data:`LIMIT_NAMES` order."""
        return {n: getattr(self, n) for n in LIMIT_NAMES if getattr(self, n) is not None}

    @property
    def analytic(self) -> dict[str, int | float]:
        """The active limits on costs that need no measurement (all but latency, which a device
        model may also estimate: see ``fitnas.costs.model.CostModel``)."""
        return {n: v for n, v in self.active().items() if n != "max_latency_ms"}

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Limits:
        """The inverse of :meth:`to_dict`; an unknown key lists the accepted ones."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise LimitError(f"unknown limit {unknown[0]!r}; accepted: {', '.join(sorted(names))}")
        return cls(**dict(data))

    def merged(self, overrides: Mapping[str, Any] | None) -> Limits:
        """These limits with ``overrides`` applied (flags over a device profile); keys whose
        value is ``None`` (a flag not given) leave the value here unchanged."""
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        names = {f.name for f in fields(self)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise LimitError(f"unknown limit {unknown[0]!r}; accepted: {', '.join(sorted(names))}")
        return replace(self, **given)

    def describe(self) -> list[str]:
        """One line per active limit, for people (then the dtype and schedule)."""
        lines = [f"{_LABEL[n]} <= {format_limit(n, v)}" for n, v in self.active().items()]
        order = "memory-optimal order" if self.schedule == "best" else "the graph's own order"
        lines.append(f"dtype {self.dtype} ({DTYPE_BYTES[self.dtype]} B per element), {order}")
        return lines
