"""``fitnas devices``: the device profiles shipped with fitnas and their limits."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..devices import list_devices, load_device

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "devices",
        help="list the device profiles (for --device) and their limits",
        description="The device profiles shipped with fitnas: the usable SRAM for activations "
        "(max_peak_mem), flash for weights (max_param_mem) or RAM shared by both "
        "(max_total_mem), after the share each profile reserves for the stack, heap, OS and "
        "runtime; the default dtype; the core and clock of the latency and energy model "
        "(fitnas.costs.device) and whether it has power figures; the source of each figure "
        "(--sources).",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per device, in a list")
    p.add_argument("--sources", action="store_true", help="also print the source of each figure")
    p.set_defaults(handler=run)


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    return _short(value)


def _short(n: int) -> str:
    """``240 KiB``, ``179.2 KiB``, ``1.5 MiB``: binary units, at most one decimal."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} B"


def _compute(device: Any) -> str:
    compute = device.compute
    if compute is None or compute.clock_hz is None:
        return "-"
    energy = " +E" if compute.has_energy else ""
    return f"{compute.core.split(' (')[0]} {compute.clock_hz / 1e6:.0f} MHz{energy}"


def run(args: argparse.Namespace) -> int:
    devices = [load_device(name) for name in list_devices()]
    if args.json:
        print(json.dumps([d.to_dict() for d in devices], indent=2))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title="device profiles (use with --device NAME)", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("name", no_wrap=True)
    for column in ("SRAM", "flash", "RAM"):
        table.add_column(column, justify="right")
    table.add_column("dtype")
    table.add_column("description (and the latency model's core and clock)", min_width=20,
                     overflow="fold")
    for d in devices:
        lim = d.limits
        table.add_row(
            d.name,
            _bytes(lim.max_peak_mem), _bytes(lim.max_param_mem), _bytes(lim.max_total_mem),
            lim.dtype, d.description + ("" if _compute(d) == "-" else f"\n{_compute(d)}"),
        )
    console = Console()
    console.print(table)
    if args.sources:
        for d in devices:
            console.print(f"[bold]{d.name}[/bold] ({d.path})")
            for key, source in d.sources.items():
                if key not in d.memory:
                    console.print(f"  {key}: {source}")
                    continue
                kept = 1.0 - d.reserve.get(key.removesuffix("_bytes"), 0.0)
                console.print(f"  {key} = {d.memory[key]:,} ({100 * kept:.0f}% usable): "
                              f"{source}")
    else:
        console.print("SRAM: limit on peak activation bytes (max_peak_mem); flash: on parameter "
                      "bytes (max_param_mem); RAM: on both together (max_total_mem). Each is "
                      "the share of the memory left after the profile's reserve for stack, heap, "
                      "OS and runtime. Under each description: the core and clock of the latency "
                      "model (+E: with power figures, for energy and power limits). "
                      "`fitnas devices --sources` names each figure's source.")
    return 0
