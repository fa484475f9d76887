"""The limit flags every command that checks constraints shares (``fitnas search``, ...).

:func:`add_limit_arguments` adds ``--device``, ``--max-peak-mem``, ``--max-param-mem``,
``--max-total-mem``, ``--max-params``, ``--max-macs``, ``--max-latency-ms``,
``--max-energy-uj``, ``--max-power-mw``, ``--latency``, ``--dtype`` and ``--schedule`` to a
parser; :func:`limits_from_args` turns the parsed flags into
:class:`~fitnas.constraints.Limits`: the device profile's limits first, then every flag given
overrides its value. Values stay strings until then, so a bad one raises a
:class:`~fitnas.constraints.LimitError` (one line, exit code 2) rather than an argparse usage
message. (Argument parsing lives in ``fitnas.cli``; ``fitnas.constraints`` knows no argparse.)
"""

from __future__ import annotations

import argparse
from typing import Any

from ..constraints import LIMIT_NAMES, SCHEDULES, Limits
from ..costs.model import LATENCY_SOURCES
from ..devices import Device, list_devices, load_device

__all__ = ["add_limit_arguments", "device_model_from_args", "limits_from_args"]

_HELP = {
    "max_peak_mem": "largest peak of live activation bytes, e.g. 256KB, 320KiB, 1.5MB",
    "max_param_mem": "largest parameter bytes (weights in flash), e.g. 1MiB",
    "max_total_mem": "largest parameter bytes + peak activation bytes, e.g. 2MB",
    "max_params": "largest number of parameters, e.g. 250K",
    "max_macs": "largest number of multiply-accumulates, e.g. 60M",
    "max_latency_ms": "largest latency, e.g. 5ms: the device model's estimate, or on this host "
                      "(no --device, or --device host) the median measured by onnxruntime "
                      "(1 thread) unless --latency model",
    "max_energy_uj": "largest energy per inference (device model), e.g. 500uJ, 2mJ",
    "max_power_mw": "largest peak power while inferring (device model), e.g. 150mW",
}


#: The limits on a device model's estimates (latency, energy, power); a command that checks
#: analytic costs only (``bench``) does not offer them.
DEVICE_MODEL_LIMITS = ("max_latency_ms", "max_energy_uj", "max_power_mw")


def add_limit_arguments(parser: argparse.ArgumentParser, device_default: str | None = None,
                        analytic_only: bool = False) -> None:
    """Add the limit flags to ``parser`` (in an argument group ``limits``); with
    ``analytic_only`` only those on analytic costs (no latency, energy, power, ``--latency``)."""
    group = parser.add_argument_group("limits", "hard limits; a --device profile sets some, "
                                      "flags override it")
    default = f" (default: {device_default})" if device_default else ""
    group.add_argument("--device", metavar="NAME", default=device_default,
                       help=f"a device profile ({', '.join(list_devices())}, or `none`; see "
                            f"`fitnas devices`) or a profile .toml file{default}")
    for name in LIMIT_NAMES:
        if analytic_only and name in DEVICE_MODEL_LIMITS:
            continue
        group.add_argument("--" + name.replace("_", "-"), dest=name, metavar="VALUE",
                           default=None, help=_HELP[name])
    group.add_argument("--dtype", default=None,
                       help="bytes per element of weights and activations: fp32, fp16 or int8 "
                            "(default: the device's, else fp32)")
    if analytic_only:
        _add_schedule(group)
        return
    group.add_argument("--latency", default=None, choices=LATENCY_SOURCES,
                       help="where latency comes from: measure (onnxruntime on this host) or "
                            "model (the device profile's estimate); default: model for a "
                            "board, measure for this host")
    _add_schedule(group)


def _add_schedule(group: Any) -> None:
    group.add_argument("--schedule", default=None, choices=SCHEDULES,
                       help="execution order the peak assumes: the graph's own (default) or the "
                            "memory-optimal one (best)")


def limits_from_args(args: argparse.Namespace) -> tuple[Limits, Device | None]:
    """``(limits, device)`` from flags added by :func:`add_limit_arguments` (``device`` is the
    loaded :class:`~fitnas.devices.Device`, or ``None`` without ``--device``)."""
    device = None
    base = Limits()
    if getattr(args, "device", None):
        device = load_device(args.device)
        base = device.limits
    overrides = {name: getattr(args, name, None) for name in (*LIMIT_NAMES, "dtype", "schedule")}
    return base.merged(overrides), device


def device_model_from_args(args: argparse.Namespace, limits: Limits, device: Device | None
                           ) -> tuple[dict[str, Any] | None, str | None]:
    """``(device model, latency source)`` for a CostModel from the flags: the device's compute
    profile (as stored with a run) and ``--latency``. A limit the device cannot estimate is a
    one-line error here, before anything is written."""
    from ..constraints import Constraints

    latency = getattr(args, "latency", None)
    model = device.compute.to_dict() if device is not None and device.compute else None
    if device is not None and model is None:
        needs = [f"--{n.replace('_', '-')}" for n in ("max_latency_ms", "max_energy_uj",
                                                      "max_power_mw")
                 if limits.active().get(n) is not None]
        if needs or latency == "model":
            from ..errors import FitnasError

            raise FitnasError(f"device profile {device.name} has no [compute] table, which "
                              f"{(needs or ['--latency model'])[0]} needs; add one or calibrate "
                              "a profile (`fitnas calibrate`)")
    Constraints(limits, device=model, latency=latency)  # checks every pairing, one line each
    return model, latency
