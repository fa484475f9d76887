"""Latency, energy and power of a network on a device, from its ArchGraph and a profile.

MONAS (paper 003 section 3) rewards low average energy and caps peak power; DPP-Net (section
4) ranks networks by their inference time on several devices. Neither can run every candidate
on every board, so fitnas estimates these costs before anything is built, from the graph and a
:class:`ComputeProfile` (the ``[compute]`` and ``[power]`` tables of a device profile,
``fitnas/devices/profiles/*.toml``, every coefficient with its source).

**Layers.** Every node is one *layer* of one kind (:data:`LAYER_KINDS`):

============= ================================================ ==============================
kind          ops                                              work ``W`` (per layer)
============= ================================================ ==============================
conv          conv2d (groups < channels, kernel > 1x1), fac_conv  MACs
              learned_group_conv (its condensed 1x1 group conv)
depthwise     dwconv, conv2d with groups = input channels      MACs
pointwise     pwconv, conv2d 1x1 with groups 1                 MACs
linear        linear                                           MACs
pool          maxpool, avgpool (window), global/adaptive pool  elements read (window x output)
elementwise   batchnorm, activations, add, mul, concat, zero   output elements
              channel_shuffle (a copy)
============= ================================================ ==============================

Views (identity, flatten, dropout) and weights (``parameter``) cost nothing. Batch norm after a
convolution or linear layer is folded into its weights, and ReLU/ReLU6 after one (or after a
folded batch norm) is fused into its output loop, when the producer's output has that one
reader: what TensorFlow Lite Micro's converter (BN folding, fused activations) and
onnxruntime's Conv+BatchNormalization and Conv+Activation fusions both do. The ops a profile
fuses are its ``fuse`` list. A fused node costs nothing; its producer writes the fused output.

**Latency** (per layer, in cycles, then divided by the clock):

    compute_l = W_l * c_kind(l)        c: ``cycles_per_mac`` (conv kinds) or
                                          ``cycles_per_element`` (pool, elementwise)
    memory_l  = A_l / b_sram + P_l / b_weights
    cycles_l  = o_layer + max(compute_l, memory_l)          (``combine = "max"``)
              = o_layer + compute_l + memory_l               (``combine = "sum"``)
    latency   = (o_invoke + sum_l cycles_l) / f_clock

with ``A_l`` the activation bytes the layer reads and writes (its inputs and output at the
dtype), ``P_l`` its weight bytes, ``b_*`` the profile's ``bytes_per_cycle`` (weights stream
from ``flash`` on a microcontroller, from ``ram`` on a computer: ``weights_in``), ``o_layer``
and ``o_invoke`` the runtime's fixed cycles per layer (operator dispatch) and per inference.
``max`` is the roofline model of Williams, Waterman and Patterson (CACM 52(4), 2009): a layer
takes the time of the slower of its arithmetic and its memory traffic, which overlap on a core
that streams data while it computes; the kernel throughputs ``c`` of the shipped
microcontroller profiles are measured cycles per MAC of CMSIS-NN/ESP-NN kernels with operands
in SRAM, which already include their SRAM loads, so the memory term only binds where a layer is
limited by streaming its weights (large fully connected layers from flash). ``sum`` adds the
two terms: the form a least-squares fit over measured layers can find (``fitnas calibrate``
writes it), where the memory term is whatever time grows with bytes beyond the arithmetic.
A missing ``bytes_per_cycle`` entry drops that part of the memory term.

**Energy** (per layer, in microjoules; mW x ms = uJ):

    E_l = (p_static + p_active) * t_l + 1e-6 * (e_mac * MACs_l + e_sram * A_l + e_weight * P_l)
    E   = (p_static + p_active) * t_invoke + sum_l E_l

``p_static`` is the power the board draws whenever it is on (the datasheet's sleep or idle
figure: leakage, clocks, regulators), so a network of 0 MACs still costs static energy;
``p_active`` the extra power of the core while it executes (run-mode minus sleep-mode power
from the datasheet's current tables, V x I); ``e_mac``, ``e_sram`` and ``e_weight`` the energy
per MAC and per byte moved (picojoules) beyond what the run-mode current already measures
(zero where the datasheet figure includes them; per-operation energies in the manner of
Horowitz, ISSCC 2014, "Computing's energy problem", where a profile separates them).
**Average power** is ``E / latency``; **peak power** the largest per-layer power ``E_l / t_l``
(MONAS' power cap, paper 003 eq. 2, is on the peak while serving): the running power
``p_static + p_active`` unless a layer adds to it by moving data, and then ``peak_power_layer``
names the first such layer with the largest power.

Coefficients are for the profile's dtype; costs at another dtype are refused (the kernels and
their throughput differ). :func:`device_costs` gives the totals and, with ``layers=True``, the
per-layer breakdown (:class:`LayerCost`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, compress, islice
from operator import itemgetter, not_
from typing import Any

from ..arch import ArchGraph
from ..errors import FitnasError
from .dtypes import DTYPE_BYTES

__all__ = [
    "COMBINES",
    "DEVICE_COST_KEYS",
    "LAYER_KINDS",
    "ComputeProfile",
    "DeviceCosts",
    "DeviceModelError",
    "LayerCost",
    "device_costs",
    "layer_kind",
]

#: The kinds of layer a profile gives a throughput for (the first four per MAC, the last two
#: per element).
LAYER_KINDS: tuple[str, ...] = ("conv", "depthwise", "pointwise", "linear", "pool", "elementwise")
MAC_KINDS: tuple[str, ...] = LAYER_KINDS[:4]
ELEMENT_KINDS: tuple[str, ...] = LAYER_KINDS[4:]
COMBINES: tuple[str, ...] = ("max", "sum")
WEIGHT_MEMORIES: tuple[str, ...] = ("flash", "ram")
#: The costs :func:`device_costs` adds to a candidate's costs.
DEVICE_COST_KEYS: tuple[str, ...] = ("latency_ms", "energy_uj", "avg_power_mw", "peak_power_mw")

_VIEWS = frozenset({"identity", "flatten", "dropout", "parameter"})
_POOLS = frozenset({"maxpool", "avgpool", "global_avgpool", "adaptive_avgpool"})
_PRODUCERS = frozenset({"conv", "depthwise", "pointwise", "linear"})
_DEFAULT_FUSE = ("batchnorm", "relu", "relu6")

#: Keys of ``[compute]`` and ``[power]`` and what they hold.
_COMPUTE_NUMBERS = ("clock_hz", "layer_overhead_cycles", "invoke_overhead_cycles")
_POWER_NUMBERS = ("static_mw", "active_mw", "pj_per_mac", "pj_per_sram_byte",
                  "pj_per_weight_byte")
_COMPUTE_KEYS = ("core", "dtype", "combine", "weights_in", "fuse", "measurable",
                 "cycles_per_mac", "cycles_per_element", "bytes_per_cycle", *_COMPUTE_NUMBERS)


class DeviceModelError(FitnasError):
    """A device profile's compute or power table is malformed, or lacks a coefficient a cost
    or a limit needs."""


def _number(where: str, key: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        want = "a positive number" if positive else "a non-negative number"
        raise DeviceModelError(f"device profile {where}: {key} = {value!r}; expected {want}")
    return float(value)


def _known_keys(where: str, table: str, given: Mapping[str, Any],
                accepted: Iterable[str]) -> None:
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise DeviceModelError(f"device profile {where}: unknown key {table}.{unknown[0]}; "
                               f"accepted: {', '.join(accepted)}")


def _table(where: str, key: str, value: Any, accepted: tuple[str, ...],
           positive: bool = False) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise DeviceModelError(f"device profile {where}: {key} must be a table of "
                               f"{', '.join(accepted)}; got {value!r}")
    _known_keys(where, key, value, accepted)
    return {k: _number(where, f"{key}.{k}", v, positive) for k, v in value.items()}


@dataclass(frozen=True)
class ComputeProfile:
    """How fast a device runs each kind of layer, and what power it draws doing it.

    Every coefficient is optional when the profile is read; :meth:`require` names the one a
    cost needs and lacks. See the module docstring for the formulas.
    """

    name: str
    dtype: str
    core: str = ""
    clock_hz: float | None = None
    cycles_per_mac: Mapping[str, float] = field(default_factory=dict)
    cycles_per_element: Mapping[str, float] = field(default_factory=dict)
    bytes_per_cycle: Mapping[str, float] = field(default_factory=dict)
    weights_in: str = "flash"
    layer_overhead_cycles: float = 0.0
    invoke_overhead_cycles: float = 0.0
    combine: str = "max"
    fuse: tuple[str, ...] = _DEFAULT_FUSE
    #: The profile describes this machine: its latency may also be measured (``host``).
    measurable: bool = False
    static_mw: float | None = None
    active_mw: float | None = None
    pj_per_mac: float = 0.0
    pj_per_sram_byte: float = 0.0
    pj_per_weight_byte: float = 0.0
    #: the prices of layers by ``id`` of their facts (see ``_priced``), and what ``missing`` found
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _alive: list[Any] = field(default_factory=list, init=False, repr=False, compare=False)

    # ------------------------------------------------------------- reading
    @classmethod
    def from_tables(cls, name: str, dtype: str, compute: Mapping[str, Any] | None,
                    power: Mapping[str, Any] | None, where: str = "") -> ComputeProfile:
        """A profile from a device file's ``[compute]`` and ``[power]`` tables (checked: every
        coefficient a non-negative number, the clock positive, no unknown key)."""
        where = where or name
        compute = dict(compute or {})
        power = dict(power or {})
        _known_keys(where, "compute", compute, sorted(_COMPUTE_KEYS))
        _known_keys(where, "power", power, _POWER_NUMBERS)
        kwargs: dict[str, Any] = {}
        if "dtype" in compute and compute["dtype"] != dtype:
            raise DeviceModelError(f"device profile {where}: compute.dtype = {compute['dtype']!r} "
                                   f"but the profile's dtype is {dtype!r}; the coefficients are "
                                   "for the profile's dtype")
        for key, accepted in (("combine", COMBINES), ("weights_in", WEIGHT_MEMORIES)):
            if key in compute:
                if compute[key] not in accepted:
                    raise DeviceModelError(f"device profile {where}: compute.{key} = "
                                           f"{compute[key]!r}; accepted: {', '.join(accepted)}")
                kwargs[key] = compute[key]
        if "core" in compute:
            kwargs["core"] = str(compute["core"])
        if "measurable" in compute:
            if not isinstance(compute["measurable"], bool):
                raise DeviceModelError(f"device profile {where}: compute.measurable must be true "
                                       "or false")
            kwargs["measurable"] = compute["measurable"]
        if "fuse" in compute:
            fuse = compute["fuse"]
            if not isinstance(fuse, (list, tuple)) or not all(isinstance(f, str) for f in fuse):
                raise DeviceModelError(f"device profile {where}: compute.fuse must be a list of "
                                       f"op names, e.g. {list(_DEFAULT_FUSE)}; got {fuse!r}")
            kwargs["fuse"] = tuple(fuse)
        if "clock_hz" in compute:
            kwargs["clock_hz"] = _number(where, "compute.clock_hz", compute["clock_hz"], True)
        for key in ("layer_overhead_cycles", "invoke_overhead_cycles"):
            if key in compute:
                kwargs[key] = _number(where, f"compute.{key}", compute[key])
        for key, accepted, positive in (("cycles_per_mac", MAC_KINDS, False),
                                        ("cycles_per_element", ELEMENT_KINDS, False),
                                        ("bytes_per_cycle", ("sram", "weights"), True)):
            if key in compute:
                kwargs[key] = _table(where, f"compute.{key}", compute[key], accepted, positive)
        for key in _POWER_NUMBERS:
            if key in power:
                kwargs[key] = _number(where, f"power.{key}", power[key])
        return cls(name=name, dtype=dtype, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (stored with a run, so it reopens without the profile file)."""
        compute: dict[str, Any] = {
            "core": self.core, "combine": self.combine, "weights_in": self.weights_in,
            "fuse": list(self.fuse), "measurable": self.measurable,
            "layer_overhead_cycles": self.layer_overhead_cycles,
            "invoke_overhead_cycles": self.invoke_overhead_cycles,
            "cycles_per_mac": dict(self.cycles_per_mac),
            "cycles_per_element": dict(self.cycles_per_element),
            "bytes_per_cycle": dict(self.bytes_per_cycle),
        }
        if self.clock_hz is not None:
            compute["clock_hz"] = self.clock_hz
        power: dict[str, Any] = {k: getattr(self, k) for k in _POWER_NUMBERS
                                 if getattr(self, k) is not None}
        return {"name": self.name, "dtype": self.dtype, "compute": compute, "power": power}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComputeProfile:
        try:
            return cls.from_tables(str(data["name"]), str(data["dtype"]), data.get("compute"),
                                   data.get("power"))
        except (KeyError, TypeError) as err:
            raise DeviceModelError(f"a stored device model lacks {err}") from None

    # ----------------------------------------------------------- checking
    def missing(self, energy: bool = False) -> list[str]:
        """The coefficients latency (and energy, with ``energy``) need that this profile lacks
        (worked out once: the profile is frozen)."""
        key = ("missing", energy)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._missing(energy)
        return list(found)

    def _missing(self, energy: bool) -> list[str]:
        out = [] if self.clock_hz is not None else ["compute.clock_hz"]
        out += [f"compute.cycles_per_mac.{k}" for k in MAC_KINDS if k not in self.cycles_per_mac]
        out += [f"compute.cycles_per_element.{k}" for k in ELEMENT_KINDS
                if k not in self.cycles_per_element]
        if energy:
            out += [f"power.{k}" for k in ("static_mw", "active_mw") if getattr(self, k) is None]
        return out

    @property
    def has_latency(self) -> bool:
        return not self.missing()

    @property
    def has_energy(self) -> bool:
        return not self.missing(energy=True)

    def require(self, what: str, energy: bool = False) -> None:
        """Raise a one-line :class:`DeviceModelError` naming the profile, the first missing key
        and ``what`` needs it (e.g. ``"--max-energy-uj"``)."""
        missing = self.missing(energy)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            fix = ("add the board's power to the profile's [power] table (from its datasheet or "
                   "a measurement)" if missing[0].startswith("power.") else
                   "add it to the profile or calibrate one (`fitnas calibrate`)")
            raise DeviceModelError(f"device profile {self.name} has no {missing[0]}{more}, which "
                                   f"{what} needs; {fix}")

    def check_dtype(self, dtype: str) -> None:
        if dtype != self.dtype:
            raise DeviceModelError(f"device profile {self.name} gives throughputs for "
                                   f"{self.dtype}, not {dtype}; use --dtype {self.dtype} or a "
                                   f"profile calibrated for {dtype}")

    def describe(self) -> list[str]:
        """Lines for people: the core, clock and the main coefficients."""
        if self.clock_hz is None:
            return []
        lines = [f"{self.core or 'core'} at {self.clock_hz / 1e6:g} MHz, {self.dtype}; cycles per "
                 "MAC " + ", ".join(f"{k} {v:g}" for k, v in self.cycles_per_mac.items())]
        if self.has_energy:
            lines.append(f"power: static {self.static_mw:g} mW, active {self.active_mw:g} mW")
        return lines


