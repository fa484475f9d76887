"""``fitnas lug build|show``: DCA-NAS's look-up graph, and the supernet phase of ``fitnas search
--strategy dcanas`` (paper 004; ``fitnas.supernet``).

``fitnas lug build --space darts:... --data fashion-mnist --cost params --targets 40K,80K,160K
--out lug.json`` runs one supernet search per target (and seed) on ``--workers`` processes or
Ray, and stores the (K_s, K_d) points with the space, dataset and cost they hold for;
``fitnas search --strategy dcanas:lug=lug.json --max-params 100K`` then searches at the target
read off it. ``fitnas lug show FILE`` prints the points and the fitted curve.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FitnasError

if TYPE_CHECKING:
    from ..study.setup import SearchSettings

__all__ = ["register", "supernet_phase"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("lug", help="DCA-NAS look-up graphs: search-time target -> "
                                          "derived network size",
                              description="Build or show a look-up graph (paper 004 section "
                                          "3.2.1) for `--strategy dcanas:lug=FILE`.")
    sub = p.add_subparsers(dest="lug_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="search at several targets and store the graph",
                       description="Run one supernet search per target K_s (and seed), in "
                                   "parallel, and store each derived network's cost K_d.")
    b.add_argument("--space", default="darts", help="darts or nb201, with options "
                                                    "(NAME:KEY=VALUE,...)")
    b.add_argument("--data", default="digits", help="dataset spec (see `fitnas datasets`)")
    b.add_argument("--subset", type=float, help="fraction (<1) or number of training images")
    b.add_argument("--cost", default="params", choices=("params", "macs", "peak"),
                   help="the constrained cost (peak: peak activation bytes)")
    b.add_argument("--dtype", default="fp32",
                   help="the dtype a peak is counted at (the runs' --dtype; default fp32)")
    b.add_argument("--targets", required=True,
                   help="search-time targets K_s, comma-separated counts (e.g. 40K,80K,160K; "
                        "for --cost peak sizes, e.g. 96KB,128KB)")
    b.add_argument("--seeds", default="0", help="seeds per target, comma-separated")
    b.add_argument("--supernet", default="",
                   help="supernet options KEY=VALUE,...: epochs, batch_size, lr, arch_lr, "
                        "lambda_lr, bottleneck, weight_sharing, derived_cells")
    b.add_argument("--workers", type=int, default=1, help="searches run at once")
    b.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="where the searches run: local processes or a Ray cluster")
    b.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    b.add_argument("--seed", type=int, default=0, help="seeds the data split")
    b.add_argument("--out", required=True, help="the graph's JSON file")
    b.set_defaults(handler=run_build)
    s = sub.add_parser("show", help="print a graph's points and fitted curve",
                       description="Print a look-up graph's searches, its fitted monotone "
                                   "curve and, with --limit, the target for a limit.")
    s.add_argument("file", help="a look-up graph JSON file")
    s.add_argument("--limit", help="also print the target for this limit (e.g. 100K)")
    s.set_defaults(handler=run_show)


def run_build(args: argparse.Namespace) -> int:
    from ..constraints import parse_count, parse_size
    from ..costs.dtypes import bytes_per_element
    from ..data import create_dataset
    from ..spaces import create_space
    from ..study.setup import parse_options
    from ..supernet.expected import expected_cost
    from ..supernet.lug import build_lookup_graph
    from ..supernet.run import format_cost
    from ..supernet.search import SupernetConfig
    from .search import _subset

    name, _, opts = args.space.partition(":")
    parse = parse_size if args.cost == "peak" else parse_count
    targets = [float(parse(t.strip(), "target")) for t in args.targets.split(",") if t.strip()]
    try:
        seeds = [int(t) for t in args.seeds.split(",") if t.strip()]
    except ValueError:
        raise FitnasError(f"--seeds takes comma-separated ints, got {args.seeds!r}") from None
    if args.workers < 1:
        raise FitnasError(f"--workers must be at least 1, got {args.workers}")
    config = SupernetConfig(**_supernet_options(parse_options(args.supernet, "--supernet")))
    dataset = create_dataset(args.data, seed=args.seed, subset=_subset(args.subset))
    space = create_space(name, input_shape=dataset.input_shape, classes=dataset.classes,
                         **parse_options(opts, "--space"))

    bytes_per_element(args.dtype)  # a bad --dtype: one line before anything runs
    expected = expected_cost(space, args.cost, args.dtype)
    cost = args.cost

    print(f"{space.name}: cheapest network {format_cost(expected.smallest(), cost)} {cost}, "
          f"K(alpha) at uniform alpha {format_cost(expected.at_uniform(), cost)} (a search "
          "starts there: targets above it do not bind at first)", file=sys.stderr)

    def done(point: Any) -> None:
        print(f"target {format_cost(point.target, cost)}, seed {point.seed}: derived "
              f"{format_cost(point.derived, cost)} {cost} (K(alpha) "
              f"{format_cost(point.k_alpha, cost)}), {point.seconds:.0f} s", file=sys.stderr)

    graph = build_lookup_graph(space, dataset, cost, targets, config, seeds, args.workers,
                               args.backend, args.address, done, dtype=args.dtype)
    path = graph.save(args.out)
    print(f"look-up graph of {len(graph.points)} searches written to {path}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from ..constraints import parse_count, parse_size
    from ..supernet.lug import LookupGraph
    from ..supernet.run import format_cost

    graph = LookupGraph.load(args.file)

    def show(value: float) -> str:
        return format_cost(value, graph.cost)

    at = f" at {graph.dtype}" if graph.cost == "peak" else ""
    print(f"{graph.space} ({', '.join(f'{k}={v}' for k, v in graph.space_config.items())}) on "
          f"{graph.dataset}, {graph.cost}{at}; cheapest network {show(graph.smallest)}")
    for p in graph.points:
        print(f"  K_s {show(p.target):>8}  seed {p.seed}  ->  K_d "
              f"{show(p.derived):>8}  (K(alpha) {show(p.k_alpha)})")
    print("fitted: " + ", ".join(f"{show(x)}->{show(y)}" for x, y in graph.curve()))
    if args.limit:
        parse = parse_size if graph.cost == "peak" else parse_count
        limit = float(parse(args.limit, "--limit"))
        print(f"limit {show(limit)}: search at K_s = {show(graph.target_for(limit))}")
    return 0


def _supernet_options(options: dict[str, Any]) -> dict[str, Any]:
    from ..strategies.dcanas import SUPERNET_OPTIONS

    unknown = sorted(set(options) - set(SUPERNET_OPTIONS))
    if unknown:
        raise FitnasError(f"unknown --supernet option {unknown[0]!r}; accepted: "
                          f"{', '.join(SUPERNET_OPTIONS)}")
    return options


def supernet_phase(settings: SearchSettings, out: Path, quiet: bool = False) -> SearchSettings:
    """Run the ``dcanas`` strategy's supernet searches for a new run; the settings with the
    derived genotypes in its options (what the Study proposes), and ``out/supernet.json``."""
    from ..constraints import Constraints, Limits
    from ..spaces import create_space
    from ..strategies import create_strategy
    from ..strategies.dcanas import DCANASStrategy
    from ..study.setup import dataset_of
    from ..supernet.run import (
        checkpoint_path,
        format_cost,
        plan_search,
        results_data,
        run_supernet_searches,
    )

    dataset = dataset_of(settings)
    space = create_space(settings.space, input_shape=dataset.input_shape,
                         classes=dataset.classes, **settings.space_options)
    strategy = create_strategy(settings.strategy, space, seed=settings.seed,
                               **settings.strategy_options)
    if not isinstance(strategy, DCANASStrategy):
        raise FitnasError(f"strategy {settings.strategy!r} trains no supernet")
    constraints = Constraints(Limits.from_dict(settings.limits), device=settings.device_model,
                              latency=settings.latency, devices=settings.objective_devices)
    plan = plan_search(strategy, space, constraints, settings.data)
    if not quiet:
        print(f"fitnas search: dcanas supernet on {dataset.name}: {plan.describe()}",
              file=sys.stderr)

    def progress(k: int, r: Any) -> None:
        if quiet:
            return
        search = f"search {k + 1}/{strategy.searches} " if strategy.searches > 1 else ""
        print(f"  {search}supernet epoch {r.epoch}/{r.epochs}: {r.seconds:.1f} s, loss "
              f"{r.train_loss:.3f}, supernet accuracy {100 * r.val_accuracy:.1f}%, lambda "
              f"{r.lambda_:.3g}, K(alpha) {format_cost(r.k_alpha, plan.cost)}, derived "
              f"{format_cost(r.k_derived, plan.cost)} {plan.cost}: {space.format(r.genotype)}",
              file=sys.stderr)

    if checkpoint_path(out, 0).exists() and not quiet:
        print(f"  {out} holds a supernet checkpoint: a search of the same settings continues "
              "after its last epoch (another one starts over)", file=sys.stderr)
    results = run_supernet_searches(strategy, space, dataset, plan, progress,
                                    dtype=constraints.dtype, checkpoints=out)
    for k, r in enumerate(results):
        if r.resumed_after and not quiet:
            search = f"search {k + 1}: " if strategy.searches > 1 else ""
            print(f"  {search}continued from its checkpoint after epoch {r.resumed_after}",
                  file=sys.stderr)
        if r.replaced and not quiet:
            print(f"  the derived network ({format_cost(r.k_searched or 0, plan.cost)} "
                  f"{plan.cost}) is over the limit: {r.replaced} operation(s) replaced by "
                  "cheaper ones at the least loss of architecture weight -> "
                  f"{format_cost(r.k_derived, plan.cost)}: "
                  f"{space.format(r.genotype)}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    (out / "supernet.json").write_text(json.dumps(results_data(space, plan, results), indent=2))
    for k in range(strategy.searches):  # the derived genotypes are in the settings from here
        checkpoint_path(out, k).unlink(missing_ok=True)
    options = {**settings.strategy_options,
               "derived": [space.to_data(r.genotype) for r in results]}
    return dataclasses.replace(settings, strategy_options=options)
