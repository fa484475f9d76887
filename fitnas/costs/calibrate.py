"""Fitting a device's latency coefficients to measurements (``fitnas calibrate``).

The latency model of ``fitnas.costs.device`` in its ``combine = "sum"`` form is linear in its
coefficients: a network's cycles are the dot product of its :func:`~fitnas.costs.device.
latency_features` (work per layer kind, activation and weight bytes moved, layers, 1) with
``(c_conv, c_depthwise, c_pointwise, c_linear, c_pool, c_elementwise, 1/b_sram, 1/b_weights,
o_layer, o_invoke)``. Given measured latencies of networks or single layers, :func:`fit`
finds the non-negative coefficients that minimize the squared *relative* error

    min_{x >= 0}  sum_i ((F_i . x - T_i) / T_i)^2

(non-negative least squares, Lawson and Hanson 1974, ``scipy.optimize.nnls``, on the rows
scaled by ``1 / T_i`` so a 0.05 ms layer weighs as much as a 50 ms one). Coefficients whose
feature is zero in every measurement are not fitted: they keep the base profile's value.

Measurements come from two places:

* :func:`host_benchmarks` and :func:`measure_host`: micro-benchmarks on this machine, a range of
  shapes for every layer kind, single layers and stacks of 2 and 4 (which separate the per-layer
  from the per-inference overhead), each timed by onnxruntime as ``fitnas.costs.latency``
  measures a candidate;
* :func:`read_measurements`: a CSV file a user measured on a board, one row per layer or per
  network (columns in :data:`CSV_HELP`).

:func:`profile_toml` writes the fitted profile as a device file ``--device`` accepts, every
coefficient with a comment saying where it came from.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..arch import ArchGraph
from ..errors import FitnasError
from ..units import parse_shape
from .device import (
    ELEMENT_KINDS,
    FEATURES,
    MAC_KINDS,
    ComputeProfile,
    DeviceModelError,
    latency_features,
)

__all__ = [
    "CSV_HELP",
    "CalibrationError",
    "Fit",
    "Measurement",
    "fit",
    "host_benchmarks",
    "measure_host",
    "profile_toml",
    "read_measurements",
]

CSV_HELP = (
    "one row per measurement with time_ms (or time_us), optionally clock_hz (the clock it ran "
    "at, if not the profile's), energy_uj and source, and either op, input and attrs (a layer: "
    "a catalogue op such as conv2d, dwconv, pwconv, linear, maxpool, avgpool, global_avgpool, "
    "relu, add, batchnorm; the input shape batch first, e.g. 1x16x32x32; attrs as "
    "key=value pairs separated by spaces, e.g. \"out_channels=32 kernel=3 padding=1\") or model "
    "(a network: any MODEL form `fitnas estimate` accepts, a path relative to the CSV file)"
)


class CalibrationError(FitnasError):
    """Unusable measurements or calibration settings."""


@dataclass(frozen=True)
class Measurement:
    """One measured latency: a network (or a single layer as a one-node network)."""

    label: str
    graph: ArchGraph
    time_ms: float
    #: the clock the measurement ran at (``None``: the profile's); cycles = time x clock, so
    #: a measurement on a sibling board at another clock still fits a profile in cycles
    clock_hz: float | None = None
    energy_uj: float | None = None
    source: str = ""


@dataclass(frozen=True)
class Fit:
    """A fitted profile and how well it explains the measurements it was fitted to."""

    profile: ComputeProfile
    fitted: tuple[str, ...]
    kept: tuple[str, ...]
    rows: int
    median_relative_error: float
    max_relative_error: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile.to_dict(), "fitted": list(self.fitted),
                "kept": list(self.kept), "rows": self.rows,
                "median_relative_error": self.median_relative_error,
                "max_relative_error": self.max_relative_error, "source": self.source}


# ------------------------------------------------------------------ measurements on this host
def _one(input_shape: tuple[int, ...], op: str, attrs: dict[str, Any], depth: int = 1,
         arity: int = 1) -> ArchGraph:
    nodes: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = []
    previous = "input"
    for i in range(depth):
        name = f"l{i}"
        nodes.append((name, op, (previous,) * arity, dict(attrs)))
        previous = name
    return ArchGraph(input_shape, nodes, name=f"{op}x{depth}")


def host_benchmarks() -> list[tuple[str, ArchGraph]]:
    """The micro-benchmarks :func:`measure_host` times: every layer kind over a range of
    shapes (channels 3-256, sizes 4-64), single layers and stacks of 2 and 4.

    (Random graphs of ``fitnas.arch.random_graph`` were tried as well and left out: their
    few-channel layers and unfused sigmoid/swish ops pulled the fit away from the networks of
    the search spaces, Kendall's tau on nb201 fell from 0.76 to 0.45.)"""
    out: list[tuple[str, ArchGraph]] = []

    def add(label: str, graph: ArchGraph) -> None:
        out.append((label, graph))

    for c_in, c_out, size, k in ((3, 16, 32, 3), (16, 16, 32, 3), (32, 32, 16, 3),
                                 (16, 32, 32, 5), (64, 64, 8, 3), (8, 8, 64, 3),
                                 (128, 128, 4, 3), (24, 48, 16, 3)):
        add(f"conv {c_in}->{c_out} {size}x{size} k{k}",
            _one((1, c_in, size, size), "conv2d",
                 {"out_channels": c_out, "kernel": k, "padding": k // 2, "bias": False}))
    for depth in (2, 4):
        add(f"conv 16->16 16x16 k3 x{depth}",
            _one((1, 16, 16, 16), "conv2d",
                 {"out_channels": 16, "kernel": 3, "padding": 1, "bias": False}, depth))
    for c, size, k in ((16, 32, 3), (32, 16, 3), (64, 8, 5), (128, 8, 3), (96, 32, 3)):
        add(f"dwconv {c} {size}x{size} k{k}",
            _one((1, c, size, size), "dwconv", {"kernel": k, "padding": k // 2, "bias": False}))
    for depth in (2, 4):
        add(f"dwconv 32 16x16 k3 x{depth}",
            _one((1, 32, 16, 16), "dwconv", {"kernel": 3, "padding": 1, "bias": False}, depth))
    for c_in, c_out, size in ((16, 32, 32), (32, 32, 16), (64, 128, 8), (128, 64, 8),
                              (256, 256, 4), (8, 64, 64)):
        add(f"pwconv {c_in}->{c_out} {size}x{size}",
            _one((1, c_in, size, size), "pwconv", {"out_channels": c_out, "bias": False}))
    for depth in (2, 4):
        add(f"pwconv 32->32 16x16 x{depth}",
            _one((1, 32, 16, 16), "pwconv", {"out_channels": 32, "bias": False}, depth))
    for f_in, f_out in ((64, 10), (256, 256), (1024, 128), (2048, 512), (512, 1000)):
        add(f"linear {f_in}->{f_out}", _one((1, f_in), "linear", {"out_features": f_out}))
    for c, size in ((16, 32), (64, 16), (32, 64)):
        add(f"maxpool k3 s1 {c} {size}x{size}",
            _one((1, c, size, size), "maxpool", {"kernel": 3, "stride": 1, "padding": 1}))
        add(f"avgpool k2 {c} {size}x{size}", _one((1, c, size, size), "avgpool", {"kernel": 2}))
        add(f"global_avgpool {c} {size}x{size}", _one((1, c, size, size), "global_avgpool", {}))
    for c, size in ((16, 32), (64, 16), (32, 64), (128, 8)):
        shape = (1, c, size, size)
        add(f"relu {c} {size}x{size}", _one(shape, "relu", {}))
        add(f"add {c} {size}x{size}", _one(shape, "add", {}, arity=2))
        add(f"batchnorm {c} {size}x{size}", _one(shape, "batchnorm", {}))
        add(f"concat {c} {size}x{size}", _one(shape, "concat", {}, arity=2))
    for depth in (2, 4):
        add(f"relu 32 32x32 x{depth}", _one((1, 32, 32, 32), "relu", {}, depth))
    return out


def measure_host(repeats: int = 30, warmup: int = 5, threads: int = 1,
                 benchmarks: Sequence[tuple[str, ArchGraph]] | None = None,
                 progress: Any = None, rounds: int = 2) -> list[Measurement]:
    """Time every micro-benchmark on this machine: onnxruntime, the smallest of ``rounds``
    medians of ``repeats`` runs each (a round disturbed by another process is dropped),
    measured afresh, not from a cache."""
    from .latency import measure_latency_ms

    out = []
    items = list(benchmarks if benchmarks is not None else host_benchmarks())
    for i, (label, graph) in enumerate(items):
        ms = min(measure_latency_ms(graph, repeats=repeats, warmup=warmup, threads=threads,
                                    use_cache=False) for _ in range(rounds))
        out.append(Measurement(label, graph, ms))
        if progress is not None:
            progress(i + 1, len(items), label, ms)
    return out


# ------------------------------------------------------------------- measurements from a file
def _value(text: str) -> Any:
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def _attrs(text: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CalibrationError(f"{where}: bad attrs item {item!r}; expected key=value, e.g. "
                                   "kernel=3")
        parsed = _value(value)
        out[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def _time(row: Mapping[str, str], where: str) -> float:
    for key, scale in (("time_ms", 1.0), ("time_us", 1e-3)):
        value = _optional(row, key, where)
        if value is not None:
            return value * scale
    raise CalibrationError(f"{where}: no time_ms or time_us")


def read_measurements(path: str | Path, input_shape: tuple[int, ...] | None = None
                      ) -> list[Measurement]:
    """The measurements of a CSV file (:data:`CSV_HELP`); every bad row is a one-line error
    naming the file, the line and the value."""
    from ..modelspec import load_graph

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise CalibrationError(f"cannot read measurements {str(path)!r}: "
                               f"{err.strerror or err}") from None
    # each row with the line it ends on (blank lines and quoted line breaks counted)
    reader = csv.DictReader(text.splitlines())
    rows = [(reader.line_num, row) for row in reader]
    if not rows:
        raise CalibrationError(f"{path}: no measurements; expected a header line and {CSV_HELP}")
    out = []
    for line, row in rows:
        where = f"{path}:{line}"
        row = {(k or "").strip(): (v or "") for k, v in row.items()}
        ms = _time(row, where)
        model = row.get("model", "").strip()
        try:
            if model:
                graph = load_graph(_relative(model, path.parent), input_shape).graph
                label = model
            else:
                op = row.get("op", "").strip()
                if not op:
                    raise CalibrationError(f"{where}: neither op nor model given; expected "
                                           f"{CSV_HELP}")
                shape = parse_shape(row.get("input", ""))
                arity = 2 if op in ("add", "mul", "concat") else 1
                graph = _one(shape, op, _attrs(row.get("attrs", ""), where), arity=arity)
                label = f"{op} {row.get('input', '').strip()} {row.get('attrs', '').strip()}"
        except CalibrationError:
            raise
        except FitnasError as err:
            raise CalibrationError(f"{where}: {err}") from None
        clock = _optional(row, "clock_hz", where)
        energy = _optional(row, "energy_uj", where)
        out.append(Measurement(label.strip(), graph, ms, clock, energy,
                               row.get("source", "").strip()))
    return out


def _relative(model: str, folder: Path) -> str:
    """A MODEL whose file part (``file.py:FACTORY``, ``arch.json``) is relative to ``folder``."""
    head, sep, tail = model.rpartition(":")
    file_part, suffix = (head, sep + tail) if sep and head.endswith(".py") else (model, "")
    if file_part.endswith((".py", ".json")) and not Path(file_part).is_absolute():
        candidate = folder / file_part
        if candidate.exists():
            return f"{candidate}{suffix}"
    return model


def _optional(row: Mapping[str, str], key: str, where: str) -> float | None:
    text = (row.get(key) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise CalibrationError(f"{where}: bad {key} {text!r}; expected a positive number")
    return value


# ------------------------------------------------------------------------------------- fitting
_BYTES = {"sram_bytes": "sram", "weight_bytes": "weights"}


def _coefficients(profile: ComputeProfile) -> list[float | None]:
    values: list[float | None] = []
    for name in FEATURES:
        table, _, key = name.partition(".")
        if table == "cycles_per_mac":
            values.append(profile.cycles_per_mac.get(key))
        elif table == "cycles_per_element":
            values.append(profile.cycles_per_element.get(key))
        elif name in _BYTES:
            bpc = profile.bytes_per_cycle.get(_BYTES[name])
            values.append(1.0 / bpc if bpc else 0.0)
        else:
            values.append(float(getattr(profile, name)))
    return values


#: Names for groups of coefficients in ``only`` and ``tie``.
GROUPS: dict[str, tuple[str, ...]] = {
    "macs": tuple(f"cycles_per_mac.{k}" for k in MAC_KINDS),
    "elements": tuple(f"cycles_per_element.{k}" for k in ELEMENT_KINDS),
    "bytes": ("sram_bytes", "weight_bytes"),
    "overheads": ("layer_overhead_cycles", "invoke_overhead_cycles"),
}


def expand(names: Sequence[str]) -> list[str]:
    """Coefficient names with the :data:`GROUPS` expanded; an unknown name lists the known."""
    out: list[str] = []
    short = {name.partition(".")[2]: name for name in FEATURES if "." in name}
    for name in names:
        members = GROUPS.get(name, (short.get(name, name),))
        for member in members:
            if member not in FEATURES:
                raise CalibrationError(f"unknown coefficient {name!r}; accepted: "
                                       f"{', '.join([*GROUPS, *FEATURES])}")
            if member not in out:
                out.append(member)
    return out


def fit(measurements: Sequence[Measurement], base: ComputeProfile, source: str = "",
        clock_hz: float | None = None, only: Sequence[str] | None = None,
        tie: Sequence[Sequence[str]] = ()) -> Fit:
    """The coefficients of ``base`` refitted to ``measurements`` (see the module docstring),
    in the ``sum`` form; ``clock_hz`` replaces the base's clock (the unit of the cycles).

    ``only`` (coefficient or :data:`GROUPS` names) fits those and keeps the rest at the base's
    values; ``tie`` lists groups of coefficients fitted as one (their base ratios kept when the
    base has them all, else equal): with few measurements, ``tie=[["macs"]]`` fits one cycles
    per MAC for every kind of layer instead of four that the data cannot tell apart."""
    from scipy.optimize import nnls

    if len(measurements) < 2:
        raise CalibrationError(f"calibration needs at least 2 measurements, got "
                               f"{len(measurements)}")
    clock = clock_hz or base.clock_hz
    if clock is None:
        raise DeviceModelError(f"device profile {base.name} has no compute.clock_hz, which "
                               "calibration needs (the unit of its cycles); add it or give "
                               "the clock (--clock-hz)")
    features = np.array([latency_features(m.graph, base.dtype, base.fuse)
                         for m in measurements])
    cycles = np.array([m.time_ms * 1e-3 * (m.clock_hz or clock) for m in measurements])
    base_values = _coefficients(base)
    chosen = set(expand(only)) if only is not None else set(FEATURES)
    # columns: one per free coefficient, or one per tied group (members weighted by ratio)
    columns: list[list[tuple[int, float]]] = []
    grouped: set[str] = set()
    for group in tie:
        members = [m for m in expand(group) if m in chosen]
        if not members:
            continue
        ratios = [base_values[FEATURES.index(m)] for m in members]
        weights = [float(r or 0.0) for r in ratios] if all(ratios) else [1.0] * len(members)
        columns.append([(FEATURES.index(m), w) for m, w in zip(members, weights)])
        grouped.update(members)
    columns += [[(j, 1.0)] for j, name in enumerate(FEATURES)
                if name in chosen and name not in grouped]
    columns = [c for c in columns if any(features[:, j].any() for j, _ in c)]
    if not columns:
        raise CalibrationError("no coefficient to fit: the measurements exercise none of "
                               f"{', '.join(sorted(chosen))}")
    design = np.array([[sum(features[i, j] * w for j, w in column) for column in columns]
                       for i in range(len(measurements))])
    known = np.array([sum(features[i, j] * (base_values[j] or 0.0)
                          for j in range(len(FEATURES)) if not any(j == c for col in columns
                                                                   for c, _ in col))
                      for i in range(len(measurements))])
    scale = design.max(axis=0)
    weighted = design / scale / cycles[:, None]
    solution, _ = nnls(weighted, 1.0 - known / cycles)
    values: list[float | None] = list(base_values)
    fitted: list[str] = []
    for column, x in zip(columns, solution / scale):
        for j, w in column:
            values[j] = float(x * w)
            fitted.append(FEATURES[j])
    predicted = features @ np.array([v or 0.0 for v in values])
    errors = np.abs(predicted - cycles) / cycles
    profile = _with_values(base, values, clock)
    return Fit(profile=profile, fitted=tuple(f for f in FEATURES if f in fitted),
               kept=tuple(f for f in FEATURES if f not in fitted),
               rows=len(measurements), median_relative_error=float(np.median(errors)),
               max_relative_error=float(errors.max()), source=source)


def _with_values(base: ComputeProfile, values: Sequence[float | None], clock: float
                 ) -> ComputeProfile:
    per_mac = dict(base.cycles_per_mac)
    per_element = dict(base.cycles_per_element)
    bytes_per_cycle: dict[str, float] = {}
    overheads: dict[str, float] = {}
    for name, value in zip(FEATURES, values):
        table, _, key = name.partition(".")
        if value is None:
            continue
        if table == "cycles_per_mac":
            per_mac[key] = value
        elif table == "cycles_per_element":
            per_element[key] = value
        elif name in _BYTES:
            if value > 0:
                bytes_per_cycle[_BYTES[name]] = 1.0 / value
        else:
            overheads[name] = value
    return replace(base, clock_hz=clock, combine="sum", cycles_per_mac=per_mac,
                   cycles_per_element=per_element, bytes_per_cycle=bytes_per_cycle,
                   layer_overhead_cycles=overheads.get("layer_overhead_cycles",
                                                       base.layer_overhead_cycles),
                   invoke_overhead_cycles=overheads.get("invoke_overhead_cycles",
                                                        base.invoke_overhead_cycles))


# ------------------------------------------------------------------------------------- writing
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if "e" not in f"{value:.6g}" else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _power_source(device: Any, key: str) -> str:
    sources = device.sources
    return str(sources.get(f"power.{key}") or sources.get("power") or "see its file")


def profile_toml(result: Fit, device: Any, name: str) -> str:
    """The text of a device profile file: ``device``'s description, memory and power with the
    fitted ``[compute]`` table, each coefficient under a comment naming its origin."""
    profile = result.profile
    stamp = time.strftime("%Y-%m-%d")
    fitted = (f"fitted by `fitnas calibrate` on {stamp} from {result.source} ({result.rows} "
              f"measurements; median relative error {100 * result.median_relative_error:.1f}%, "
              f"largest {100 * result.max_relative_error:.1f}%)")
    kept = f"from profile {device.name} (no measurement of this kind, not fitted)"
    lines = [f"# {name}: a device profile written by `fitnas calibrate` on {stamp}.",
             f"# Base profile: {device.name} ({device.path or 'built in'}).",
             f"description = {_toml_value(device.description + ' (calibrated)')}",
             f"dtype = {_toml_value(profile.dtype)}"]
    if device.limits.schedule != "default":
        lines.append(f"schedule = {_toml_value(device.limits.schedule)}")
    lines.append("")
    if device.memory:
        lines.append("[memory]")
        for key, value in device.memory.items():
            lines += [f"# from profile {device.name}: {device.sources.get(key, 'see its file')}",
                      f"{key} = {value}"]
        lines.append("")
    # the base's other limits (its [limits] table), so the calibrated profile limits the same
    from ..devices.registry import MEMORY_LIMITS

    from_memory = {MEMORY_LIMITS[key] for key in device.memory}
    extra = {k: v for k, v in device.limits.active().items() if k not in from_memory}
    if extra:
        lines.append("[limits]")
        for key, value in extra.items():
            lines += [f"# from profile {device.name}",
                      f"{key} = {repr(float(value)) if isinstance(value, float) else value}"]
        lines.append("")
    if device.reserve:
        lines.append("[reserve]")
        for key, value in device.reserve.items():
            lines += [f"# from profile {device.name}", f"{key} = {_toml_value(value)}"]
        lines.append("")
    lines += ["[compute]",
              "# what runs the network (from the base profile)",
              f"core = {_toml_value(profile.core)}",
              "# the unit of every cycle count below; " + (
                  f"from profile {device.name}" if device.compute is not None
                  and device.compute.clock_hz == profile.clock_hz else
                  "this machine's clock (/proc/cpuinfo or --clock-hz)" if profile.measurable
                  else "given with --clock-hz"),
              f"clock_hz = {_toml_value(float(profile.clock_hz or 0))}",
              "# the fitted form: every term adds (fitnas.costs.device, combine = \"sum\")",
              'combine = "sum"',
              f"# from profile {device.name}",
              f"weights_in = {_toml_value(profile.weights_in)}",
              f"# from profile {device.name}",
              f"fuse = {_toml_value(list(profile.fuse))}",
              f"# from profile {device.name}: whether this profile is the machine fitnas runs on",
              f"measurable = {_toml_value(profile.measurable)}"]
    for key in ("layer_overhead_cycles", "invoke_overhead_cycles"):
        lines += [f"# {fitted if key in result.fitted else kept}",
                  f"{key} = {_toml_value(float(getattr(profile, key)))}"]
    for table, kinds in (("cycles_per_mac", MAC_KINDS), ("cycles_per_element", ELEMENT_KINDS)):
        lines += ["", f"[compute.{table}]"]
        values = getattr(profile, table)
        for kind in kinds:
            if kind in values:
                origin = fitted if f"{table}.{kind}" in result.fitted else kept
                lines += [f"# {origin}", f"{kind} = {_toml_value(float(values[kind]))}"]
    if profile.bytes_per_cycle:
        lines += ["", "[compute.bytes_per_cycle]"]
        for key, value in profile.bytes_per_cycle.items():
            feature = "sram_bytes" if key == "sram" else "weight_bytes"
            lines += [f"# {fitted if feature in result.fitted else kept}",
                      f"{key} = {_toml_value(float(value))}"]
    power = profile.to_dict()["power"] if profile.static_mw is not None or \
        profile.active_mw is not None else {}
    if power:
        lines += ["", "[power]"]
        for key, value in power.items():
            lines += [f"# from profile {device.name}: {_power_source(device, key)}",
                      f"{key} = {_toml_value(float(value))}"]
    lines += ["", "[sources]",
              f"compute = {_toml_value(fitted)}"]
    for key, value in device.sources.items():
        if key != "compute":
            lines.append(f"{_toml_value(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