@dataclass(frozen=True)
class LayerCost:
    """One layer's share of a network's latency and energy on a device."""

    name: str
    op: str
    kind: str
    work: int
    macs: int
    activation_bytes: int
    weight_bytes: int
    compute_ms: float
    memory_ms: float
    latency_ms: float
    energy_uj: float | None
    power_mw: float | None
    #: the layer this node is folded or fused into (it then costs nothing)
    fused_into: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DeviceCosts:
    """A network's latency, energy and power on one device (``None``: the profile has no
    power figures)."""

    device: str
    dtype: str
    latency_ms: float
    energy_uj: float | None
    avg_power_mw: float | None
    peak_power_mw: float | None
    peak_power_layer: str | None
    layers: tuple[LayerCost, ...] = ()

    def costs(self) -> dict[str, float]:
        """The :data:`DEVICE_COST_KEYS` that are known."""
        return {k: getattr(self, k) for k in DEVICE_COST_KEYS if getattr(self, k) is not None}

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in ("device", "dtype", *DEVICE_COST_KEYS,
                                              "peak_power_layer")}
        data["layers"] = [layer.to_dict() for layer in self.layers]
        return data


def layer_kind(op: str, attrs: Mapping[str, Any], in_channels: int | None) -> str | None:
    """The :data:`LAYER_KINDS` entry of a node, or ``None`` for a view or a weight."""
    if op in _VIEWS:
        return None
    if op in ("conv2d", "fac_conv", "learned_group_conv"):
        if op == "conv2d":
            groups = attrs.get("groups", 1)
            if in_channels is not None and groups == in_channels and groups > 1:
                return "depthwise"
            kernel = attrs.get("kernel")
            if groups == 1 and kernel in (1, (1, 1), [1, 1]):
                return "pointwise"
        return "conv"
    if op == "dwconv":
        return "depthwise"
    if op == "pwconv":
        return "pointwise"
    if op == "linear":
        return "linear"
    if op in _POOLS:
        return "pool"
    return "elementwise"


