"""The search-time reductions of DCA-NAS, added one at a time (paper 004 Fig. 3a, section 5).

Five supernet searches on Fashion-MNIST in the ``darts`` space: DARTS (every edge its own
modules, every cell mixed, no bottleneck), + weight sharing, + the 1x1 channel bottleneck,
+ derived cells, + the Lagrangian constraint (the full DCA-NAS). Each runs in its own process
(so that the peak resident set, ``ru_maxrss`` read by the process after its search, is its
own) for the same number of supernet epochs, and we report the median seconds per
epoch, the peak resident set, the supernet's estimated training memory
(``fitnas.supernet.memory``, computed before allocating) and its weight count.

Run: ``python benchmarks/dcanas_ablation.py [--space darts:channels=8,layers=5] [--subset 1000]
[--epochs 2] [--batch-size 32]``. Writes the ``dcanas-ablation`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

SETTINGS: list[tuple[str, dict[str, Any], bool]] = [
    ("DARTS", {"weight_sharing": False, "bottleneck": 1, "derived_cells": False}, False),
    ("+ weight sharing", {"weight_sharing": True, "bottleneck": 1, "derived_cells": False}, False),
    ("+ channel bottleneck", {"weight_sharing": True, "bottleneck": 4, "derived_cells": False},
     False),
    ("+ derived cells", {"weight_sharing": True, "bottleneck": 4, "derived_cells": True}, False),
    ("+ constraint (DCA-NAS)", {"weight_sharing": True, "bottleneck": 4, "derived_cells": True},
     True),
]


def one(args: argparse.Namespace) -> None:
    """One search in this process; prints its numbers as JSON."""
    from fitnas.data import create_dataset
    from fitnas.spaces import create_space
    from fitnas.study.setup import parse_options
    from fitnas.supernet.expected import ExpectedCost
    from fitnas.supernet.memory import estimate_training_memory
    from fitnas.supernet.search import DCANAS, SupernetConfig

    _, switches, constrained = SETTINGS[args.one]
    name, _, opts = args.space.partition(":")
    data = create_dataset("fashion-mnist", subset=args.subset)
    space = create_space(name, input_shape=data.input_shape, classes=data.classes,
                         **parse_options(opts, "--space"))
    target = ExpectedCost(space, "params").smallest() * 2.5 if constrained else None
    config = SupernetConfig(epochs=args.epochs, batch_size=args.batch_size, **switches)
    search = DCANAS(space, "params", target, config)
    search.fit(data)
    assert search.result is not None
    net_weights = sum(p.numel() for p in search.build().weight_parameters())
    print(json.dumps({
        "seconds": [r.seconds for r in search.result.history],
        "estimate": estimate_training_memory(space, args.batch_size, **switches),
        "weights": net_weights, "accuracy": search.result.history[-1].val_accuracy,
        "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--space", default="darts:channels=8,layers=5")
    p.add_argument("--subset", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one is not None:
        return one(args)
    rows = []
    for k, (label, _, _) in enumerate(SETTINGS):
        done = subprocess.run([sys.executable, __file__, "--one", str(k), "--space", args.space,
                               "--subset", str(args.subset), "--epochs", str(args.epochs),
                               "--batch-size", str(args.batch_size)],
                              capture_output=True, text=True, check=True)
        numbers = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((label, numbers))
        print(label, numbers, file=sys.stderr, flush=True)
    command = "python benchmarks/dcanas_ablation.py " + shlex.join(
        [f"--space={args.space}", f"--subset={args.subset}", f"--epochs={args.epochs}",
         f"--batch-size={args.batch_size}"])
    base = statistics.median(rows[0][1]["seconds"])
    lines = ["## dcanas-ablation: the search-time reductions one at a time (paper 004 Fig. 3a)",
             "", f"`{command}`", "", machine_line(), "",
             "| supernet | s / epoch (median) | vs DARTS | peak RSS | estimated training memory "
             "| weights | supernet accuracy after the epochs |", "|---|---|---|---|---|---|---|"]
    for label, n in rows:
        sec = statistics.median(n["seconds"])
        lines.append(f"| {label} | {sec:.1f} | {sec / base:.2f}x | {n['rss_kib'] / 1024:.0f} MiB | "
                     f"{n['estimate'] / 2**20:.0f} MiB | {n['weights']:,} | "
                     f"{100 * n['accuracy']:.1f}% |")
    lines += ["", "Peak RSS is the whole search process (Python, torch, the data and the "
              "supernet), read by the process itself after its search (`ru_maxrss`). The "
              "supernet's accuracy (eval mode, on the alpha half) is a progress figure only: "
              "with derived cells the cells outside the first of each kind switch operations "
              "as alpha moves, so the batch-norm statistics of a newly chosen operation are "
              "those of the few batches it ran, and after 2 epochs the figure is low; it says "
              "nothing of the derived network, which is trained from scratch."]
    write_section("dcanas-ablation", "\n".join(lines))


if __name__ == "__main__":
    main()
