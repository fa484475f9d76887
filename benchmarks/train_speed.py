"""How fast is the Trainer? Images per second against a bare PyTorch loop, same process.

Run: ``python benchmarks/train_speed.py`` (add ``--quick`` for a short run). It writes the
``train`` section of BENCHMARKS.md.

Both sides train the same built ``ArchModule`` on the same in-memory tensors with the same
batch size, SGD (momentum 0.9, Nesterov, weight decay 5e-4), one torch thread:

* bare loop: ``randperm``, index the tensors, forward, cross-entropy, backward, step; nothing
  else (no learning-rate schedule, no loss read-back, no evaluation);
* Trainer: ``Trainer.fit(module, data, budget=Budget(steps=N))`` timed from outside, so its
  cosine schedule, per-step NaN check, learning-curve point and the validation pass at the
  end are all counted against it.

Rounds alternate (bare, Trainer, bare, ...) and the median images per second of each is
reported. Workloads: digits (1x8x8) with a small CNN, and 3x32x32 synthetic data with a
CIFAR-sized CNN, augmentation off (the bare loop does none), then on as an extra row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.arch import ArchGraph
from fitnas.arch.builder import ArchModule, build
from fitnas.data import Dataset, create_dataset
from fitnas.train import Budget, TrainConfig, Trainer


def cnn(shape: tuple[int, ...], widths: tuple[int, ...], classes: int = 10) -> ArchGraph:
    nodes: list[tuple] = []
    last = "input"
    for k, width in enumerate(widths):
        stride = 1 if k == 0 else 2
        nodes += [(f"conv{k}", "conv2d", (last,), {"out_channels": width, "kernel": 3,
                                                   "padding": 1, "stride": stride}),
                  (f"bn{k}", "batchnorm", (f"conv{k}",)),
                  (f"relu{k}", "relu", (f"bn{k}",))]
        last = f"relu{k}"
    nodes += [("pool", "global_avgpool", (last,), {"keepdim": False}),
              ("fc", "linear", ("pool",), {"out_features": classes})]
    return ArchGraph(shape, nodes)


def bare_loop(module: ArchModule, data: Dataset, steps: int, batch: int) -> float:
    """Images per second of the plainest PyTorch training loop."""
    decay = [p for p in module.parameters() if p.ndim > 1]
    rest = [p for p in module.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4},
                           {"params": rest, "weight_decay": 0.0}], lr=0.01, momentum=0.9,
                          nesterov=True)
    loss_fn = nn.CrossEntropyLoss()
    x_all, y_all = data.train.x, data.train.y
    n = len(x_all)
    module.train()
    start = time.perf_counter()
    done = 0
    while done < steps:
        perm = torch.randperm(n)
        for b in range(n // batch):
            if done == steps:
                break
            idx = perm[b * batch:(b + 1) * batch]
            loss = loss_fn(module(x_all.index_select(0, idx)), y_all.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    return steps * batch / (time.perf_counter() - start)


def trainer_loop(module: ArchModule, data: Dataset, steps: int, batch: int,
                 augment: bool) -> float:
    trainer = Trainer(TrainConfig(batch_size=batch, lr=0.01, threads=1, augment=augment))
    start = time.perf_counter()
    result = trainer.fit(module, data, budget=Budget(steps=steps))
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"training failed: {result.reason}")
    return steps * batch / elapsed


def measure(name: str, data: Dataset, graph: ArchGraph, steps: int, rounds: int,
            batch: int = 128) -> list[str]:
    module = build(graph)
    bare_loop(module, data, 3, batch)  # warm-up
    trainer_loop(module, data, 3, batch, False)
    bare, ours, aug = [], [], []
    for _ in range(rounds):
        bare.append(bare_loop(module, data, steps, batch))
        ours.append(trainer_loop(module, data, steps, batch, False))
        aug.append(trainer_loop(module, data, steps, batch, True))
    b, t, a = (statistics.median(v) for v in (bare, ours, aug))
    print(f"{name}: bare {b:,.0f} img/s, Trainer {t:,.0f} img/s ({100 * t / b:.1f} %), "
          f"with augmentation {a:,.0f} img/s", flush=True)
    return [f"| {name} | {b:,.0f} | {t:,.0f} | {100 * t / b:.1f} % | {a:,.0f} |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps, rounds = (10, 3) if args.quick else (40, 7)
    rows = ["| workload | bare loop (img/s) | Trainer (img/s) | Trainer / bare | "
            "Trainer with augmentation (img/s) |", "|---|---:|---:|---:|---:|"]
    digits = create_dataset("digits")
    rows += measure("digits 1x8x8, CNN 32-64", digits, cnn((1, 1, 8, 8), (32, 64)), steps,
                    rounds)
    synth = create_dataset("synthetic:3x32x32,n=6000,test=100", augment=False)
    rows += measure("synthetic 3x32x32, CNN 16-32-64", synth,
                    cnn((1, 3, 32, 32), (16, 32, 64)), steps, rounds)
    body = "\n".join([
        "## train: Trainer against a bare PyTorch loop",
        "",
        f"Command: `python benchmarks/train_speed.py`. {machine_line()}",
        "",
        f"Batch 128, {steps} steps a round, median of {rounds} alternating rounds; the Trainer "
        "is timed from outside, its schedule, NaN checks and final validation pass included. "
        "Goal: at least 90 % of the bare loop.",
        "",
        *rows,
        "",
        "The augmentation column (pad-and-crop, flip, cutout on the whole batch) is extra work "
        "the bare loop does not do; it shows its cost, not overhead.",
    ])
    if not args.no_write:
        write_section("train", body)
    print(body)


if __name__ == "__main__":
    main()
