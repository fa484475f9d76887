"""``fitnas train MODEL --data NAME --epochs N``: train a model and print its accuracy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..data import create_dataset
from ..errors import FitnasError
from ..modelspec import load_graph, model_forms
from ..train import SCHEDULES, Budget, TrainConfig, Trainer, TrainResult

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model on a dataset and print its accuracy",
        description="Train MODEL on a dataset held in memory (SGD with momentum, cosine or SGDR "
        "schedule) and print validation and test accuracy. MODEL: " + model_forms() + ". "
        "Datasets: see 'fitnas datasets'.",
    )
    p.add_argument("model", metavar="MODEL", help="the network to train (forms above)")
    p.add_argument("--data", default="digits", metavar="NAME",
                   help="dataset spec, e.g. digits, fashion-mnist, cifar10:DIR (default digits)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=float, help="epochs to train (default 10)")
    budget.add_argument("--steps", type=int, help="optimizer steps to train instead of epochs")
    budget.add_argument("--seconds", type=float, help="seconds to train instead of epochs")
    p.add_argument("--batch-size", type=int, default=128, help="images per SGD step")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (default 0.05)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (Nesterov)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay")
    p.add_argument("--schedule", default="cosine", help=f"one of {', '.join(SCHEDULES)}")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="label smoothing of the cross-entropy, in [0, 1)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the splits, the initial weights and the batches")
    p.add_argument("--threads", type=int, help="torch threads (default min(4, CPU count))")
    p.add_argument("--device", default="cpu", help="cpu (default) or a torch device, e.g. cuda")
    aug = p.add_mutually_exclusive_group()
    aug.add_argument("--augment", dest="augment", action="store_true", default=None,
                     help="pad-and-crop, flip and cutout (default: on for 32x32 images)")
    aug.add_argument("--no-augment", dest="augment", action="store_false",
                     help="never augment")
    p.add_argument("--subset", type=float, help="use this many (>1) or this fraction (<=1) of "
                   "the training split")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="part of the training images held out for validation")
    p.add_argument("--image-size", type=int, help="resize imagefolder images to NxN")
    p.add_argument("--final", action="store_true",
                   help="train on train plus validation and report test accuracy only")
    p.add_argument("--parent", metavar="DIR",
                   help="start from the weights saved with --save in DIR where layers match")
    p.add_argument("--save", metavar="DIR", help="write weights.pt, arch.json and result.json")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def _config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs if args.epochs is not None else 10.0, batch_size=args.batch_size,
        lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
        schedule=args.schedule, label_smoothing=args.label_smoothing, augment=args.augment,
        seed=args.seed, threads=args.threads, device=args.device)


def _subset(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value > 1 and float(value).is_integer() else value


def _parent(folder: str) -> Any:
    import torch

    from ..arch import ArchGraph

    path = Path(folder)
    arch, weights = path / "arch.json", path / "weights.pt"
    if not arch.is_file() or not weights.is_file():
        raise FitnasError(f"--parent {folder!r} must hold arch.json and weights.pt "
                          "(as written by fitnas train --save)")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        return ArchGraph.from_json(arch.read_text()), state
    except FitnasError:
        raise
    except Exception as err:
        raise FitnasError(f"cannot read the parent in {folder!r}: {err}") from None


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.steps is not None:
        budget = Budget(steps=args.steps)
    elif args.seconds is not None:
        budget = Budget(seconds=args.seconds)
    else:
        budget = config.budget()
    if args.device != "cpu":
        import torch

        try:
            torch.empty(0, device=args.device)
        except (RuntimeError, AssertionError) as err:
            raise FitnasError(f"--device {args.device!r} is not usable here: {err}") from None
    data = create_dataset(args.data, seed=args.seed, val_fraction=args.val_fraction,
                          subset=_subset(args.subset), augment=args.augment,
                          image_size=args.image_size)
    loaded = load_graph(args.model, data.input_shape, data.classes)
    graph = loaded.graph
    if graph.opaque_nodes:
        kinds = sorted({str(graph.node(n).attrs.get("target", "?")).rsplit(".", 1)[-1]
                        for n in graph.opaque_nodes})
        raise FitnasError(
            f"cannot train {args.model!r}: {len(graph.opaque_nodes)} node(s) use ops fitnas "
            f"cannot build ({', '.join(kinds[:4])} at {', '.join(graph.opaque_nodes[:4])}); "
            f"only catalogue ops train (see 'fitnas estimate' for what is known)")
    parent = _parent(args.parent) if args.parent else None
    trainer = Trainer(config)
    if args.json:
        result = trainer.fit(graph, data, budget=budget, parent=parent, test=True,
                             final=args.final)
    else:
        result = _fit_with_bar(trainer, graph, data, budget, parent, args.final)
    saved = _save(args.save, graph, result, config, data.name) if args.save else None
    if args.json:
        out = result.to_dict()
        out.update(model=loaded.source, data=data.name, config=config.get_config(), saved=saved)
        print(json.dumps(out, indent=2))
    else:
        _print_human(result, loaded.source, data.summary(), saved)
    return 0 if result.ok else 1


def _fit_with_bar(trainer: Trainer, module: Any, data: Any, budget: Budget, parent: Any,
                  final: bool) -> TrainResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]train"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("train", total=1.0, info="")

        def update(p: Any) -> None:
            bar.update(task, completed=min(1.0, p.budget_fraction),
                       info=f"epoch {p.epoch:.1f} loss {p.loss:.3f} lr {p.lr:.3g}")

        return trainer.fit(module, data, budget=budget, parent=parent, test=True, final=final,
                           on_progress=update)


def _save(folder: str, graph: Any, result: TrainResult, config: TrainConfig,
          data: str) -> str:
    import torch

    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / "arch.json").write_text(graph.to_json())
        if result.module is not None:
            torch.save(result.module.state_dict(), path / "weights.pt")
        record = result.to_dict()
        record.update(data=data, config=config.get_config())
        (path / "result.json").write_text(json.dumps(record, indent=2))
    except OSError as err:
        raise FitnasError(f"cannot write to --save {folder!r}: {err}") from None
    return str(path)


def _print_human(result: TrainResult, model: str, data: str, saved: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..report.formats import format_accuracy

    console = Console()
    if not result.ok:
        print(f"fitnas train: training failed: {result.reason}", file=sys.stderr)
        return
    t = Table(title=f"fitnas train {model}", caption=data)
    t.add_column("")
    t.add_column("value", justify="right")

    t.add_row("validation accuracy", format_accuracy(result.val_accuracy))
    t.add_row("test accuracy", format_accuracy(result.test_accuracy))
    t.add_row("epochs / steps", f"{result.epochs:.2f} / {result.steps}")
    t.add_row("seconds", f"{result.seconds:.2f}")
    if result.seconds > 0:
        t.add_row("images per second", f"{result.images / result.seconds:,.0f}")
    if result.inherited is not None:
        inh = result.inherited
        t.add_row("inherited layers", f"{len(inh.inherited)} of "
                  f"{len(inh.inherited) + len(inh.fresh)} ({inh.tensors_inherited} tensors)")
    console.print(t)
    if saved:
        console.print(f"weights, arch.json and result.json written to {saved}")
