"""``CostModel``: every cost of a candidate, computed once, with the execution order it assumes.

A search checks limits on costs, stores them with the trial, and later exports the network
with its memory plan. All three must speak of the same numbers and the same order, so one
object computes them: :meth:`CostModel.costs` returns a frozen :class:`Costs` holding

* the analytic costs of ``fitnas.costs.estimate`` (parameters, parameter bytes at the dtype,
  MACs, the data-lifetime peak of paper 000 section 3.4, Chan's ping-pong memory of paper 002
  eq. 6, and their total, paper 000 Table 2's "Total Mem");
* the execution order the peak was computed for: the graph's own order with
  ``schedule="default"``, the memory-optimal order of ``fitnas.costs.schedule.best_order``
  (bounded by ``schedule_time_limit`` seconds per candidate) with ``schedule="best"``, and
  whether that order is proven optimal (``order_exact``; the graph's own order is exactly the
  order used, so it is ``True`` there);
* with a device model (``device``, a :class:`~fitnas.costs.device.ComputeProfile`): the
  estimated latency, energy per inference, average and peak power on that device
  (``fitnas.costs.device``), analytic like the rest, so every limit on them is checked before
  anything is built;
* the latency on this host (``fitnas.costs.latency``: onnxruntime, median of repeated runs)
  when asked for with :meth:`CostModel.with_latency`;
* with objective devices (``devices``: DPP-Net's several devices at once, paper 003 section
  4): each one's modelled latency, and energy and power where its profile has power figures,
  keyed ``latency_ms@NAME`` and so on (``fitnas.costs.objectives``), at the profile's own dtype.

``latency`` says where ``latency_ms`` comes from: ``"measure"`` (this host, onnxruntime; only
for no device or a profile of this machine, ``measurable``) or ``"model"`` (the device model).
By default a device that is not this machine is modelled and this host is measured.

The order stored in ``Costs`` is the order a run stores with the trial and writes into the
exported ``memory_plan.json``: it is never searched again, so what was checked is what ships.
``Constraints`` (``fitnas.constraints``) turns a ``Costs`` into violation values and does
nothing else.

``Costs`` is also a read-only mapping of its numeric costs (``costs["macs"]``, ``"latency_ms"
in costs``), which is how limits, Pareto fronts and reports read it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..arch import ArchGraph
from ..errors import FitnasError
from .device import DEVICE_COST_KEYS, ComputeProfile, device_costs
from .dtypes import DTYPE_BYTES
from .estimate import estimate
from .objectives import device_key

__all__ = ["ANALYTIC_KEYS", "LATENCY_SOURCES", "SCHEDULES", "CostModel", "CostModelError",
           "Costs"]

#: The integer costs every ``Costs`` holds, in this order.
ANALYTIC_KEYS: tuple[str, ...] = (
    "params", "param_bytes", "macs", "peak_activation_bytes", "total_memory_bytes",
)
#: ``default``: the graph's own order; ``best``: the memory-optimal order.
SCHEDULES: tuple[str, ...] = ("default", "best")
#: Where latency comes from: measured on this host, or the device model's estimate.
LATENCY_SOURCES: tuple[str, ...] = ("measure", "model")
_OPTIONAL = ("latency_ms", "energy_uj", "avg_power_mw", "peak_power_mw", "device",
             "latency_source", "per_device")


class CostModelError(FitnasError):
    """A bad setting of a cost model, or a stored cost record that cannot be read."""


@dataclass(frozen=True)
class Costs(Mapping[str, float]):
    """The costs of one graph under one :class:`CostModel`, and the order they assume.

    As a mapping it holds the numeric costs: :data:`ANALYTIC_KEYS`, ``chan_memory_bytes``,
    ``latency_ms`` once measured or estimated, and ``energy_uj``, ``avg_power_mw`` and
    ``peak_power_mw`` from a device model with power figures. ``device`` names that model's
    profile; ``latency_source`` is ``"measure"`` or ``"model"``. ``per_device`` holds the
    costs on the objective devices (``latency_ms@NAME``, ...), in the mapping too.
    """

    params: int
    param_bytes: int
    macs: int
    peak_activation_bytes: int
    total_memory_bytes: int
    chan_memory_bytes: int
    dtype: str
    schedule: str
    order: tuple[str, ...]
    order_exact: bool
    peak_node: str
    latency_ms: float | None = None
    energy_uj: float | None = None
    avg_power_mw: float | None = None
    peak_power_mw: float | None = None
    device: str | None = None
    latency_source: str | None = None
    per_device: Mapping[str, float] | None = field(default=None, hash=False)
    _values: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values: dict[str, float] = {key: getattr(self, key) for key in ANALYTIC_KEYS}
        values["chan_memory_bytes"] = self.chan_memory_bytes
        for key in DEVICE_COST_KEYS:
            if getattr(self, key) is not None:
                values[key] = getattr(self, key)
        if self.per_device:
            object.__setattr__(self, "per_device", dict(self.per_device))
            values.update(self.per_device)
        object.__setattr__(self, "_values", values)

    # ------------------------------------------------------------- the mapping
    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def analytic(self) -> dict[str, int]:
        """The :data:`ANALYTIC_KEYS` costs, as integers."""
        return {key: int(getattr(self, key)) for key in ANALYTIC_KEYS}

    # ---------------------------------------------------------------- storage
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record (the stored form of a trial's costs)."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                                if not f.name.startswith("_")}
        data["order"] = list(self.order)
        data["per_device"] = dict(self.per_device) if self.per_device else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Costs:
        names = [f.name for f in fields(cls) if not f.name.startswith("_")]
        missing = [n for n in names if n not in data and n not in _OPTIONAL]
        if missing:
            raise CostModelError(f"a stored cost record lacks {', '.join(missing)}")
        kwargs = {n: data[n] for n in names if n in data}
        kwargs["order"] = tuple(kwargs["order"])
        return cls(**kwargs)

    @staticmethod
    def is_record(data: Mapping[str, Any]) -> bool:
        """Whether ``data`` is a stored ``Costs`` (schema 2) rather than bare numbers (schema 1)."""
        return "order" in data and "schedule" in data


class CostModel:
    """Computes :class:`Costs`: the analytic costs at ``dtype`` under ``schedule``, and latency.

    Args:
        dtype: bytes per element of weights and activations (``fp32``, ``fp16``, ``int8``).
        schedule: ``default`` (the graph's order) or ``best`` (the memory-optimal order).
        schedule_time_limit: seconds the search of the best order may take per graph; past it
            the best order found so far is used and ``order_exact`` is False.
        inplace: activations, add and mul may overwrite a dead input (paper 000's model as the
            builder runs it); ``False`` allocates every output.
        latency_repeats, latency_warmup, latency_threads, latency_cache: how latency on this
            host is measured (``fitnas.costs.latency.measure_latency_ms``).
        device: a device model (latency, energy and power estimates, ``fitnas.costs.device``);
            its dtype must be ``dtype``.
        devices: the objective devices (profiles with a latency model): their costs go into
            ``Costs.per_device``, each at the profile's own dtype.
        latency: ``"measure"`` or ``"model"`` (see the module docstring); ``None``: model a
            device that is not this machine, measure otherwise.
    """

    def __init__(
        self,
        dtype: str = "fp32",
        schedule: str = "default",
        schedule_time_limit: float = 10.0,
        inplace: bool = True,
        latency_repeats: int = 20,
        latency_warmup: int = 3,
        latency_threads: int = 1,
        latency_cache: str | None = None,
        device: ComputeProfile | None = None,
        latency: str | None = None,
        devices: Sequence[ComputeProfile | Mapping[str, Any]] = (),
    ) -> None:
        if dtype not in DTYPE_BYTES:
            raise CostModelError(f"unknown dtype {dtype!r}; accepted: {', '.join(DTYPE_BYTES)}")
        if schedule not in SCHEDULES:
            raise CostModelError(f"unknown schedule {schedule!r}; accepted: {', '.join(SCHEDULES)}")
        if isinstance(schedule_time_limit, bool) or not isinstance(schedule_time_limit, (int, float)) \
                or not schedule_time_limit > 0:
            raise CostModelError(f"bad schedule_time_limit {schedule_time_limit!r}: expected a "
                                 "positive number of seconds")
        if not isinstance(inplace, bool):
            raise CostModelError(f"bad inplace {inplace!r}: expected true or false")
        self.dtype = dtype
        self.schedule = schedule
        self.schedule_time_limit = float(schedule_time_limit)
        self.inplace = inplace
        self.latency_repeats = latency_repeats
        self.latency_warmup = latency_warmup
        self.latency_threads = latency_threads
        self.latency_cache = str(latency_cache) if latency_cache is not None else None
        if isinstance(device, Mapping):
            device = ComputeProfile.from_dict(device)
        if device is not None and not isinstance(device, ComputeProfile):
            raise CostModelError(f"bad device {device!r}: expected a ComputeProfile")
        if device is not None:
            device.check_dtype(dtype)
        if latency is None:
            latency = "model" if device is not None and not device.measurable else "measure"
        if latency not in LATENCY_SOURCES:
            raise CostModelError(f"unknown latency source {latency!r}; accepted: "
                                 f"{', '.join(LATENCY_SOURCES)}")
        if latency == "model":
            if device is None:
                raise CostModelError("latency 'model' needs a device profile with a [compute] "
                                     "table (--device NAME); without one latency is measured "
                                     "on this host")
            device.require("a modelled latency (--latency model)")
        elif device is not None and not device.measurable:
            raise CostModelError(f"device {device.name} is not this machine: its latency can "
                                 "only be modelled (--latency model), not measured here")
        self.device = device
        self.latency = latency
        self._device_latency = device is not None and device.has_latency
        self.devices = _objective_devices(devices)

    def get_config(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "schedule": self.schedule,
                "schedule_time_limit": self.schedule_time_limit, "inplace": self.inplace,
                "latency_repeats": self.latency_repeats, "latency_warmup": self.latency_warmup,
                "latency_threads": self.latency_threads, "latency_cache": self.latency_cache,
                "device": self.device.to_dict() if self.device is not None else None,
                "latency": self.latency,
                "devices": [d.to_dict() for d in self.devices]}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CostModel:
        names = ("dtype", "schedule", "schedule_time_limit", "inplace", "latency_repeats",
                 "latency_warmup", "latency_threads", "latency_cache", "device", "latency",
                 "devices")
        return cls(**{k: v for k, v in config.items() if k in names})

    def __repr__(self) -> str:
        device = f", device={self.device.name}, latency={self.latency}" if self.device else ""
        if self.devices:
            device += f", devices={','.join(d.name for d in self.devices)}"
        return f"CostModel(dtype={self.dtype}, schedule={self.schedule}{device})"

    @property
    def models_latency(self) -> bool:
        """Whether ``latency_ms`` is the device model's estimate (no measurement needed)."""
        return self.latency == "model"

    def costs(self, graph: ArchGraph) -> Costs:
        """The analytic costs of ``graph`` and the order they assume, with the device model's
        costs when there is one (no measurement: see :meth:`with_latency`)."""
        order = graph.order
        exact = True
        if self.schedule == "best":
            from .schedule import best_order

            found = best_order(graph, self.dtype, self.inplace, self.schedule_time_limit)
            order, exact = found.order, found.exact
        est = estimate(graph, self.dtype, self.inplace, order=order)
        device: dict[str, Any] = {}
        if self._device_latency:
            assert self.device is not None
            on = device_costs(graph, self.device, self.dtype)
            device = {"energy_uj": on.energy_uj, "avg_power_mw": on.avg_power_mw,
                      "peak_power_mw": on.peak_power_mw, "device": self.device.name}
            if self.latency == "model":
                device["latency_ms"] = on.latency_ms
                device["latency_source"] = "model"
        return Costs(params=est.params, param_bytes=est.param_bytes, macs=est.macs,
                     peak_activation_bytes=est.peak_activation_bytes,
                     total_memory_bytes=est.total_memory_bytes,
                     chan_memory_bytes=est.chan_memory_bytes, dtype=self.dtype,
                     schedule=self.schedule, order=tuple(order), order_exact=exact,
                     peak_node=est.peak_node, per_device=self.per_device(graph) or None,
                     **device)

    def per_device(self, graph: ArchGraph) -> dict[str, float]:
        """The costs of ``graph`` on the objective devices (``latency_ms@NAME``, ...), each
        modelled at its profile's dtype."""
        out: dict[str, float] = {}
        for profile in self.devices:
            on = device_costs(graph, profile, profile.dtype)
            for key in DEVICE_COST_KEYS:
                value = getattr(on, key)
                if value is not None:
                    out[device_key(key, profile.name)] = value
        return out

    def measure_latency(self, graph: ArchGraph) -> float:
        """Milliseconds per forward pass on this host (``fitnas.costs.latency``)."""
        from .latency import measure_latency_ms

        return measure_latency_ms(graph, repeats=self.latency_repeats, warmup=self.latency_warmup,
                                  threads=self.latency_threads, cache_path=self.latency_cache)

    def with_latency(self, costs: Costs, graph: ArchGraph) -> Costs:
        """``costs`` with the latency of ``graph`` on this host added."""
        return replace(costs, latency_ms=self.measure_latency(graph), latency_source="measure")


def _objective_devices(devices: Sequence[ComputeProfile | Mapping[str, Any]]
                       ) -> tuple[ComputeProfile, ...]:
    """The objective devices as profiles, each once and with a latency model (a one-line
    error naming the profile otherwise)."""
    if isinstance(devices, (str, Mapping)):
        raise CostModelError(f"bad devices {devices!r}: expected a list of device profiles")
    out: list[ComputeProfile] = []
    for device in devices:
        profile = ComputeProfile.from_dict(device) if isinstance(device, Mapping) else device
        if not isinstance(profile, ComputeProfile):
            raise CostModelError(f"bad device {device!r}: expected a ComputeProfile")
        if any(p.name == profile.name for p in out):
            raise CostModelError(f"device {profile.name} is given twice as an objective device")
        profile.require(f"an objective on {profile.name} (latency@{profile.name})")
        out.append(profile)
    return tuple(out)
