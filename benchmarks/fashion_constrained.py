"""Real constrained searches on Fashion-MNIST, reported like paper 002 Table 2.

For each strategy (``coordinate``, ``growtrim``) a search without limits finds the best model
and its peak activation memory P; then searches limited to 50%, 30% and 10% of P run with the
same settings. Each row gives the best feasible model's test accuracy (its saved weights on the
held-out test split), parameters, peak activation memory, MACs and the search time. The runs go
through the ``fitnas search`` command itself; the commands are printed and recorded.

Run: ``python benchmarks/fashion_constrained.py [--subset 3000] [--epochs 3] [--trials 20]
[--minutes 6] [--out runs/fashion]`` (needs Debian's dataset-fashion-mnist). Writes the
``fashion-constrained`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from _report import machine_line, write_section

from fitnas.cli import main as fitnas_main
from fitnas.study.ensemble import build_ensemble
from fitnas.units import format_bytes, format_count

SPACE = "chain:max_filters=32,min_filters=1,max_conv_layers=6"
STRATEGIES = {
    "coordinate": (SPACE, "coordinate:nrandom={r},nadapt={a},nfinal={f}"),
    "growtrim": (SPACE, "growtrim:k=4,initial={r}"),
}
FRACTIONS = (1.0, 0.5, 0.3, 0.1)


def run_search(args: argparse.Namespace, name: str, fraction: float, peak: int | None,
               out: Path) -> tuple[list[str], float, str]:
    """Run one search through the CLI: its argv, seconds and error line (``""`` when none)."""
    space, strategy = STRATEGIES[name]
    r = max(2, args.trials * 2 // 5)
    a = max(1, args.trials * 2 // 5)
    strategy = strategy.format(r=r, a=a, f=max(1, args.trials - r - a))
    argv = ["search", "--data", "fashion-mnist", "--subset", str(args.subset), "--space", space,
            "--strategy", strategy, "--epochs", str(args.epochs),
            "--budget", f"{args.trials},{args.minutes}m", "--device", "none", "--seed", "0"]
    if peak is not None:
        argv += ["--max-peak-mem", str(peak)]
    argv += ["--out", str(out), "--force", "--json"]  # left out of the recorded command
    start = time.perf_counter()
    errors = _Tee(sys.stderr)
    with contextlib.redirect_stderr(errors):
        code = fitnas_main(argv)
    error = ""
    if code != 0:  # e.g. no network of the space meets the limit: a row that says so
        print(f"fitnas {' '.join(argv)} exited with {code}")
        lines = [line for line in errors.getvalue().splitlines() if ": error: " in line]
        error = lines[-1].split(": error: ", 1)[1] if lines else f"exit code {code}"
    return argv, time.perf_counter() - start, error


class _Tee(io.StringIO):
    """Keeps what is written and passes it on to ``stream``."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text)
        return super().write(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subset", type=int, default=3000)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--out", default="runs/fashion")
    parser.add_argument("--strategies", default="coordinate,growtrim")
    args = parser.parse_args()
    # (strategy, fraction, (best, test accuracy, (vote accuracy, params)) or None, limit,
    # seconds, summary)
    rows: list[tuple[str, float, tuple[dict[str, Any], float | None, tuple[float, int] | None] | None,
                     int | None, float, dict[str, Any]]] = []
    commands: list[str] = []
    failures: list[str] = []
    for name in args.strategies.split(","):
        peak_100: int | None = None
        for fraction in FRACTIONS:
            limit: int | None
            if fraction == 1.0:
                limit = None
            elif peak_100 is not None:
                limit = int(peak_100 * fraction)
            else:
                break  # the search without limits found nothing to scale
            out = Path(args.out) / f"{name}-{int(fraction * 100)}"
            argv, seconds, error = run_search(args, name, fraction, limit, out)
            commands.append("fitnas " + shlex.join(argv[:-1]))
            summary_path = out / "summary.json"
            summary: dict[str, Any] = json.loads(summary_path.read_text()) if summary_path.exists() else {
                "best": None, "counts": {"COMPLETE": 0, "FAILED": 0, "INFEASIBLE": "all"}}
            best = summary["best"]
            if best is None:
                rows.append((name, fraction, None, limit, seconds, summary))
                if error:
                    failures.append(f"{name} at {int(fraction * 100)}%: {error}")
                continue
            if fraction == 1.0:
                peak_100 = best["peak_activation_bytes"]
            test_acc: float | None
            vote: tuple[float, int] | None
            try:
                ensemble = build_ensemble(out, top=3)
                member = next(m for m in ensemble.members if m.trial == best["trial"])
                test_acc = member.test_accuracy
                vote = (ensemble.test_accuracy, ensemble.costs["params"])
            except Exception as err:  # fewer than 2 usable trials
                print(f"no ensemble for {out}: {err}")
                test_acc, vote = None, None
            rows.append((name, fraction, (best, test_acc, vote), limit, seconds, summary))
            print(name, fraction, best["accuracy"], test_acc, seconds, flush=True)
    script = "python benchmarks/fashion_constrained.py " + shlex.join(sys.argv[1:])
    lines = [
        "## Constrained searches on Fashion-MNIST (paper 002 Table 2)", "",
        f"Command: `{script.strip()}`. " + machine_line(), "",
        f"Training subset {args.subset} images (validation and test splits from the standard "
        f"split, see `fitnas datasets`), chain space, {args.epochs:g} epochs per fully trained "
        f"candidate (early-assessed ones a quarter of that), at most {args.trials} trials or "
        f"{args.minutes:g} minutes per search, seed 0, fp32. The 100% row is the search without "
        "limits; the others limit peak activation memory to that fraction of its best model's "
        "peak. Test accuracy is the best feasible trial's saved weights on the test split; "
        "'%Mem' is its peak over the 100% model's.", "",
        "| strategy | target | test acc | val acc | params | peak mem | %Mem | MACs | trials "
        "(infeasible) | search time | top-3 vote test acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base_peak: dict[str, int] = {}
    for name, fraction, found, limit, seconds, summary in rows:
        counts = summary["counts"]
        tried = f"{counts['COMPLETE'] + counts['FAILED']} ({counts['INFEASIBLE']})"
        target = f"{int(fraction * 100)}%" + (f" ({format_bytes(limit)})" if limit else "")
        if found is None:
            lines.append(f"| {name} | {target} | none feasible | | | | | | {tried} | "
                         f"{seconds:.0f} s | |")
            continue
        best, test_acc, vote = found
        peak = best["peak_activation_bytes"]
        base_peak.setdefault(name, peak)
        vote_text = f"{vote[0]:.4f} ({format_count(vote[1])} params)" if vote else "-"
        test_text = f"{test_acc:.4f}" if test_acc is not None else "-"
        lines.append(
            f"| {name} | {target} | {test_text} | {best['accuracy']:.4f} | "
            f"{format_count(best['params'])} | {format_bytes(peak)} | "
            f"{100 * peak / base_peak[name]:.1f} | {format_count(best['macs'])} | {tried} | "
            f"{seconds:.0f} s | {vote_text} |")
    if failures:
        lines += ["", "Searches that found no feasible network (the error `fitnas search` gave):", ""]
        lines += [f"- {line}" for line in failures]
    lines += ["", "The searches it ran (each also with `--out DIR --force --json`):", "", "```"]
    lines += [c.split(" --out ")[0] for c in commands]
    lines += ["```"]
    write_section("fashion-constrained", "\n".join(lines))


if __name__ == "__main__":
    main()