def _work(kind: str, op: str, attrs: Mapping[str, Any], macs: int, out_elements: int,
          in_elements: int) -> int:
    if kind in _PRODUCERS:
        return macs
    if kind == "pool":
        if op in ("maxpool", "avgpool"):
            kh, kw = attrs["kernel"] if isinstance(attrs["kernel"], tuple) else \
                (attrs["kernel"], attrs["kernel"])
            return out_elements * kh * kw
        return in_elements
    return out_elements


# per node, independent of the profile: (kind, work, macs, activation elements, weights)
_Layer = tuple[str | None, int, int, int, int]
_LAYERS: dict[int, tuple[Any, _Layer]] = {}
_LAYERS_KEPT = 65_536


def _layers(graph: ArchGraph) -> list[_Layer]:
    """Each node's kind, work, MACs, activation elements moved and weight elements (memoized
    by the node's facts: the same op with the same attributes on the same input shapes is the
    same layer)."""
    facts_of = graph.node_facts()
    shapes = (graph.input_shape, *(f.shape for f in facts_of))
    out: list[_Layer] = []
    for facts, attrs, ins in zip(facts_of, graph.node_attrs(), graph.node_inputs()):
        hit = _LAYERS.get(id(facts))
        if hit is not None and hit[0] is facts:
            out.append(hit[1])
            continue
        op = facts.spec.name
        in_shape = shapes[ins[0]] if ins else ()
        kind = layer_kind(op, attrs, in_shape[1] if len(in_shape) > 1 else None)
        if kind is None:
            layer: _Layer = (None, 0, 0, 0, 0)
        else:
            work = _work(kind, op, attrs, facts.macs, facts.elements, facts.input_elements)
            layer = (kind, work, facts.macs, facts.input_elements + facts.elements, facts.params)
        if len(_LAYERS) >= _LAYERS_KEPT:
            _LAYERS.clear()
        _LAYERS[id(facts)] = (facts, layer)
        out.append(layer)
    return out


