"""``fitnas calibrate``: fit a device profile's latency coefficients to measurements."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import FitnasError
from ..files import write_atomic

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    from ..costs.calibrate import CSV_HELP, GROUPS

    p = subparsers.add_parser(
        "calibrate",
        help="fit a device profile's latency coefficients (this host, or your measurements)",
        description="Fit the latency model of a device profile (fitnas.costs.device, in its "
        "'sum' form) to measured latencies by non-negative least squares on relative errors, "
        "and write a profile file that --device accepts. Without --measurements, times "
        "micro-benchmarks of every layer kind on this machine with onnxruntime (the 'host' "
        "profile). With --measurements FILE.csv, fits the profile of any board from your "
        f"measurements: {CSV_HELP}.",
    )
    p.add_argument("--device", default="host", metavar="NAME",
                   help="the profile to start from: its clock, memory, power and the "
                        "coefficients not fitted are kept (default: host)")
    p.add_argument("--measurements", metavar="FILE.csv", action="append",
                   help="measured latencies (repeat for several files); default: measure this "
                        "host")
    p.add_argument("--only", metavar="LIST",
                   help="comma-separated coefficients to fit (the rest keep the base's values): "
                        "conv, depthwise, pointwise, linear, pool, elementwise, sram_bytes, "
                        "weight_bytes, layer_overhead_cycles, invoke_overhead_cycles, or the "
                        f"groups {', '.join(GROUPS)}")
    p.add_argument("--tie", metavar="LIST", action="append", default=[],
                   help="comma-separated coefficients fitted as one, in the base's ratios (e.g. "
                        "--tie pointwise,depthwise); repeat for several groups")
    p.add_argument("--clock-hz", type=float, metavar="HZ",
                   help="the clock of the profile (default: the base's; for host, this machine's)")
    p.add_argument("--repeats", type=int, default=30,
                   help="timed runs per micro-benchmark on this host (median; default 30)")
    p.add_argument("--out", metavar="FILE.toml",
                   help="where to write the profile (default: NAME-calibrated.toml here)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--json", action="store_true", help="print the fit as one JSON object")
    p.set_defaults(handler=run)


def host_clock_hz() -> float | None:
    """This machine's clock from ``/proc/cpuinfo`` (Linux), else ``None``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("cpu mhz"):
                return float(line.split(":", 1)[1]) * 1e6
    except (OSError, ValueError):
        return None
    return None


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise FitnasError(f"--only {text!r}: expected comma-separated coefficient names")
    return names


def run(args: argparse.Namespace) -> int:
    from ..costs.calibrate import expand, fit, measure_host, profile_toml, read_measurements
    from ..devices import load_device

    device = load_device(args.device)
    out = Path(args.out or f"{device.name}-calibrated.toml")
    if not out.name.endswith(".toml"):
        raise FitnasError(f"--out needs a .toml file name, got {str(out)!r}")
    if out.exists() and not args.force:
        raise FitnasError(f"{str(out)!r} exists; replace it with --force or choose another --out")
    if args.repeats < 1:
        raise FitnasError(f"--repeats must be at least 1, got {args.repeats}")
    if args.clock_hz is not None and not args.clock_hz > 0:
        raise FitnasError(f"--clock-hz must be positive, got {args.clock_hz:g}")
    only = _names(args.only)
    tie = [_names(t) or [] for t in args.tie]
    for names in ([*(only or [])], *tie):
        expand(names)  # unknown names: one line, before anything is measured
    base = device.compute
    if base is None:
        from ..costs.device import ComputeProfile

        base = ComputeProfile(name=device.name, dtype=device.limits.dtype)
    clock = args.clock_hz
    if args.measurements:
        measurements = [m for path in args.measurements for m in read_measurements(path)]
        source = ", ".join(args.measurements)
    else:
        if not base.measurable:
            raise FitnasError(f"device {device.name} is not this machine: give its measured "
                              "latencies with --measurements FILE.csv (or calibrate --device "
                              "host here)")
        clock = clock or host_clock_hz() or base.clock_hz
        measurements = measure_host(repeats=args.repeats, progress=None if args.json else
                                    _progress)
        source = f"{len(measurements)} onnxruntime micro-benchmarks on this host"
    result = fit(measurements, base, source, clock_hz=clock, only=only, tie=tie)
    text = profile_toml(result, device, out.stem)
    from ..devices.registry import parse_device

    parse_device(text, out.stem, str(out))  # what is written reads back (checked first)
    _write(out, text)
    if args.json:
        data = result.to_dict()
        data["out"] = str(out)
        print(json.dumps(data, indent=2))
        return 0
    _print(result, out)
    return 0


def _progress(done: int, total: int, label: str, ms: float) -> None:
    print(f"\r  measured {done}/{total}: {label} {ms:.3f} ms\033[K", end="", flush=True)
    if done == total:
        print()


def _write(path: Path, text: str) -> None:
    try:
        write_atomic(path, text)
    except OSError as err:
        raise FitnasError(f"cannot write {str(path)!r}: {err.strerror or err}") from None


def _print(result: Any, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    profile = result.profile
    console = Console()
    table = Table(title=f"fitted {profile.name} ({profile.dtype}, {profile.clock_hz / 1e6:g} MHz, "
                        f"{result.rows} measurements)")
    table.add_column("coefficient")
    table.add_column("value", justify="right")
    table.add_column("origin")
    for kind, value in {**profile.cycles_per_mac, **profile.cycles_per_element}.items():
        table_name = "cycles_per_mac" if kind in profile.cycles_per_mac else "cycles_per_element"
        origin = "fitted" if f"{table_name}.{kind}" in result.fitted else "kept"
        unit = "cycles/MAC" if table_name == "cycles_per_mac" else "cycles/element"
        table.add_row(kind, f"{value:.4g} {unit}", origin)
    for key, value in profile.bytes_per_cycle.items():
        table.add_row(f"bytes_per_cycle.{key}", f"{value:.4g}", "fitted")
    for key in ("layer_overhead_cycles", "invoke_overhead_cycles"):
        table.add_row(key, f"{getattr(profile, key):.4g} cycles",
                      "fitted" if key in result.fitted else "kept")
    console.print(table)
    console.print(f"relative error over the measurements: median "
                  f"{100 * result.median_relative_error:.1f}%, largest "
                  f"{100 * result.max_relative_error:.1f}%")
    console.print(f"profile written to {out} (use it with --device {out})")
