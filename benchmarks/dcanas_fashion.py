"""DCA-NAS on Fashion-MNIST under three parameter limits, against random search at the same
wall time (paper 004 Fig. 2 in our setting).

1. A look-up graph (``fitnas lug build``) for the ``darts`` space on the data: one supernet
   search per search-time target K_s (paper 004 section 3.2.1).
2. For each limit and seed: ``fitnas search --strategy dcanas:lug=...`` (the supernet at the
   K_s read off the graph, the derived network trained from scratch, recorded and exported),
   timed; then ``fitnas search --strategy random`` in the same space, under the same limit, for
   the same wall time.
3. The table: the derived network's parameters and whether it meets the limit, its test
   accuracy, and random search's best network and test accuracy at equal time.

Run: ``python benchmarks/dcanas_fashion.py [--space darts:channels=8,layers=5] [--subset 1000]
[--limits 20K,25K,35K] [--seeds 0,1,2] [--lug-seeds 10,11] [--epochs 4]
[--supernet epochs=5,batch_size=32]
[--out runs/dcanas-fashion]`` (needs Debian's dataset-fashion-mnist). Writes the
``dcanas-fashion`` section of BENCHMARKS.md; with an explicit rule in ``--supernet``
(``lambda_on=derived`` or ``expected``), the ``dcanas-fashion-RULE`` section instead.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_section

from fitnas.cli import main as fitnas_main
from fitnas.constraints import parse_count
from fitnas.data import create_dataset
from fitnas.spaces import create_space
from fitnas.study.setup import parse_options
from fitnas.supernet.expected import ExpectedCost
from fitnas.supernet.lug import LookupGraph
from fitnas.units import format_count


def run(argv: list[str], may_find_nothing: bool = False) -> float:
    """Run ``fitnas ARGV``; its wall time in seconds. A failure stops the benchmark, except a
    random search that found no network under the limit (exit 2, ``may_find_nothing``)."""
    print("$ fitnas " + shlex.join(argv), file=sys.stderr, flush=True)
    start = time.monotonic()
    code = fitnas_main(argv)
    if code != 0 and not (may_find_nothing and code == 2):
        raise SystemExit(f"fitnas {' '.join(argv[:1])} exited with {code}")
    return time.monotonic() - start


def best_of(out: Path) -> dict[str, Any]:
    if not (out / "summary.json").exists():  # nothing met the limit: no run was written
        return {"params": None, "test": None, "val": None, "trials": 0}
    summary = json.loads((out / "summary.json").read_text())
    best = summary.get("best") or {}
    return {"params": best.get("params"), "test": best.get("test_accuracy"),
            "val": best.get("accuracy"), "trials": sum(summary["counts"].values())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--space", default="darts:channels=8,layers=5")
    p.add_argument("--subset", type=int, default=1000)
    p.add_argument("--limits", default="20K,25K,35K")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--targets", help="K_s of the look-up graph (default: 0.5, 0.8 and "
                                     "1.2 times K(alpha) at uniform alpha, where a search starts)")
    p.add_argument("--lug-seeds", default="10,11",
                   help="seeds of the look-up graph's searches (not the runs' seeds)")
    p.add_argument("--epochs", type=float, default=4.0, help="training epochs of a network")
    p.add_argument("--supernet", default="epochs=5,batch_size=32")
    p.add_argument("--workers", type=int, default=1, help="look-up graph searches at once")
    p.add_argument("--out", default="runs/dcanas-fashion")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name, _, opts = args.space.partition(":")
    data = create_dataset("fashion-mnist", subset=args.subset)
    space = create_space(name, input_shape=data.input_shape, classes=data.classes,
                         **parse_options(opts, "--space"))
    expected = ExpectedCost(space, "params")
    uniform = expected.at_uniform()
    targets = args.targets or ",".join(str(int(uniform * f)) for f in (0.5, 0.8, 1.2))
    common = ["--data", "fashion-mnist", "--subset", str(args.subset), "--space", args.space]
    lug = out / "lug.json"
    lug_seconds = run(["lug", "build", *common[:4], "--space", args.space, "--targets", targets,
                       "--supernet", args.supernet, "--seeds", args.lug_seeds,
                       "--workers", str(args.workers),
                       "--out", str(lug)])
    graph = LookupGraph.load(lug)
    supernet = ",".join(f"{k}={v}" for k, v in parse_options(args.supernet, "s").items())
    rows = []
    for limit_text in args.limits.split(","):
        limit = int(parse_count(limit_text))
        for seed in (int(s) for s in args.seeds.split(",")):
            base = [*common, "--device", "none", "--max-params", str(limit), "--epochs",
                    str(args.epochs), "--seed", str(seed), "--json"]
            d_out, r_out = out / f"dcanas-{limit}-{seed}", out / f"random-{limit}-{seed}"
            seconds = run(["search", *base, "--strategy", f"dcanas:lug={lug},{supernet}",
                           "--budget", "1,30m", "--force", "--out", str(d_out)])
            run(["search", *base, "--strategy", "random", "--budget", f"{int(seconds)}s",
                 "--force", "--out", str(r_out)], may_find_nothing=True)
            found = json.loads((d_out / "supernet.json").read_text())
            searched = found["searches"][0]
            rows.append({"limit": limit, "seed": seed, "seconds": seconds,
                         "target": found["target"], "dcanas": best_of(d_out),
                         "derived": searched["k_derived"], "searched": searched["k_searched"],
                         "replaced": searched["replaced"], "random": best_of(r_out)})
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    write_section(section(args), report(args, graph, lug_seconds, rows))


def lambda_rule(args: argparse.Namespace) -> str:
    return str(parse_options(args.supernet, "--supernet").get("lambda_on", "auto"))


def section(args: argparse.Namespace) -> str:
    rule = lambda_rule(args)
    return "dcanas-fashion" if rule == "auto" else f"dcanas-fashion-{rule}"


def _acc(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def report(args: argparse.Namespace, graph: LookupGraph, lug_seconds: float,
           rows: list[dict[str, Any]]) -> str:
    command = "python benchmarks/dcanas_fashion.py " + shlex.join(
        [f"--space={args.space}", f"--subset={args.subset}", f"--limits={args.limits}",
         f"--lug-seeds={args.lug_seeds}",
         f"--seeds={args.seeds}", f"--epochs={args.epochs:g}", f"--supernet={args.supernet}"])
    lines = [f"## {section(args)}: DCA-NAS under parameter limits vs random search at equal "
             f"time (paper 004 Fig. 2), lambda_on={lambda_rule(args)}", "", f"`{command}`", "",
             machine_line(), "",
             f"Look-up graph ({len(graph.points)} searches, {lug_seconds:.0f} s): "
             + ", ".join(f"K_s {format_count(p.target)} -> K_d {format_count(p.derived)}"
                         for p in graph.points)
             + f"; cheapest network {format_count(graph.smallest)}.", "",
             "| limit | seed | K_s | DARTS' derivation | meets | recorded (ops replaced) | "
             "dcanas test acc | time (s) | random trials (all states) | random params | "
             "random test acc |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d, q = r["dcanas"], r["random"]
        lines.append(
            f"| {format_count(r['limit'])} | {r['seed']} | {format_count(r['target'])} | "
            f"{format_count(r['searched'])} | {'yes' if r['searched'] <= r['limit'] else 'no'} | "
            f"{format_count(r['derived'])} ({r['replaced']}) | "
            f"{_acc(d['test'])} | {r['seconds']:.0f} | {q['trials']} | "
            f"{format_count(q['params']) if q['params'] else 'none found'} | "
            f"{_acc(q['test'])} |")
    lines += ["", "Medians over seeds:", ""]
    for limit in sorted({r["limit"] for r in rows}):
        mine = [r for r in rows if r["limit"] == limit]
        med = [statistics.median([x[k]["test"] or 0.0 for x in mine]) for k in ("dcanas", "random")]
        nothing = sum(x["random"]["test"] is None for x in mine)
        met = sum(r["searched"] <= limit for r in mine)
        recorded = sum(r["derived"] <= limit for r in mine)
        lines.append(f"- {format_count(limit)} params: DARTS' derivation at the look-up graph's "
                     f"K_s meets the limit in {met}/{len(mine)} seeds, the recorded network in "
                     f"{recorded}/{len(mine)}; median test accuracy dcanas {_acc(med[0])}, "
                     f"random {_acc(med[1])}"
                     + (f" (random found no network under the limit in {nothing} seed(s), "
                        "counted as 0)" if nothing else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