_ROLE_NONE, _ROLE_PRODUCER, _ROLE_FOLD, _ROLE_FUSE = 0, 1, 2, 3


def _role(kind: str | None, op: str, fuse: frozenset[str]) -> int:
    """How a node takes part in fusion: a producer (conv or linear), a batch norm that may be
    folded into one, an activation that may be fused into one, or none."""
    if kind in _PRODUCERS:
        return _ROLE_PRODUCER
    if op in fuse:
        return _ROLE_FOLD if op == "batchnorm" else _ROLE_FUSE
    return _ROLE_NONE


def _terms(profile: ComputeProfile, kind: str, work: int, act_bytes: int, weight_bytes: int
           ) -> tuple[float, float]:
    """A layer's compute and memory cycles (the module docstring's ``compute_l``, ``memory_l``)."""
    per_unit = profile.cycles_per_mac.get(kind)
    if per_unit is None:
        per_unit = profile.cycles_per_element[kind]
    sram_bpc = profile.bytes_per_cycle.get("sram")
    weight_bpc = profile.bytes_per_cycle.get("weights")
    memory = (act_bytes / sram_bpc if sram_bpc else 0.0) + \
        (weight_bytes / weight_bpc if weight_bpc else 0.0)
    return work * per_unit, memory


def _priced(profile: ComputeProfile, graph: ArchGraph, bpe: int
            ) -> list[tuple[float, float, float, int]]:
    """Each node's ``(milliseconds, microjoules, milliwatts, fusion role)`` on ``profile``,
    unfused, memoized per profile by the node's facts: the cache is keyed by ``id(facts)`` and
    keeps every facts object it prices alive (``profile._alive``), so an id it holds is never
    reused by another object; both are cleared together."""
    cache, alive = profile._cache, profile._alive
    facts_of = graph.node_facts()
    out = list(map(cache.get, map(id, facts_of)))
    if None not in out:
        return out  # type: ignore[return-value]
    clock = float(profile.clock_hz)  # type: ignore[arg-type]
    watts = (profile.static_mw or 0.0) + (profile.active_mw or 0.0)
    use_max = profile.combine == "max"
    fuse = frozenset(profile.fuse)
    if len(alive) + len(facts_of) > _LAYERS_KEPT:
        for facts in alive:
            cache.pop(id(facts), None)
        alive.clear()
    for k, (facts, (kind, work, macs, act, weights)) in enumerate(
            zip(facts_of, _layers(graph))):
        if out[k] is not None:
            continue
        found = cache.get(id(facts))
        if found is not None:
            out[k] = found
            continue
        role = _role(kind, facts.spec.name, fuse)
        if kind is None:
            entry = (0.0, 0.0, 0.0, role)
        else:
            act_bytes, weight_bytes = act * bpe, weights * bpe
            compute, memory = _terms(profile, kind, work, act_bytes, weight_bytes)
            cycles = profile.layer_overhead_cycles + (max(compute, memory) if use_max
                                                      else compute + memory)
            ms = cycles * 1000.0 / clock
            moved = 1e-6 * (profile.pj_per_mac * macs + profile.pj_per_sram_byte * act_bytes
                            + profile.pj_per_weight_byte * weight_bytes)
            # the power is the running power plus what moving data adds, so a layer that adds
            # nothing draws exactly the running power (no rounding above it)
            entry = (ms, watts * ms + moved, watts + moved / ms if ms > 0 else 0.0, role)
        cache[id(facts)] = entry
        alive.append(facts)
        out[k] = entry
    return out  # type: ignore[return-value]


