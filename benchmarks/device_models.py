"""How far to trust the device models: published measurements, and this host.

Run: ``python benchmarks/device_models.py`` (``--samples 100``: networks per space for the host
check; ``--skip-host`` for the published part only). It writes the ``device-models`` section of
BENCHMARKS.md.

1. **Published measurements.** Latency (and energy) of networks measured on microcontrollers and
   single-board computers by MLPerf Tiny submitters and Espressif, in
   ``benchmarks/devices/measurements/*.csv`` (one row per measurement, with its source), the
   networks rebuilt layer by layer in ``benchmarks/devices/published_networks.py`` and costed by
   ``fitnas.costs.device`` on the shipped profiles. Each row says whether the profile was fitted
   to it (*in-sample*: the row only shows how well the model's form fits) or not
   (*out-of-sample*: another runtime or round on the same board, another board with the same
   core at its own clock, or whole networks predicted from single-kernel timings).
2. **This host.** Networks sampled from every search space, their latency measured by
   onnxruntime (the smallest of 2 medians of 20 runs) and estimated by the ``host`` profile:
   Kendall's tau and the ratio of estimate to measurement.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.costs.calibrate import Measurement, read_measurements
from fitnas.costs.device import ComputeProfile, device_costs
from fitnas.devices import load_device

MEASUREMENTS = Path(__file__).resolve().parent / "devices" / "measurements"
GOAL = 1.5  # estimated / measured latency within [1/1.5, 1.5]


@dataclass(frozen=True)
class Check:
    """A set of measurements compared with one profile (at a clock, with a power)."""

    key: str
    title: str
    csv: str
    device: str
    in_sample: bool
    clock_hz: float | None = None
    active_mw: float | None = None
    note: str = ""


def _median_power_mw(csv: str) -> float:
    """The median power of a CSV's energy runs: energy / latency (uJ / ms = mW)."""
    rows = read_measurements(MEASUREMENTS / csv)
    return statistics.median(m.energy_uj / m.time_ms for m in rows if m.energy_uj)


def checks() -> list[Check]:
    xcube_mw = _median_power_mw("nucleo-l4r5zi_x-cube-ai.csv")
    return [
        Check("F746 others", "STM32F746G-DISCO, other runtimes and rounds (Plumerai v0.7 and "
              "v1.1, Bosch HALE v1.1 and v1.2)", "stm32f746-disco_other-runtimes.csv",
              "stm32f746-disco", False),
        Check("H7A3", "NUCLEO-H7A3ZI-Q (Cortex-M7 at 280 MHz, X-CUBE-AI): the stm32f746-disco "
              "profile's cycles at 280 MHz", "nucleo-h7a3zi-q_x-cube-ai.csv", "stm32f746-disco",
              False, clock_hz=280e6),
        Check("S3 person", "ESP32-S3 person detection (TFLM + ESP-NN): whole networks from the "
              "kernel table", "esp32-s3_person-detection.csv", "esp32-s3-devkitc", False),
        Check("L4R5 TFLM", "NUCLEO-L4R5ZI (Cortex-M4F at 120 MHz, TFLM + CMSIS-NN): the "
              "nano33-ble-sense profile's cycles at 120 MHz; energy with the power of X-CUBE-AI's "
              f"energy runs on the same board ({xcube_mw:.1f} mW)",
              "nucleo-l4r5zi_tflm-cmsis-nn.csv", "nano33-ble-sense", True, clock_hz=120e6,
              active_mw=xcube_mw,
              note="latency fitted to it; energy not (the power comes from another runtime)"),
        Check("F746 Plumerai", "STM32F746G-DISCO, Plumerai v1.0",
              "stm32f746-disco_plumerai-v1.0.csv", "stm32f746-disco", True),
        Check("nRF52840", "nRF52840 DK, TFLM hello world", "nrf52840-dk_tflm-hello-world.csv",
              "nano33-ble-sense", True),
        Check("G0B1", "NUCLEO-G0B1RE (Cortex-M0+ at 64 MHz, Bosch HALE): the rpi-pico profile's "
              "cycles at 64 MHz", "nucleo-g0b1re_bosch-hale.csv", "rpi-pico", True,
              clock_hz=64e6),
        Check("Pico", "Raspberry Pi Pico, TFLM hello world", "rpi-pico_tflm-hello-world.csv",
              "rpi-pico", True),
        Check("S3 kernels", "ESP32-S3 ESP-NN kernels", "esp32-s3_esp-nn-kernels.csv",
              "esp32-s3-devkitc", True),
        Check("Pi 4", "Raspberry Pi 4 (Cortex-A72 at 1.5 GHz, LEIP, fp32): the rpi-zero-2w "
              "profile's cycles at 1.5 GHz", "raspberry-pi-4_leip-fp32.csv", "rpi-zero-2w", True,
              clock_hz=1.5e9),
    ]


