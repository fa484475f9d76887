"""``fitnas bench nb201 --grid``: every cell, the summary, percentile limits and bad input.

The grid runs on a synthetic table of all 15,625 cells written here (two test columns whose
values follow the operations, plus noise), so it needs nothing from ``../shared``.
"""

from __future__ import annotations

import csv
import json
import math
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

from fitnas.bench import NB201Bench, parse_relative_limit, percentile_low, table_costs
from fitnas.bench.grid import GRID_LIMITS, grid_columns, parse_grid_limits, run_grid
from fitnas.cli import main
from fitnas.errors import FitnasError
from fitnas.spaces.nb201 import OPS, NB201Space

SPACE = NB201Space()
#: What each operation adds to a synthetic accuracy (convolutions help, as in NAS-Bench-201).
GAIN = {"none": 0.0, "skip_connect": 1.0, "avg_pool_3x3": 0.5, "nor_conv_1x1": 2.0,
        "nor_conv_3x3": 3.0}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("tables") / "synthetic.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "cellstr", "a_test", "a_val", "b_test"])
        for k, ops in enumerate(SPACE.all_encodings()):
            base = 60 + sum(GAIN[op] * (1 + e % 3) for e, op in enumerate(ops))
            writer.writerow([k, SPACE.format(ops), f"{base + rng.gauss(0, 1):.3f}",
                             f"{base:.3f}", f"{base / 2 + rng.gauss(0, 2):.3f}"])
    return path


def test_percentiles_are_values_that_occur() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 6.0]
    assert percentile_low(values, 50) == statistics.median_low(values) == 3.0
    assert percentile_low(values, 0) == 1.0 and percentile_low(values, 100) == 6.0
    assert percentile_low(values, 25) == 2.0  # index floor(5 * 0.25) = 1 of the sorted values
    assert parse_relative_limit("median") == 50 and parse_relative_limit(" P25 ") == 25
    assert parse_relative_limit("250K") is None and parse_relative_limit("1.5MB") is None
    for bad in ("p101", "p-3", "p2x"):
        with pytest.raises(FitnasError, match="percentile"):
            parse_relative_limit(bad)


def test_grid_limit_names() -> None:
    assert [g.name for g in parse_grid_limits(None)] == [g.name for g in GRID_LIMITS]
    assert [g.name for g in parse_grid_limits("peak-p25, macs-p50")] == ["peak-p25", "macs-p50"]
    with pytest.raises(FitnasError, match="unknown grid limit 'peak-p10'; accepted: peak-p50"):
        parse_grid_limits("peak-p10")


def test_a_percentile_limit_is_that_percentile_of_the_table(table: Path) -> None:
    bench = NB201Bench(table, "a_test", percentiles={"max_params": 25, "max_macs": 50},
                       evals=5)
    ct = table_costs(SPACE.get_config(), [SPACE.format(e) for e in SPACE.all_encodings()])
    params = sorted(c["params"] for c in ct.costs.values())
    macs = sorted(c["macs"] for c in ct.costs.values())
    assert bench.limits.max_params == params[math.floor((len(params) - 1) * 0.25)]
    assert bench.limits.max_macs == statistics.median_low(macs)
    assert bench.percentile_limits == {"max_params": 25, "max_macs": 50}
    assert bench.median_limits == ["max_macs"]
    feasible = sum(1 for c in ct.costs.values() if c["params"] <= bench.limits.max_params
                   and c["macs"] <= bench.limits.max_macs)
    assert bench.feasible_rows == feasible


@pytest.mark.slow
def test_a_small_grid_reports_every_cell_and_the_summary(table: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    out = tmp_path / "grid.json"
    strategies = ["random", "coordinate", "evolution", "growtrim:lambda_beta=0", "optuna-tpe"]
    args = ["bench", "nb201", "--table", str(table), "--grid", "--grid-metrics", "a_test",
            "--grid-limits", "peak-p50,params-p25+macs-p50", "--seeds", "3",
            "--checkpoints", "10,25", "--jobs", "2", "--out", str(out)]
    for name in strategies:
        args += ["--strategy", name]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "summary over the grid" in printed and "in " in printed
    data = json.loads(out.read_text())
    assert data["strategies"] == strategies and data["seeds"] == 3
    assert [(c["metric"], c["limit"]) for c in data["cells"]] == [
        ("a_test", "peak-p50"), ("a_test", "params-p25+macs-p50")]
    for cell in data["cells"]:
        assert set(cell["median_regret"]) == set(strategies)
        for regrets in cell["median_regret"].values():
            assert set(regrets) == {"10", "25"}
            assert all(r is None or r >= 0 for r in regrets.values())
    both = data["cells"][1]["limits"]
    assert both["max_params"] is not None and both["max_macs"] is not None
    for name in strategies:
        summary = data["summary"][name]
        for n in ("10", "25"):
            regrets = [c["median_regret"][name][n] for c in data["cells"]]
            randoms = [c["median_regret"]["random"][n] for c in data["cells"]]
            worse = sum((math.inf if r is None else r) > (math.inf if q is None else q) + 1e-9
                        for r, q in zip(regrets, randoms))
            assert summary["worse_than_random"][n] == worse
            finite = [math.inf if r is None else r for r in regrets]
            expected = statistics.median(finite)
            assert summary["median_regret"][n] == (round(expected, 6)
                                                   if math.isfinite(expected) else None)
    assert data["summary"]["random"]["worse_than_random"] == {"10": 0, "25": 0}


def test_the_grid_runs_the_same_in_one_process_and_in_two(table: Path) -> None:
    kwargs: dict[str, Any] = {"strategies": ["random", "evolution"], "columns": ["b_test"],
                              "limits": parse_grid_limits("macs-p50"), "seeds": 2,
                              "checkpoints": [5, 10]}
    one = run_grid(table, jobs=1, **kwargs)
    two = run_grid(table, jobs=2, **kwargs)
    assert [c.median_regret for c in one.cells] == [c.median_regret for c in two.cells]
    assert one.summary() == two.summary()
    assert grid_columns(table) == ["a_test", "b_test"]


@pytest.mark.parametrize("extra, message", [
    (["--max-params", "250K"], "--grid sets its own limits; drop --max-params"),
    (["--grid-limits", "peak-p10"], "unknown grid limit 'peak-p10'"),
    (["--grid-metrics", "a_val"], "'a_val' is not a test-accuracy column"),
    (["--strategy", "coordinate"], "add --strategy random"),
    (["--seeds", "0"], "--seeds must be at least 1"),
])
def test_bad_grid_input_is_one_line(table: Path, extra: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nb201", "--table", str(table), "--grid", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_grid_options_need_grid(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nb201", "--table", str(table), "--grid-limits", "peak-p50"]) == 2
    assert "go with --grid" in capsys.readouterr().err


def test_a_pnn_limit_on_the_command_line(table: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    assert main(["bench", "nb201", "--table", str(table), "--metric", "a_test", "--max-params",
                 "p25", "--evals", "3", "--seeds", "1", "--strategy", "random", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["percentile_limits"] == {"max_params": "p25"} and data["median_limits"] == []
    assert main(["bench", "nb201", "--table", str(table), "--max-params", "p200"]) == 2
    assert "bad percentile 'p200'" in capsys.readouterr().err
    assert all(op in OPS for op in GAIN)