def _fusions(graph: ArchGraph, roles: list[int]) -> list[int]:
    """For each node, the index (1-based) of the layer it is folded or fused into, else 0: a
    batch norm right after a convolution or linear layer, an activation after one or after its
    folded batch norm, when that tensor has no other reader and is not an output."""
    into = [0] * (len(roles) + 1)
    candidates = [k for k, role in enumerate(roles, start=1) if role >= _ROLE_FOLD]
    if not candidates:
        return into
    inputs = graph.node_inputs()
    readers = Counter(chain.from_iterable(inputs))
    outputs = set(graph.output_indices())
    for k in candidates:
        ins = inputs[k - 1]
        if len(ins) != 1:
            continue
        j = ins[0]
        if not j or readers[j] != 1 or j in outputs:
            continue
        if roles[k - 1] == _ROLE_FOLD:
            if not into[j] and roles[j - 1] == _ROLE_PRODUCER:
                into[k] = j
        else:
            target = into[j] or j
            if roles[target - 1] == _ROLE_PRODUCER:
                into[k] = target
    return into


def device_costs(graph: ArchGraph, profile: ComputeProfile, dtype: str | None = None,
                 layers: bool = False) -> DeviceCosts:
    """Latency, energy, average and peak power of ``graph`` on ``profile`` (see the module
    docstring); ``layers=True`` adds the per-layer breakdown."""
    dtype = dtype or profile.dtype
    profile.check_dtype(dtype)
    profile.require("a latency estimate")
    has_power = profile.has_energy
    priced = _priced(profile, graph, DTYPE_BYTES[dtype])
    into = _fusions(graph, list(map(itemgetter(3), priced)))
    kept = list(compress(priced, map(not_, islice(into, 1, None)))) if any(into) else priced
    invoke_ms = profile.invoke_overhead_cycles * 1000.0 / float(profile.clock_hz)  # type: ignore
    total_ms = invoke_ms + sum(map(itemgetter(0), kept))
    breakdown: tuple[LayerCost, ...] = ()
    if layers:
        breakdown = _breakdown(graph, profile, priced, into, has_power)
    if not has_power:
        return DeviceCosts(profile.name, dtype, total_ms, None, None, None, None, breakdown)
    watts = (profile.static_mw or 0.0) + (profile.active_mw or 0.0)
    total_uj = watts * invoke_ms + sum(map(itemgetter(1), kept))
    # the peak is the running power unless a layer adds to it by moving data; then the first
    # layer with the largest power is named
    peak_mw, peak_at = (watts, None) if total_ms > 0 else (0.0, None)
    top = max(map(itemgetter(2), kept), default=0.0)  # a layer of no time has power 0
    if top > peak_mw:
        k = next(k for k, (entry, fused) in enumerate(zip(priced, islice(into, 1, None)))
                 if entry[2] == top and not fused)
        peak_mw, peak_at = top, graph.order[k]
    moved_uj = total_uj - watts * total_ms
    avg = watts + max(moved_uj, 0.0) / total_ms if total_ms > 0 else 0.0
    return DeviceCosts(profile.name, dtype, total_ms, total_uj, min(avg, peak_mw), peak_mw,
                       peak_at, breakdown)


