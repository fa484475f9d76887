"""DARTS' known failure on NAS-Bench-201, without and with DCA-NAS's constraint.

The NAS-Bench-201 paper (Dong & Yang 2020, Table 5) reports that first-order DARTS ends at
cells of skip connections (about 54% on CIFAR-10). This machine has no CIFAR-10, so the
``nb201`` supernet is trained on Fashion-MNIST (say so when quoting it); the derived cell is
then looked up in ``../shared/benchmarks/nb201_12epoch.csv`` (its CIFAR-10 accuracy under the
benchmark's 12-epoch schedule), together with its skip-connection count. Three searches per
seed: no constraint (first-order DARTS with the search-time reductions); the Lagrangian
constraint on parameters at two targets below K(alpha) at uniform alpha (where a search starts:
0.9 and 0.7 times it, so that the constraint binds), each with lambda ascending on K(alpha)
(paper 004 eq. 4, ``lambda_on=expected``) and on the derived network's cost (fitnas' default,
``lambda_on=derived``); and the constraint on the peak activation memory (``fitnas.supernet.
peak``) at 0.9 times its expectation at uniform alpha.

Run: ``python benchmarks/dcanas_nb201.py [--subset 2000] [--seeds 0,1,2] [--supernet
epochs=8,batch_size=32]``. Writes the ``dcanas-nb201`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.data import create_dataset
from fitnas.spaces import create_space
from fitnas.study.setup import parse_options
from fitnas.supernet.expected import ExpectedCost
from fitnas.supernet.peak import ExpectedPeak
from fitnas.supernet.search import DCANAS, SupernetConfig
from fitnas.units import format_bytes, format_count

TABLE = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "nb201_12epoch.csv"


def table() -> dict[str, dict[str, str]]:
    with TABLE.open() as f:
        return {row["cellstr"]: row for row in csv.DictReader(f)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subset", type=int, default=2000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--space", default="nb201:channels=8,cells_per_stage=2")
    p.add_argument("--supernet", default="epochs=8,batch_size=32")
    args = p.parse_args()
    rows_of = table()
    name, _, opts = args.space.partition(":")
    data = create_dataset("fashion-mnist", subset=args.subset)
    space = create_space(name, input_shape=data.input_shape, classes=data.classes,
                         **parse_options(opts, "--space"))
    expected = ExpectedCost(space, "params")
    low = expected.smallest()
    high = expected.of_encoding(("nor_conv_3x3",) * 6)
    uniform = expected.at_uniform()
    peak = ExpectedPeak(space)
    peak_uniform = peak.at_uniform()
    settings: list[tuple[str, str, float | None, str]] = [
        ("no constraint (DARTS)", "params", None, "derived")]
    for f in (0.9, 0.7):
        for on in ("expected", "derived"):
            settings.append((f"params K_s = {format_count(f * uniform)} ({f:g} x K at uniform "
                             f"alpha), lambda on {on}", "params", f * uniform, on))
    settings.append((f"peak K_s = {format_bytes(int(0.9 * peak_uniform))} (0.9 x P at uniform "
                     "alpha), lambda on derived", "peak", 0.9 * peak_uniform, "derived"))
    supernet = parse_options(args.supernet, "--supernet")
    results: list[dict[str, Any]] = []
    for label, cost, target, on in settings:
        for seed in (int(s) for s in args.seeds.split(",")):
            config = SupernetConfig(**{**supernet, "lambda_on": on}, seed=seed)
            search = DCANAS(space, cost, target, config)
            search.fit(data)
            r = search.result
            assert r is not None
            cell = space.format(r.genotype)
            row = rows_of[cell]
            results.append({"setting": label, "seed": seed, "cell": cell,
                            "skips": sum(op == "skip_connect" for op in r.genotype),
                            "nones": sum(op == "none" for op in r.genotype),
                            "params": expected.of_encoding(r.genotype),
                            "peak": peak.of_encoding(r.genotype), "lambda": r.lambda_,
                            "cifar10_val": float(row["cifar10_val"]),
                            "cifar10_test": float(row["cifar10_test"]),
                            "supernet_acc": r.history[-1].val_accuracy})
            print(results[-1], file=sys.stderr, flush=True)
    command = "python benchmarks/dcanas_nb201.py " + shlex.join(
        [f"--subset={args.subset}", f"--seeds={args.seeds}", f"--space={args.space}",
         f"--supernet={args.supernet}"])
    best = max(float(r["cifar10_test"]) for r in rows_of.values())
    lines = ["## dcanas-nb201: the skip-connection collapse of DARTS on NAS-Bench-201", "",
             f"`{command}`", "", machine_line(), "",
             "Supernet trained on **Fashion-MNIST** (this machine has no CIFAR-10); the derived "
             f"cell's accuracy is its CIFAR-10 entry in the 12-epoch table (best cell "
             f"{best:.2f}% test). Parameters are of the Fashion-MNIST network "
             f"(cheapest cell {format_count(low)}, all-3x3 {format_count(high)}, K(alpha) at "
             f"uniform alpha {format_count(uniform)}); peaks (fp32, batch 1, the decoder's order) "
             f"from {format_bytes(int(peak.smallest()))} to "
             f"{format_bytes(int(peak._table.max()))}, P at uniform alpha "
             f"{format_bytes(int(peak_uniform))}.", "",
             "| setting | seed | derived cell | skips | nones | params | peak | lambda | "
             "supernet acc | CIFAR-10 test (table) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for entry in results:
        lines.append(f"| {entry['setting']} | {entry['seed']} | `{entry['cell']}` | "
                     f"{entry['skips']} | {entry['nones']} | {format_count(entry['params'])} | "
                     f"{format_bytes(int(entry['peak']))} | {entry['lambda']:.3g} | "
                     f"{100 * entry['supernet_acc']:.1f}% | {entry['cifar10_test']:.2f}% |")
    lines += ["", "Median CIFAR-10 test accuracy (table) per setting: " + "; ".join(
        f"{label}: {_median([e['cifar10_test'] for e in results if e['setting'] == label]):.2f}%"
        for label, *_ in settings) + "."]
    write_section("dcanas-nb201", "\n".join(lines))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


if __name__ == "__main__":
    main()
