"""How fast is ``fitnas estimate``? The analytic estimate against fvcore and thop.

Run: ``python benchmarks/estimate_speed.py`` (needs ``pip install -e '.[bench]'``). It writes the
``estimate`` section of BENCHMARKS.md.

* fitnas: params, MACs and the lifetime peak of mobilenet_v2 from its ArchGraph (traced once,
  before timing, as a search space decodes straight to an ArchGraph without tracing).
* fvcore and thop: what a user of those tools runs to get params and FLOPs: build the torch
  module (``torchvision.models.mobilenet_v2(weights=None)``), then count (fvcore by jit-tracing
  a forward pass, thop by a forward pass with hooks). Neither gives a peak memory figure.
* Throughput: estimates per second over 10,000 random ArchGraphs of 20 to 60 nodes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.arch import ArchGraph
from fitnas.arch.random_graph import random_graph
from fitnas.costs import estimate
from fitnas.modelspec import load_graph


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


def space_rates(samples: int, fvcore_samples: int) -> list[tuple[str, float, float, float, float]]:
    """Per space: decode/s, estimate/s (analytic, one core) and build+fvcore/s, mean nodes."""
    from fitnas.arch.builder import build
    from fitnas.spaces import create_space, list_spaces

    rows = []
    for name in list_spaces():
        space = create_space(name)
        encodings = [space.sample(seed) for seed in range(samples)]
        start = time.perf_counter()
        graphs = [space.decode(e) for e in encodings]
        decode_rate = samples / (time.perf_counter() - start)
        passes = []
        for _ in range(5):  # the median of five passes over all the graphs
            start = time.perf_counter()
            for g in graphs:
                estimate(g)
            passes.append(time.perf_counter() - start)
        estimate_rate = samples / statistics.median(passes)
        fvcore_rate = float("nan")
        try:
            from fvcore.nn import FlopCountAnalysis

            start = time.perf_counter()
            for g in graphs[:fvcore_samples]:
                module = build(g).eval()
                flops = FlopCountAnalysis(module, torch.randn(g.input_shape))
                flops.unsupported_ops_warnings(False)
                flops.uncalled_modules_warnings(False)
                flops.total()
            fvcore_rate = fvcore_samples / (time.perf_counter() - start)
        except ImportError:
            pass
        rows.append((name, decode_rate, estimate_rate, fvcore_rate,
                     statistics.mean(len(g) for g in graphs)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--graphs", type=int, default=10_000)
    parser.add_argument("--space-samples", type=int, default=500)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)

    graph = load_graph("torchvision:mobilenet_v2").graph
    ours = estimate(graph)
    rows = []
    t_ours = median_seconds(lambda: estimate(graph), args.repeats * 4)
    rows.append(("fitnas estimate (ArchGraph)", t_ours, ours.macs, ours.params, "yes"))
    as_dict = graph.to_dict()
    t_decode = median_seconds(lambda: estimate(ArchGraph.from_dict(as_dict)), args.repeats * 2)
    rows.append(("fitnas ArchGraph.from_dict + estimate", t_decode, ours.macs, ours.params, "yes"))
    for label, fn in (("build + fvcore", fvcore_count), ("build + thop", thop_count)):
        try:
            macs, params = fn()
            rows.append((label, median_seconds(fn, args.repeats), macs, params, "no"))
        except ImportError:
            print(f"{label}: not installed (pip install -e '.[bench]')", file=sys.stderr)

    per_space = space_rates(args.space_samples, 20)
    graphs = [random_graph(seed, 20 + seed % 41) for seed in range(args.graphs)]
    start = time.perf_counter()
    for g in graphs:
        estimate(g)
    per_second = len(graphs) / (time.perf_counter() - start)
    nodes = statistics.mean(len(g) for g in graphs)
    del graphs

    lines = [
        "## estimate: analytic costs against fvcore and thop",
        "",
        "Command: `python benchmarks/estimate_speed.py` (one torch thread). " + machine_line(),
        "",
        "mobilenet_v2 at 1x3x224x224; median of "
        f"{args.repeats} runs for fvcore and thop, {args.repeats * 4} for fitnas.",
        "",
        "| method | median time | fitnas is faster by | MACs counted | params | peak memory |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, seconds, macs, params, peak in rows:
        ratio = f"{seconds / t_ours:.0f}x" if label.startswith("build") else "-"
        lines.append(f"| {label} | {seconds * 1e3:.2f} ms | {ratio} | {macs:,} | {params:,} "
                     f"| {peak} |")
    lines += [
        "",
        f"Per search space, {args.space_samples} sampled architectures at the space's default "
        "input (1x3x32x32, 10 classes); estimate = params, MACs, lifetime peak and Chan's memory "
        "from the decoded ArchGraph; fvcore = build the torch module and count (20 samples):",
        "",
        "| space | mean nodes | decodes per second | estimates per second | build + fvcore per second"
        " | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, dec, est, fv, mean_nodes in per_space:
        lines.append(f"| {name} | {mean_nodes:.0f} | {dec:,.0f} | {est:,.0f} | {fv:,.1f} | "
                     f"{est / fv:,.0f}x |")
    lines += [
        "",
        "Estimates per second are the median of five passes over the same graphs (a graph "
        "caches nothing between estimates); decoding is timed once. Goal (spaces issue): at "
        "least 2,000 estimates per second for default `cells` networks on one core.",
        "",
        f"Throughput: {per_second:,.0f} estimates per second over {args.graphs:,} random "
        f"ArchGraphs of 20 to 60 nodes (mean {nodes:.1f} nodes, plus a 2-node head).",
        "",
        "fvcore and thop count one per multiply-accumulate of conv and linear layers as fitnas "
        "does, and also count batch-norm and pooling work, so their totals are higher than the "
        "conv-and-linear MACs that fitnas and torchvision's metadata report. The second fitnas "
        "row includes decoding the graph from JSON (shape inference and validation of every "
        "node), the work a search does per candidate.",
    ]
    write_section("estimate", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
