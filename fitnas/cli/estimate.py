"""``fitnas estimate MODEL``: parameters, MACs and exact memory of a network, and with
``--device`` its latency, energy and power on that device (``fitnas.costs.device``).

An ``arch.json`` a search exported (``RUN/best/arch.json``, ``fitnas export``) carries the dtype
and schedule the run checked its costs under (its ``"run"`` key, ``fitnas.study.outputs``);
they are used unless ``--dtype`` or ``--schedule`` is given, and the header says which values
came from the file, so the memory shown is the memory the search checked."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..costs import DTYPE_BYTES, best_order, estimate, lifetime_table
from ..errors import FitnasError
from ..modelspec import load_graph, model_forms
from ..units import format_bytes, format_count, parse_shape

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "estimate",
        help="parameters, MACs and exact peak memory of a model",
        description="Analytic costs of MODEL: parameters, MACs (conv and linear, bias not "
        "counted), the peak of live activation bytes under the data-lifetime model (MemNAS), "
        "Chan's ping-pong memory and total memory; with --device, the estimated latency, "
        "energy per inference, average and peak power on that device (--layers: per layer). "
        "MODEL: " + model_forms(),
    )
    p.add_argument("model", metavar="MODEL", help="the network to measure (forms above)")
    p.add_argument("--input", metavar="SHAPE", help="input shape, batch first, e.g. 1x3x224x224")
    p.add_argument("--classes", type=int, help="number of classes (search-space models)")
    p.add_argument("--dtype", default=None,
                   help="fp32, fp16 or int8 (default: the run's for an exported arch.json, else "
                        "the --device's, else fp32)")
    p.add_argument("--device", metavar="NAME",
                   help="a device profile (see `fitnas devices`) or a profile .toml file: adds "
                        "its latency, energy and power estimates")
    p.add_argument("--layers", action="store_true",
                   help="with --device: the latency, energy and power of every layer")
    p.add_argument("--no-inplace", action="store_true",
                   help="every op allocates its output (no in-place reuse of dead buffers)")
    p.add_argument("--count-bias", action="store_true",
                   help="count one MAC per output of a layer with bias (paper 002 eq. 7-8)")
    p.add_argument("--table", action="store_true",
                   help="print the lifetime table (one column per step, as MemNAS Table 1)")
    p.add_argument("--plot", metavar="FILE.png", help="write a chart of the bytes alive per step")
    p.add_argument("--schedule", choices=("default", "best"), default=None,
                   help="execution order: the graph's own (default) or the memory-optimal "
                        "order (best: smallest peak of any topological order); default: the "
                        "run's for an exported arch.json, else default")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    device = None
    if args.device:
        from ..devices import load_device

        device = load_device(args.device)
        if device.compute is None:
            raise FitnasError(f"device profile {device.name} has no [compute] table: it gives "
                              "memory limits only; add one or calibrate a profile "
                              "(`fitnas calibrate`)")
    elif args.layers:
        raise FitnasError("--layers needs --device NAME (the per-layer latency and energy)")
    stored = _run_settings(args.model)
    args.from_file = [key for key in ("dtype", "schedule")
                      if getattr(args, key) is None and key in stored]
    for key in args.from_file:
        setattr(args, key, stored[key])
    if args.schedule is None:
        args.schedule = "default"
    if args.dtype is None:
        args.dtype = device.limits.dtype if device is not None else "fp32"
    if args.dtype not in DTYPE_BYTES:
        raise FitnasError(f"unknown --dtype {args.dtype!r}; accepted: {', '.join(DTYPE_BYTES)}")
    shape = parse_shape(args.input) if args.input else None
    if args.classes is not None and args.classes < 2:
        raise FitnasError(f"--classes must be at least 2, got {args.classes}")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise FitnasError(f"--plot needs a .png file name, got {args.plot!r}")
    loaded = load_graph(args.model, shape, args.classes)
    graph = loaded.graph
    schedule = None
    order = None
    if args.schedule == "best":
        schedule = best_order(graph, args.dtype, not args.no_inplace)
        order = schedule.order
    table = lifetime_table(graph, order, dtype=args.dtype, inplace=not args.no_inplace)
    result = estimate(graph, args.dtype, not args.no_inplace, args.count_bias, table=table)
    on_device = None
    if device is not None:
        from ..costs.device import device_costs

        assert device.compute is not None
        on_device = device_costs(graph, device.compute, args.dtype, layers=args.layers)
    if args.plot:
        from ..report.lifetime import plot_lifetime

        plot_lifetime(table, args.plot, title=loaded.source)
    if args.json:
        data = result.to_dict()
        data["model"] = loaded.source
        data["inplace"] = not args.no_inplace
        data["unused_parameters"] = loaded.unused_parameters
        data["schedule_used"] = args.schedule
        data["from_file"] = list(args.from_file)
        if schedule is not None:
            data["peak_activation_bytes_default_order"] = schedule.default_peak_bytes
            data["schedule_exact"] = schedule.exact
            data["schedule"] = list(schedule.order)
        if on_device is not None:
            data.update(on_device.to_dict())
            if not args.layers:
                data.pop("layers")
        print(json.dumps(data, indent=2))
        return 0
    _print_human(result, loaded, table, args, schedule)
    if on_device is not None:
        _print_device(on_device, args.layers)
    return 0


def _run_settings(model: str) -> dict[str, str]:
    """The dtype and schedule an exported ``arch.json`` records under its ``"run"`` key (empty
    for any other model, or a file without it); a bad value there is an error naming it."""
    from pathlib import Path

    from ..costs import DTYPE_BYTES
    from ..study.outputs import ARCH_RUN_KEY

    path = Path(model)
    if not model.endswith(".json") or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}  # load_graph reports an unreadable file
    run = data.get(ARCH_RUN_KEY) if isinstance(data, dict) else None
    if run is None:
        return {}
    if not isinstance(run, dict):
        raise FitnasError(f"{model!r}: {ARCH_RUN_KEY!r} must be an object with dtype and "
                          f"schedule, got {type(run).__name__}")
    accepted = {"dtype": tuple(DTYPE_BYTES), "schedule": ("default", "best")}
    out: dict[str, str] = {}
    for key, valid in accepted.items():
        if key in run:
            if run[key] not in valid:
                raise FitnasError(f"{model!r}: {ARCH_RUN_KEY}.{key} is {run[key]!r}; accepted: "
                                  f"{', '.join(valid)}")
            out[key] = run[key]
    return out


def _print_device(costs: Any, layers: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title=f"on {costs.device} ({costs.dtype}, fitnas.costs.device)")
    t.add_column("cost")
    t.add_column("estimate", justify="right")
    t.add_row("latency", f"{costs.latency_ms:.4g} ms")
    if costs.energy_uj is not None:
        t.add_row("energy per inference", f"{costs.energy_uj:.4g} uJ")
        t.add_row("average power", f"{costs.avg_power_mw:.4g} mW")
        where = f" (at {costs.peak_power_layer})" if costs.peak_power_layer else ""
        t.add_row(f"peak power{where}", f"{costs.peak_power_mw:.4g} mW")
    else:
        t.add_row("energy, power", "- (the profile has no \\[power] figures)")
    console.print(t)
    if layers:
        lt = Table(title="per layer (a fused layer costs nothing: its producer writes it)")
        for column in ("layer", "op", "kind", "MACs", "compute ms", "memory ms", "latency ms",
                       "energy uJ", "power mW"):
            lt.add_column(column, justify="left" if column in ("layer", "op", "kind")
                          else "right")
        for layer in costs.layers:
            kind = f"fused into {layer.fused_into}" if layer.fused_into else layer.kind
            lt.add_row(layer.name, layer.op, kind, f"{layer.macs:,}", f"{layer.compute_ms:.4g}",
                       f"{layer.memory_ms:.4g}", f"{layer.latency_ms:.4g}",
                       "-" if layer.energy_uj is None else f"{layer.energy_uj:.4g}",
                       "-" if layer.power_mw is None else f"{layer.power_mw:.4g}")
        console.print(lt)


def _print_human(
    result: Any, loaded: Any, table: Any, args: argparse.Namespace, schedule: Any = None
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    source = getattr(args, "from_file", [])

    def said(key: str, value: str) -> str:
        return f"{value} (from the file)" if key in source else value

    t = Table(title=f"{loaded.source}  input {'x'.join(map(str, result.input_shape))}  "
                    f"{said('dtype', result.dtype)}  schedule {said('schedule', args.schedule)}",
              show_header=True)
    t.add_column("cost")
    t.add_column("value", justify="right")
    t.add_column("exact", justify="right")
    t.add_row("parameters", format_count(result.params), f"{result.params:,}")
    t.add_row("parameter memory", format_bytes(result.param_bytes), f"{result.param_bytes:,} B")
    t.add_row("MACs", format_count(result.macs), f"{result.macs:,}")
    if schedule is not None:
        default = schedule.default_peak_bytes
        t.add_row("peak activation, graph's order", format_bytes(default), f"{default:,} B")
        t.add_row(f"peak activation, best order (at {result.peak_node})",
                  format_bytes(result.peak_activation_bytes),
                  f"{result.peak_activation_bytes:,} B")
        t.add_row("reduction (graph's / best)", f"{schedule.reduction:.2f}x",
                  f"{default - result.peak_activation_bytes:,} B less")
    else:
        t.add_row(f"peak activation memory (at {result.peak_node})",
                  format_bytes(result.peak_activation_bytes),
                  f"{result.peak_activation_bytes:,} B")
    t.add_row("total memory (parameters + peak)", format_bytes(result.total_memory_bytes),
              f"{result.total_memory_bytes:,} B")
    t.add_row("Chan's memory (paper 002 eq. 6)", format_bytes(result.chan_memory_bytes),
              f"{result.chan_memory_bytes:,} B")
    console.print(t)
    if source:
        console.print(f"{' and '.join(source)} taken from {loaded.source}, as the run checked "
                      "it; --dtype / --schedule override")
    if schedule is not None:
        console.print("best order: exact (no topological order has a smaller peak)"
                      if schedule.exact else
                      "best order: the best found within the time limit, not proven optimal")
    if result.opaque_nodes:
        console.print(f"[yellow]{len(result.opaque_nodes)} node(s) use ops fitnas does not know; "
                      f"their outputs count in memory, their MACs do not: "
                      f"{', '.join(result.opaque_nodes[:8])}[/yellow]")
    if loaded.unused_parameters:
        n = sum(loaded.unused_parameters.values())
        console.print(f"[yellow]{n:,} parameters in modules the forward pass never runs are not "
                      f"counted: {', '.join(loaded.unused_parameters)}[/yellow]")
    if args.table:
        from ..report.lifetime import lifetime_rich_table

        console.print(lifetime_rich_table(table))
    if args.plot:
        console.print(f"lifetime chart written to {args.plot}")