def _profile(check: Check) -> ComputeProfile:
    profile = load_device(check.device).compute
    assert profile is not None
    if check.clock_hz is not None:
        profile = replace(profile, clock_hz=check.clock_hz)
    if check.active_mw is not None:
        profile = replace(profile, static_mw=0.0, active_mw=check.active_mw)
    return profile


def _label(m: Measurement) -> str:
    return m.label.rpartition(":")[2] if ":" in m.label else m.label


def published() -> tuple[list[str], list[float], list[float]]:
    lines = ["| measurements | run | network | measured | estimated | ratio | fitted to it |",
             "|---|---|---|---:|---:|---:|---|"]
    energy_lines = ["| measurements | network | measured | estimated | ratio |",
                    "|---|---|---:|---:|---:|"]
    legend: list[str] = []
    outside: list[float] = []
    energy_ratios: list[float] = []
    for check in checks():
        profile = _profile(check)
        legend.append(f"- **{check.key}** (`{check.csv}`, profile `{check.device}`): "
                      f"{check.title}" + (f"; {check.note}" if check.note else ""))
        run = ""
        for m in read_measurements(MEASUREMENTS / check.csv):
            if not m.source.startswith("same"):
                run = m.source.split(":")[0].split(" (")[0]
            est = device_costs(m.graph, profile, profile.dtype)
            ratio = est.latency_ms / m.time_ms
            if not check.in_sample:
                outside.append(ratio)
            lines.append(f"| {check.key} | {run} | {_label(m)} | {m.time_ms:.4g} ms "
                         f"| {est.latency_ms:.4g} ms | {ratio:.2f} | "
                         f"{'yes' if check.in_sample else 'no'} |")
            if m.energy_uj is not None and check.active_mw is not None and est.energy_uj:
                e_ratio = est.energy_uj / m.energy_uj
                energy_ratios.append(e_ratio)
                energy_lines.append(f"| {check.key} | {_label(m)} | {m.energy_uj:,.0f} uJ | "
                                    f"{est.energy_uj:,.0f} uJ | {e_ratio:.2f} |")
    out = ["Measurements (each CSV row names its source: repository, file and figure):", "",
           *legend, "", *lines, "",
           "Energy per inference, not fitted to it (the power of one runtime's energy runs on "
           "the board, the latency estimated for the other runtime):", "", *energy_lines]
    return out, outside, energy_ratios