def _breakdown(graph: ArchGraph, profile: ComputeProfile,
               priced: list[tuple[float, float, float, int]], into: list[int], has_power: bool
               ) -> tuple[LayerCost, ...]:
    """The per-layer rows of :func:`device_costs` (computed again, with the compute and memory
    terms kept apart)."""
    ms_per_cycle = 1000.0 / float(profile.clock_hz)  # type: ignore[arg-type]
    bpe = DTYPE_BYTES[profile.dtype]
    names = graph.order
    rows: list[LayerCost] = []
    for k, ((kind, work, macs, act, weights), (ms, energy, power, _)) in enumerate(
            zip(_layers(graph), priced)):
        op = graph.node_facts()[k].spec.name
        fused = into[k + 1]
        if kind is None or fused:
            rows.append(LayerCost(names[k], op, kind or "view", 0, 0, 0, 0, 0.0, 0.0, 0.0,
                                  0.0 if has_power else None, None,
                                  names[fused - 1] if fused else None))
            continue
        act_bytes, weight_bytes = act * bpe, weights * bpe
        compute, memory = _terms(profile, kind, work, act_bytes, weight_bytes)
        rows.append(LayerCost(names[k], op, kind, work, macs, act_bytes, weight_bytes,
                              compute * ms_per_cycle, memory * ms_per_cycle,
                              ms, energy if has_power else None,
                              power if has_power and ms > 0 else None))
    return tuple(rows)


