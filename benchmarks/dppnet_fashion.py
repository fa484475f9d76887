"""DPP-Net on Fashion-MNIST for three devices at once, against hand-written networks (paper 003
Table 3 in our setting).

A real ``progressive`` search in the ``dppnet`` space (paper 003 section 4) with the latency of
three device profiles and the parameter count as objectives, run through the ``fitnas search``
command. Then the found networks (the trials on every device's front, DPP-Net's Panacea, and
the most accurate trial of each device's front) and the hand-written cells of the space
(``DPPNetSpace.condensenet_like()``, ``mobilenet_like()``, ``mobilenetv2_like()`` where it
exists) are trained again the same way (the same data, splits, epochs and seed, through
``fitnas.train.Trainer``) and compared on test error, parameters, MACs, peak activation memory
and latency on each device (each at its profile's dtype). A hand-written network *dominates* a
found one when it is at least as good in every column and better in one; the goal is that no
hand-written network dominates the found front.

Run: ``python benchmarks/dppnet_fashion.py [--space dppnet:...] [--subset 2000] [--epochs 2]
[--k 4] [--max-layers 4] [--trials 25] [--minutes 12] [--out runs/dppnet-fashion]`` (needs
Debian's dataset-fashion-mnist). Writes the ``dppnet-fashion`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.arch import ArchGraph
from fitnas.cli import main as fitnas_main
from fitnas.costs import estimate
from fitnas.costs.device import device_costs
from fitnas.data import create_dataset
from fitnas.devices import load_device
from fitnas.spaces import create_space
from fitnas.study import load_run
from fitnas.train import TrainConfig, Trainer
from fitnas.units import format_bytes, format_count

DEVICES = ("stm32f746-disco", "rpi-zero-2w", "esp32-s3-devkitc")
SPACE = "dppnet:stages=2,cells_per_stage=2,stem_channels=8,growth_rate=8,bottleneck=16"
HAND = ("condensenet_like", "mobilenet_like", "mobilenetv2_like")


def search_argv(args: argparse.Namespace, out: Path) -> list[str]:
    objectives = [w for d in DEVICES for w in ("--objective", f"latency@{d}")]
    return ["search", "--data", "fashion-mnist", "--subset", str(args.subset),
            "--space", args.space, "--strategy",
            f"progressive:k={args.k},max_layers={args.max_layers}",
            "--epochs", str(args.epochs), "--budget", f"{args.trials},{args.minutes}m",
            "--device", "none", *objectives, "--objective", "params", "--seed", str(args.seed),
            "--out", str(out)]


def costs_of(graph: ArchGraph) -> dict[str, float]:
    """Parameters, MACs, peak activation bytes (fp32, the graph's order) and each device's
    modelled latency at its profile's dtype."""
    est = estimate(graph)
    out: dict[str, float] = {"params": est.params, "macs": est.macs,
                             "peak": est.peak_activation_bytes}
    for name in DEVICES:
        profile = load_device(name).compute
        assert profile is not None
        out[name] = device_costs(graph, profile, profile.dtype).latency_ms
    return out


def dominates(a: dict[str, float], b: dict[str, float], keys: list[str]) -> bool:
    """Lower is better in every key (``error`` included)."""
    return all(a[k] <= b[k] for k in keys) and any(a[k] < b[k] for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=SPACE, help="the dppnet space and its options")
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-layers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/dppnet-fashion")
    parser.add_argument("--skip-search", action="store_true",
                        help="reuse the run in --out (only retrain and compare)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    argv = search_argv(args, out)
    started = time.perf_counter()
    if not args.skip_search:
        code = fitnas_main([*argv, "--force", "--json"])
        if code != 0:
            raise SystemExit(f"the search exited with {code}")
    search_s = time.perf_counter() - started

    with load_run(out) as run:
        fronts = run.device_fronts()
        both = run.panacea()
        counts = run.counts()
        picked: dict[int, str] = {}
        for t in both[:3]:
            picked.setdefault(t.number, "Panacea")
        for device, front in fronts.items():
            if front:
                picked.setdefault(front[0].number, f"most accurate on the {device} front")
        found = {n: (run.graph(n), why, run.trial(n).encoding) for n, why in picked.items()}
    from fitnas.study.setup import parse_options

    name, _, options = args.space.partition(":")
    space = create_space(name, input_shape=(1, 1, 28, 28), classes=10,
                         **parse_options(options, "--space"))
    hand = {name: getattr(space, name)() for name in HAND if hasattr(space, name)}

    data = create_dataset("fashion-mnist", seed=args.seed, subset=args.subset)
    trainer = Trainer(TrainConfig(epochs=args.epochs, seed=args.seed))
    rows: list[dict[str, Any]] = []
    networks = [(f"found: trial {n} ({why})", g, enc) for n, (g, why, enc) in found.items()]
    networks += [(f"hand-written: {name}", space.decode(enc), enc) for name, enc in hand.items()]
    for label, graph, enc in networks:
        result = trainer.fit(graph, data, test=True)
        row: dict[str, Any] = {"network": label, "cell": space.format(tuple(enc)),
                               "state": result.state.value, "seconds": result.seconds,
                               "error": 1.0 - (result.test_accuracy or 0.0), **costs_of(graph)}
        rows.append(row)
        print(json.dumps(row))
    keys = ["error", "params", "macs", "peak", *DEVICES]
    found_rows = [r for r in rows if r["network"].startswith("found")]
    verdicts = []
    for r in rows:
        if r["network"].startswith("hand"):
            beaten = [f["network"] for f in found_rows if dominates(r, f, keys)]
            verdicts.append(f"{r['network']} dominates " + (", ".join(beaten) if beaten
                                                           else "no found network"))
    lines = [
        f"Command: `fitnas {shlex.join(argv)}`, then `python benchmarks/dppnet_fashion.py` "
        "retrains the networks below. " + machine_line(),
        "",
        f"The search: {counts.get('COMPLETE', 0)} trials complete, {search_s:.0f} s. Per-device "
        "fronts: " + ", ".join(f"{d} {len(f)} trials" for d, f in fronts.items())
        + f"; on every device's front (Panacea): {', '.join(f'trial {t.number}' for t in both) or 'none'}.",
        "",
        f"Each network below trained again the same way ({args.epochs:g} epochs on the "
        f"{args.subset:,}-image training subset, seed {args.seed}); test error on the held-out "
        "test split; latency modelled per device at its profile's dtype (int8 on the "
        "microcontrollers, fp32 on the Raspberry Pi); peak activation memory in fp32 under "
        "the graph's order.",
        "",
        "| network | cell | test error | params | MACs | peak memory | "
        + " | ".join(f"latency {d}" for d in DEVICES) + " | train s |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(DEVICES) + "---:|",
    ]
    for r in rows:
        lines.append(f"| {r['network']} | `{r['cell']}` | {100 * r['error']:.2f}% | "
                     f"{format_count(int(r['params']))} | {format_count(int(r['macs']))} | "
                     f"{format_bytes(int(r['peak']))} | "
                     + " | ".join(f"{r[d]:.4g} ms" for d in DEVICES)
                     + f" | {r['seconds']:.0f} |")
    lines += ["", "Goal: no hand-written network dominates the found front (lower is better in "
              "every column): " + "; ".join(verdicts) + "."]
    title = ("## dppnet-fashion: DPP-Net for three devices on Fashion-MNIST, against "
             "hand-written cells (paper 003 Table 3)")
    write_section("dppnet-fashion", "\n".join([title, "", *lines]))


if __name__ == "__main__":
    main()