def host(samples: int) -> list[str]:
    import numpy as np
    from scipy.stats import kendalltau

    from fitnas.costs.latency import measure_latency_ms
    from fitnas.spaces import create_space, list_spaces

    profile = load_device("host").compute
    assert profile is not None
    lines = ["| space | networks | Kendall's tau | estimated / measured: median | 10th-90th "
             "percentile | measured: median |", "|---|---:|---:|---:|---:|---:|"]
    for name in list_spaces():
        space = create_space(name)
        rng = random.Random(0)
        measured, estimated = [], []
        for _ in range(samples):
            graph = space.decode(space.sample(rng))
            measured.append(min(measure_latency_ms(graph, repeats=20, warmup=3, use_cache=False)
                                for _ in range(2)))
            estimated.append(device_costs(graph, profile, "fp32").latency_ms)
        tau = kendalltau(measured, estimated)[0]
        ratio = np.array(estimated) / np.array(measured)
        lines.append(f"| {name} | {samples} | {tau:.3f} | {np.median(ratio):.2f} | "
                     f"{np.percentile(ratio, 10):.2f}-{np.percentile(ratio, 90):.2f} | "
                     f"{np.median(measured):.3g} ms |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100, help="networks per space (host)")
    parser.add_argument("--skip-host", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    table, outside, energy = published()
    within = sum(1 / GOAL <= r <= GOAL for r in outside)
    e_within = sum(1 / GOAL <= r <= GOAL for r in energy)
    lines = [
        "## device-models: estimated latency and energy against published measurements",
        "",
        "Command: `python benchmarks/device_models.py`. " + machine_line(),
        "",
        "Published measurements (`benchmarks/devices/measurements/*.csv`) of networks rebuilt "
        "in `benchmarks/devices/published_networks.py`, estimated by `fitnas estimate MODEL "
        "--device NAME` (`fitnas.costs.device`). *in*: the profile's coefficients were fitted "
        "to this row (`fitnas calibrate --measurements`, the recipe in each profile's "
        "comments): it shows how well the model's form fits. *out*: not fitted to it.",
        "",
        *table,
        "",
        f"Goal: within {GOAL}x of measured latency for each pair. Out-of-sample: {within} of "
        f"{len(outside)} within {GOAL}x (ratios {min(outside):.2f} to {max(outside):.2f}); "
        f"energy: {e_within} of {len(energy)} within {GOAL}x.",
        "",
        "What the figures say, and what would close the gaps:",
        "",
        "- One profile is a board *and* a runtime: on the same NUCLEO-L4R5ZI, X-CUBE-AI is 3x "
        "faster than TFLM + CMSIS-NN, and Plumerai's 2023 engine runs the visual-wake-words "
        "network 1.7x faster than its 2021 one on the STM32F746. The shipped profiles follow the "
        "fastest published runtime of each board; calibrate yours with `fitnas calibrate "
        "--measurements`.",
        "- Whole-network measurements of four networks cannot tell depthwise from pointwise "
        "cost: the shipped microcontroller profiles tie the two in ESP-NN's kernel ratio and "
        "keep ESP-NN's per-element costs. Per-kernel timings on each board (the CSV's layer "
        "rows) would replace both.",
        "- The Cortex-M0+ and Cortex-M4F profiles are fitted in cycles on sibling chips "
        "(STM32G0B1, STM32L4R5) plus one tiny network on the target board; flash wait states "
        "and caches differ between chips, so these are estimates until measured on the board.",
        "- The rpi-zero-2w profile uses the Raspberry Pi 4's Cortex-A72 cycles (no Cortex-A53 "
        "measurement was found): expect the Zero 2 W to be slower than estimated.",
        "- Power: the only measured inference power found is MLPerf Tiny's (NUCLEO-L4R5ZI, "
        "NUCLEO-H7A3ZI-Q); boards without it give a lower bound (idle power x latency) or no "
        "energy at all (rpi-pico). Each profile's comments say which.",
    ]
    if not args.skip_host:
        lines += ["", "### This host", "",
                  f"{args.samples} networks sampled from each space (its default input), "
                  "latency measured by onnxruntime (1 thread; the smallest of 2 medians of 20 "
                  "runs) and estimated by the shipped `host` profile (fitted by `fitnas "
                  "calibrate` on this machine). Kendall's tau ranks the networks; the ratio says "
                  "how close the figure is.", "", *host(args.samples)]
    lines += ["", f"Run time: {time.perf_counter() - start:.0f} s."]
    write_section("device-models", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