#: The terms of the latency model in ``combine = "sum"`` form, in the order of
#: :func:`latency_features` (each multiplies one coefficient; see ``fitnas.costs.calibrate``).
FEATURES: tuple[str, ...] = (*(f"cycles_per_mac.{k}" for k in MAC_KINDS),
                             *(f"cycles_per_element.{k}" for k in ELEMENT_KINDS),
                             "sram_bytes", "weight_bytes", "layer_overhead_cycles",
                             "invoke_overhead_cycles")


def latency_features(graph: ArchGraph, dtype: str, fuse: Iterable[str] = _DEFAULT_FUSE
                     ) -> list[float]:
    """The totals over ``graph``'s layers that multiply each coefficient of the ``sum`` form of
    the latency model (:data:`FEATURES`): the work of each kind, the activation and weight
    bytes moved, the number of layers and 1 (the inference). A latency in cycles is their dot
    product with the coefficients (bytes terms: cycles per byte, ``1 / bytes_per_cycle``)."""
    bpe = DTYPE_BYTES[dtype]
    table = _layers(graph)
    fusable = frozenset(fuse)
    roles = [_role(kind, facts.spec.name, fusable)
             for (kind, *_), facts in zip(table, graph.node_facts())]
    into = _fusions(graph, roles)
    totals = dict.fromkeys(FEATURES, 0.0)
    for (kind, work, _, act, weights), fused in zip(table, islice(into, 1, None)):
        if kind is None or fused:
            continue
        table_name = "cycles_per_mac" if kind in _PRODUCERS else "cycles_per_element"
        totals[f"{table_name}.{kind}"] += work
        totals["sram_bytes"] += act * bpe
        totals["weight_bytes"] += weights * bpe
        totals["layer_overhead_cycles"] += 1
    totals["invoke_overhead_cycles"] = 1.0
    return [totals[name] for name in FEATURES]
