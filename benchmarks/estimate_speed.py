"""How fast is ``fitnas estimate``, and the hot path of a search (decode, then estimate)?

Run: ``python benchmarks/estimate_speed.py`` (fvcore and thop rows need ``pip install -e
'.[bench]'``; they are skipped without). It writes the ``estimate`` section of BENCHMARKS.md.

Two paths, side by side in one process, on the same encodings and graphs:

* reference: what every graph took before the fast path. The spaces' reference writer
  (``Emitter.build_reference``: every node written out by the decoder and kept as written), the
  graph built by the reference construction path (``fitnas.arch.nodes``'s staged checks, op
  arithmetic not memoized), and ``estimate(..., fast=False)`` (the lifetime table of
  ``fitnas.costs.lifetime``, Chan's memory and the counts, each computed from the graph);
* compact: the fast path. The emitter checks each node as it is written (memoized op arithmetic),
  copies layers from pieces written once per kind of layer and input shape and a stage's cells
  from one written cell, and hands the checked columns to the graph (trusted rows); graphs from
  JSON take the one-pass construction; ``estimate`` runs on the compact integer form
  (``fitnas.costs.compact``), made on the graph's first estimate. Estimates are timed on freshly
  decoded graphs, so every one includes making the compact form.

Also: mobilenet_v2 against fvcore and thop (build the torch module, then count), estimates of
random ArchGraphs, and the costs of all 15,625 NAS-Bench-201 cells (``space.parse``,
``space.decode``, ``estimate``; what ``fitnas.bench.costs`` computes, without its cache).

The ``estimate-device`` section (``--device-only`` writes just that one): what the device models
(``fitnas.costs.device``: latency, energy, average and peak power) add to the analytic costs of
``fitnas estimate``, on mobilenet_v2 and on networks sampled from every space. Goal: at most 20%.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

import fitnas.arch.graph as graph_module
from fitnas.arch import ArchGraph
from fitnas.arch.random_graph import random_graph
from fitnas.costs import estimate
from fitnas.modelspec import load_graph
from fitnas.spaces import create_space, list_spaces
from fitnas.spaces._emit import Emitter

TABLE = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "nb201_12epoch.csv"
PATHS = ("reference", "compact")
GOALS = {"cells": 5000, "nb201": 3000}  # decode + estimate per second, one core
DEVICE_GOAL = 0.20  # what the device models may add to the analytic costs' time
TABLE_GOAL_S = 10.0


@contextmanager
def construction(path: str) -> Iterator[None]:
    """Graphs written and built by the reference path (``path == "reference"``: the spaces'
    reference writer, the staged checks) or the fast path (the default)."""
    if path != "reference":
        yield
        return
    saved = graph_module.fast_rows, vars(Emitter)["build"]
    graph_module.fast_rows = lambda input_shape, raw: None
    Emitter.build = Emitter.build_reference  # type: ignore[method-assign]
    try:
        yield
    finally:
        graph_module.fast_rows = saved[0]
        Emitter.build = saved[1]  # type: ignore[method-assign]


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fvcore_count() -> tuple[int, int]:
    from fvcore.nn import FlopCountAnalysis, parameter_count

    model = torchvision.models.mobilenet_v2(weights=None).eval()
    flops = FlopCountAnalysis(model, torch.randn(1, 3, 224, 224))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    return int(flops.total()), int(parameter_count(model)[""])


def thop_count() -> tuple[int, int]:
    import thop

    model = torchvision.models.mobilenet_v2(weights=None).eval()
    macs, params = thop.profile(model, inputs=(torch.randn(1, 3, 224, 224),), verbose=False)
    return int(macs), int(params)


def fvcore_rate(graphs: Sequence[ArchGraph]) -> float:
    """Build the torch module and count with fvcore, per second (nan without fvcore)."""
    from fitnas.arch.builder import build

    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return float("nan")
    start = time.perf_counter()
    for g in graphs:
        flops = FlopCountAnalysis(build(g).eval(), torch.randn(g.input_shape))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        flops.total()
    return len(graphs) / (time.perf_counter() - start)


def hot_path(name: str, samples: int, passes: int) -> dict[str, Any]:
    """Per path: decodes/s, estimates/s (fresh graphs) and decode + estimate/s, medians of
    ``passes`` passes over the same ``samples`` encodings."""
    space = create_space(name)
    encodings = [space.sample(seed) for seed in range(samples)]
    out: dict[str, Any] = {"nodes": statistics.mean(len(space.decode(e)) for e in encodings)}
    for path in PATHS:
        fast = path == "compact"
        decode, est, both = [], [], []
        with construction(path):
            for _ in range(passes + 1):  # the first pass warms up
                start = time.perf_counter()
                graphs = [space.decode(e) for e in encodings]
                decode.append(time.perf_counter() - start)
                start = time.perf_counter()
                for g in graphs:
                    estimate(g, fast=fast)
                est.append(time.perf_counter() - start)
                del graphs
                start = time.perf_counter()
                for e in encodings:
                    estimate(space.decode(e), fast=fast)
                both.append(time.perf_counter() - start)
        out[path] = tuple(samples / statistics.median(t[1:]) for t in (decode, est, both))
    out["fvcore"] = fvcore_rate([space.decode(e) for e in encodings[:20]])
    return out


def nb201_table(path: str, cellstrs: Sequence[str]) -> tuple[float, list[Any]]:
    """Seconds to cost every cell of the table (parse, decode, estimate) on one core."""
    space = create_space("nb201")
    fast = path == "compact"
    with construction(path):
        start = time.perf_counter()
        costs = [estimate(space.decode(space.parse(c)), fast=fast) for c in cellstrs]
        return time.perf_counter() - start, costs


def random_graph_rates(count: int) -> tuple[float, float, float]:
    """Estimates per second over ``count`` random graphs (fresh for each path), mean nodes."""
    rates = []
    for path in PATHS:
        graphs = [random_graph(seed, 20 + seed % 41) for seed in range(count)]
        start = time.perf_counter()
        for g in graphs:
            estimate(g, fast=path == "compact")
        rates.append(count / (time.perf_counter() - start))
    return rates[0], rates[1], statistics.mean(len(g) for g in graphs)


def verdict(value: float, goal: float, more_is_better: bool = True) -> str:
    met = value >= goal if more_is_better else value <= goal
    return "met" if met else "not met"


def _fresh_seconds(dicts: Sequence[dict[str, Any]], fns: Sequence[Callable[[ArchGraph], object]],
                   passes: int) -> tuple[list[list[float]], list[list[float]]]:
    """For each of ``fns``, per pass: seconds per graph of ``from_dict`` then the function, and
    of the function alone on graphs built just before, over freshly built graphs (nothing a
    graph keeps is reused). The functions take turns within each pass, so a slow spell of the
    shared machine hits them alike and their ratio can be taken pass by pass."""
    both: list[list[float]] = [[] for _ in fns]
    alone: list[list[float]] = [[] for _ in fns]
    for _ in range(passes):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for d in dicts:
                fn(ArchGraph.from_dict(d))
            both[i].append((time.perf_counter() - start) / len(dicts))
            graphs = [ArchGraph.from_dict(d) for d in dicts]
            start = time.perf_counter()
            for g in graphs:
                fn(g)
            alone[i].append((time.perf_counter() - start) / len(dicts))
    return both, alone


def _added(base: list[float], more: list[float]) -> float:
    """The median over passes of what ``more`` adds to ``base`` in the same pass."""
    return statistics.median(m / b - 1.0 for b, m in zip(base, more))


def device_overhead(samples: int, passes: int) -> list[str]:
    """The ``estimate-device`` section: the analytic costs with and without the device model."""
    from fitnas.costs.device import device_costs
    from fitnas.devices import load_device

    profile = load_device("stm32f746-disco").compute
    assert profile is not None
    cases: dict[str, list[dict[str, Any]]] = {
        "mobilenet_v2 (1x3x224x224)": [load_graph("torchvision:mobilenet_v2").graph.to_dict()]
        * 20}
    for name in list_spaces():
        space = create_space(name)
        rng = random.Random(0)
        cases[f"{name} ({samples} samples)"] = [space.decode(space.sample(rng)).to_dict()
                                                for _ in range(samples)]

    def analytic(g: ArchGraph) -> object:
        return estimate(g, "int8")

    def with_device(g: ArchGraph) -> object:
        estimate(g, "int8")
        return device_costs(g, profile, "int8")

    lines = [
        "## estimate-device: what the device models add to the analytic costs",
        "",
        "Command: `python benchmarks/estimate_speed.py --device-only` (one core). "
        + machine_line(),
        "",
        "Per network: the analytic costs as `fitnas estimate` computes them (build the graph from "
        "its JSON, then `estimate`: parameters, MACs, lifetime peak, Chan's memory), and the same "
        "plus `device_costs` on the stm32f746-disco profile (latency, energy, average and peak "
        "power; the per-layer prices are memoized by the layer, as in a search). Medians of "
        f"{passes} passes over freshly built graphs, the two taking turns in each pass; 'added' "
        "is the median over passes of the ratio within a pass; 'estimate alone' times the "
        "graphs already built.",
        "",
        "| networks | from_dict + estimate | + device model | added | estimate alone | "
        "+ device model | added |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for label, dicts in cases.items():
        both, alone = _fresh_seconds(dicts, (analytic, with_device), passes)
        added = _added(both[0], both[1])
        worst = max(worst, added)
        lines.append(f"| {label} | {statistics.median(both[0]) * 1e6:,.0f} us | "
                     f"{statistics.median(both[1]) * 1e6:,.0f} us | {100 * added:+.0f}% | "
                     f"{statistics.median(alone[0]) * 1e6:,.0f} us | "
                     f"{statistics.median(alone[1]) * 1e6:,.0f} us | "
                     f"{100 * _added(alone[0], alone[1]):+.0f}% |")
    lines += ["", f"Goal: the device models add at most {100 * DEVICE_GOAL:.0f}% to the time of "
              f"`fitnas estimate`'s analytic costs; the largest addition here is "
              f"{100 * worst:.0f}%, {verdict(worst, DEVICE_GOAL, more_is_better=False)}. On a "
              "graph that is already built (the estimate alone, which reuses nothing either) the "
              "device model costs about as much as the estimate itself: both are one pass over "
              "the nodes."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--graphs", type=int, default=10_000)
    parser.add_argument("--space-samples", type=int, default=300)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--table-runs", type=int, default=3)
    parser.add_argument("--table", type=Path, default=TABLE, help="the NAS-Bench-201 table")
    parser.add_argument("--no-reference-table", action="store_true",
                        help="skip costing the table by the reference path (about a minute)")
    parser.add_argument("--device-only", action="store_true",
                        help="only the estimate-device section")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    device_lines = device_overhead(args.space_samples, args.passes)
    write_section("estimate-device", "\n".join(device_lines))
    print("\n".join(device_lines))
    if args.device_only:
        return

    graph = load_graph("torchvision:mobilenet_v2").graph
    ours = estimate(graph)
    as_dict = graph.to_dict()
    rows: list[tuple[str, float, int, int, str]] = []
    for path in PATHS:
        fast = path == "compact"
        def from_dict(fast: bool = fast) -> object:
            return estimate(ArchGraph.from_dict(as_dict), fast=fast)

        with construction(path):
            t_est = median_seconds(partial(estimate, graph, fast=fast), args.repeats * 4)
            t_dec = median_seconds(from_dict, args.repeats * 2)
        rows.append((f"fitnas estimate, {path} path", t_est, ours.macs, ours.params, "yes"))
        rows.append((f"fitnas ArchGraph.from_dict + estimate, {path} path", t_dec, ours.macs,
                     ours.params, "yes"))
    ours_label = "fitnas ArchGraph.from_dict + estimate, compact path"
    t_ours = next(t for label, t, *_ in rows if label == ours_label)
    for label, fn in (("build + fvcore", fvcore_count), ("build + thop", thop_count)):
        try:
            macs, params = fn()
            rows.append((label, median_seconds(fn, args.repeats), macs, params, "no"))
        except ImportError:
            print(f"{label}: not installed (pip install -e '.[bench]')", file=sys.stderr)

    per_space = {name: hot_path(name, args.space_samples, args.passes) for name in list_spaces()}
    ref_rate, fast_rate, mean_nodes = random_graph_rates(args.graphs)

    with args.table.open() as f:
        cellstrs = [row["cellstr"] for row in csv.DictReader(f)]
    runs = [nb201_table("compact", cellstrs) for _ in range(args.table_runs)]
    t_table = statistics.median(t for t, _ in runs)
    t_reference = float("nan")
    same = "not compared"
    if not args.no_reference_table:
        t_reference, reference_costs = nb201_table("reference", cellstrs)
        same = "yes" if reference_costs == runs[0][1] else "NO"

    lines = [
        "## estimate: analytic costs against fvcore and thop, and the hot path of a search",
        "",
        "Command: `python benchmarks/estimate_speed.py` (one torch thread; fitnas itself runs on "
        "one core). " + machine_line(),
        "",
        "Two paths in the same run. *Reference*: networks written node by node by the spaces' "
        "reference writer, the graph built by the reference construction path (staged checks, op "
        "arithmetic not memoized) and `estimate(..., fast=False)` (the lifetime table, Chan's "
        "memory and the counts from the graph). *Compact*: the fast path: the spaces' emitter "
        "checks each node as it writes it (memoized op arithmetic), copies layers from pieces "
        "written once per kind of layer and input shape (and a stage's cells from one written "
        "cell) and hands the checked columns to the graph; graphs from JSON take the one-pass "
        "construction; `estimate` runs on the compact integer form (`fitnas.costs.compact`), "
        "made on a graph's first estimate and kept with it.",
        "",
        "mobilenet_v2 at 1x3x224x224; median of "
        f"{args.repeats} runs for fvcore and thop, {args.repeats * 4} (estimate) and "
        f"{args.repeats * 2} (from_dict + estimate) for fitnas. A repeated estimate of one graph "
        "reuses its compact form; from_dict + estimate builds a new graph every time.",
        "",
        "| method | median time | from_dict + compact estimate is faster by | MACs counted "
        "| params | peak memory |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, seconds, macs, params, peak in rows:
        ratio = f"{seconds / t_ours:.0f}x" if label.startswith("build") else \
            f"{seconds / t_ours:.1f}x" if "from_dict" in label and label != ours_label else "-"
        lines.append(f"| {label} | {seconds * 1e3:.2f} ms | {ratio} | {macs:,} | {params:,} "
                     f"| {peak} |")
    lines += [
        "",
        f"Per search space, {args.space_samples} sampled architectures at the space's default "
        "input (1x3x32x32, 10 classes), medians of "
        f"{args.passes} passes: decodes per second; estimates per second (params, MACs, "
        "lifetime peak, Chan's memory) on freshly decoded graphs; both, as a search runs them "
        "(decode a candidate, then estimate it); build + fvcore: build the torch module and "
        "count (20 samples).",
        "",
        "| space | mean nodes | path | decodes/s | estimates/s | decode + estimate/s "
        "| build + fvcore/s |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, res in per_space.items():
        for path in PATHS:
            dec, est, both = res[path]
            lines.append(f"| {name} | {res['nodes']:.0f} | {path} | {dec:,.0f} | {est:,.0f} | "
                         f"{both:,.0f} | {res['fvcore']:,.1f} |")
    lines += [""]
    for name, goal in GOALS.items():
        _, est, both = per_space[name]["compact"]
        ref_both = per_space[name]["reference"][2]
        lines.append(
            f"Goal for `{name}`: {goal:,} per second on one core. Decode + estimate: "
            f"{both:,.0f}/s ({both / ref_both:.1f}x the reference path), "
            f"{verdict(both, goal)}; the estimate alone: {est:,.0f}/s, {verdict(est, goal)}.")
    table_ratio = f"{t_reference / t_table:.1f}x faster than " \
        f"the reference path's {t_reference:.1f} s" if t_reference == t_reference else \
        "the reference path not run"
    lines += [
        "",
        f"NAS-Bench-201 table: the costs of all {len(cellstrs):,} cells (`space.parse`, "
        f"`space.decode`, `estimate`) in {t_table:.2f} s on one core (median of "
        f"{args.table_runs} runs; {table_ratio}; the same costs by both paths: {same}). Goal: "
        f"under {TABLE_GOAL_S:.0f} s, {verdict(t_table, TABLE_GOAL_S, more_is_better=False)}.",
        "",
        f"Random ArchGraphs: {args.graphs:,} graphs of 20 to 60 nodes (mean {mean_nodes:.1f}, "
        f"plus a 2-node head), estimated once each: {ref_rate:,.0f} per second by the reference "
        f"path, {fast_rate:,.0f} by the compact path.",
        "",
        "fvcore and thop count one per multiply-accumulate of conv and linear layers as fitnas "
        "does, and also count batch-norm and pooling work, so their totals are higher than the "
        "conv-and-linear MACs that fitnas and torchvision's metadata report.",
    ]
    write_section("estimate", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
