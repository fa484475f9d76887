"""``fitnas bench nb201``: strategies on a NAS-Bench-201 table, regret, limits, errors.

Most tests use small tables written here. Under ``max_params = 73,306`` (the all-``none`` cell's
count) exactly the 3^6 = 729 cells without a convolution are feasible, so a table holding those
729 rows (plus convolution rows that are all infeasible) answers every evaluation a strategy can
make, while its costs take a few seconds to compute instead of a minute for the full table.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

from fitnas.bench import NB201Bench, parse_strategy, table_costs
from fitnas.bench._record import RunResult
from fitnas.bench.nb201 import LARGEST_CELL, BenchResult
from fitnas.cli import main
from fitnas.constraints import Constraints, Limits
from fitnas.spaces.nb201 import OPS, NB201Space

REAL_TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"
ALL_NONE_PARAMS = 73_306
STRATEGIES = ("random", "optuna-tpe", "optuna-nsga2")
EVALS, SEEDS = 10, 2
SPACE = NB201Space()


def _write(path: Path, rows: list[tuple[str, str]], metric: str = "cifar10_test") -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "cellstr", metric, "other"])
        for k, (cellstr, value) in enumerate(rows):
            writer.writerow([k, cellstr, value, "1.0"])
    return path


def _cellstr(ops: tuple[str, ...]) -> str:
    return SPACE.format(ops)


@pytest.fixture(scope="module")
def small_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 729 convolution-free cells (synthetic values, one left empty), then 40 cells with
    convolutions and better values that the parameter limit excludes."""
    rng = random.Random(0)
    free = [_cellstr(ops) for ops in itertools.product(("none", "skip_connect", "avg_pool_3x3"),
                                                       repeat=6)]
    rows = [(c, f"{rng.uniform(10, 90):.4f}") for c in free]
    rows[5] = (rows[5][0], "")
    convs = [c for c in (_cellstr(SPACE.sample(rng)) for _ in range(200)) if c not in set(free)]
    rows += [(c, f"{rng.uniform(95, 99):.4f}") for c in dict.fromkeys(convs)][:40]
    return _write(tmp_path_factory.mktemp("tables") / "small.csv", rows)


@pytest.fixture(scope="module")
def cli_result(small_table: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("out") / "bench.json"
    args = ["bench", "nb201", "--table", str(small_table), "--max-params", str(ALL_NONE_PARAMS),
            "--max-peak-mem", "median", "--evals", str(EVALS), "--seeds", str(SEEDS),
            "--seed-base", "3", "--checkpoints", "1,5,10", "--json", "--archs", "--out", str(out)]
    for name in STRATEGIES:
        args += ["--strategy", name]
    assert main(args) == 0
    data = json.loads(out.read_text())
    data["_path"] = str(out)
    return data


def _independent_check(limits: dict[str, Any], cellstr: str) -> bool:
    """Whether ``cellstr`` meets ``limits``, recomputed from the decoded network."""
    constraints = Constraints(Limits.from_dict(limits))
    return constraints.check(SPACE.decode(SPACE.parse(cellstr))).feasible


def _values(path: Path, metric: str = "cifar10_test") -> dict[str, float]:
    with path.open(newline="") as f:
        return {SPACE.format(SPACE.parse(r["cellstr"])): float(r[metric]) if r[metric] else math.nan
                for r in csv.DictReader(f)}


# ------------------------------------------------------------------------- JSON and results
def test_json_schema(cli_result: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    data = cli_result
    for key in ("table", "metric", "limits", "evals", "seeds", "table_best_feasible", "checkpoints",
                "strategies"):
        assert key in data, key
    assert data["metric"] == "cifar10_test" and data["evals"] == EVALS and data["seeds"] == SEEDS
    assert data["checkpoints"] == [1, 5, 10]
    assert data["limits"]["max_params"] == ALL_NONE_PARAMS
    assert data["median_limits"] == ["max_peak_mem"]
    assert list(data["strategies"]) == list(STRATEGIES)
    assert data["hypervolume"] == {
        "objectives": ["cifar10_test", "peak_activation_bytes", "params"],
        "reference": {"cifar10_test": 0.0, "peak_activation_bytes": data["limits"]["max_peak_mem"],
                      "params": ALL_NONE_PARAMS},
        "checkpoint": 10}
    for entry in data["strategies"].values():
        assert [r["seed"] for r in entry["runs"]] == [3, 4]
        assert set(entry["median_regret"]) == {"1", "5", "10"}
        assert entry["median_hypervolume"] == statistics.median(r["hypervolume"]
                                                                for r in entry["runs"])
        for run in entry["runs"]:
            assert {"seed", "best_after", "evaluations", "proposals", "seconds"} <= set(run)
            assert run["evaluations"] == EVALS == len(run["best_after"]) == len(run["evaluated"])
            assert run["proposals"] >= run["evaluations"] and run["seconds"] > 0


def test_median_peak_limit_is_the_tables_median(cli_result: dict[str, Any],
                                                small_table: Path) -> None:
    cellstrs = list(_values(small_table))
    costs = table_costs(SPACE.get_config(), cellstrs)
    assert costs.computed == 0  # the CLI run cached them
    peaks = [Constraints().cost_model.costs(SPACE.decode(SPACE.parse(c))).analytic()["peak_activation_bytes"]
             for c in cellstrs[::50]]
    assert peaks == [costs[c]["peak_activation_bytes"] for c in cellstrs[::50]]
    median = statistics.median_low(costs[c]["peak_activation_bytes"] for c in cellstrs)
    assert cli_result["limits"]["max_peak_mem"] == median


def test_best_after_is_the_running_best_and_regret_is_non_negative(
        cli_result: dict[str, Any], small_table: Path) -> None:
    values = _values(small_table)
    best_feasible = cli_result["table_best_feasible"]
    for entry in cli_result["strategies"].values():
        for run in entry["runs"]:
            best = None
            for cellstr, after in zip(run["evaluated"], run["best_after"]):
                v = values[cellstr]
                if v == v:
                    best = v if best is None else max(best, v)
                assert after == best
                assert after is None or after <= best_feasible
            found = [b for b in run["best_after"] if b is not None]
            assert found == sorted(found)
        for regret in entry["median_regret"].values():
            assert regret is None or regret >= 0


def test_every_evaluated_architecture_meets_the_limits(cli_result: dict[str, Any]) -> None:
    limits = cli_result["limits"]
    evaluated = {c for e in cli_result["strategies"].values() for r in e["runs"]
                 for c in r["evaluated"]}
    assert evaluated
    for cellstr in evaluated:
        assert _independent_check(limits, cellstr), cellstr
    # the limits bite: a proposal over them was made (and not evaluated) by every strategy
    for entry in cli_result["strategies"].values():
        assert sum(r["proposals"] - r["evaluations"] for r in entry["runs"]) > 0


def test_hypervolume_is_zero_when_every_evaluation_sits_on_a_limit(
        cli_result: dict[str, Any]) -> None:
    """Every feasible cell of the small table has exactly the limit's parameters (none of them
    has a convolution): each lies on the reference point's params and covers nothing."""
    for entry in cli_result["strategies"].values():
        for run in entry["runs"]:
            for cellstr in run["evaluated"]:
                graph = SPACE.decode(SPACE.parse(cellstr))
                assert Constraints().cost_model.costs(graph).analytic()["params"] == ALL_NONE_PARAMS
            assert run["hypervolume"] == 0.0
        assert entry["median_hypervolume"] == 0.0


def _result(runs: list[RunResult], checkpoints: list[int]) -> BenchResult:
    return BenchResult(table="t.csv", metric="acc", limits=Limits(max_params=100), median_limits=[],
                       evals=max(checkpoints), seeds=len(runs), seed_base=0, max_proposals=50,
                       checkpoints=checkpoints, table_rows=1, feasible_rows=1,
                       table_best_feasible=90.0, table_best_cellstr="x", space={}, costs={},
                       runs={"s": runs}, hypervolume_costs=["params"],
                       hypervolume_reference={"acc": 0.0, "params": 100.0})


def test_hypervolume_of_runs_by_hand() -> None:
    def run(seed: int, values: list[float | None], params: list[float]) -> RunResult:
        return RunResult(seed, [], len(values), len(values), 0.1, ["c"] * len(values),
                         values=values, costs=[{"params": p} for p in params])

    runs = [run(0, [50.0, None, 80.0, 99.0], [40, 1, 60, 5]),  # (50, 40), (80, 60); then (99, 5)
            run(1, [10.0, 20.0, 30.0, 99.0], [10, 20, 100, 5]),  # 30 lies on the reference
            run(2, [None, None, None, None], [1, 2, 3, 4])]  # no value: nothing
    # first 3 evaluations: run 0: 50 x (60 - 40) + 80 x (100 - 60) = 4200;
    # run 1: 10 x (20 - 10) + 20 x (100 - 20) = 1700; run 2: 0
    result = _result(runs, [1, 3])
    assert result.final_checkpoint == 3
    assert result.hypervolumes("s") == pytest.approx([4200.0, 1700.0, 0.0])
    assert result.median_hypervolume("s") == pytest.approx(1700.0)
    data = result.to_dict()
    assert [r["hypervolume"] for r in data["strategies"]["s"]["runs"]] == pytest.approx(
        [4200.0, 1700.0, 0.0])
    assert data["hypervolume"] == {"objectives": ["acc", "params"],
                                   "reference": {"acc": 0.0, "params": 100.0}, "checkpoint": 3}
    # all four: (99, 5) dominates every other point of both runs: 99 x 95
    assert _result(runs, [4]).hypervolumes("s") == pytest.approx([99 * 95, 99 * 95, 0.0])


def test_same_seed_same_run_through_the_api(cli_result: dict[str, Any], small_table: Path) -> None:
    bench = NB201Bench(small_table, limits=Limits(max_params=ALL_NONE_PARAMS),
                       median=["max_peak_mem"], evals=EVALS)
    for name in STRATEGIES:
        run = bench.run_one(parse_strategy(name), 4)
        stored = cli_result["strategies"][name]["runs"][1]
        assert run.evaluated == stored["evaluated"], name
        assert run.best_after == stored["best_after"] and run.proposals == stored["proposals"]


def test_json_on_stdout_equals_out_file(small_table: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "r.json"
    assert main(["bench", "nb201", "--table", str(small_table), "--max-params", "73306",
                 "--evals", "3", "--seeds", "1", "--strategy", "optuna-nsga2", "--json",
                 "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["checkpoints"] == [3]


def test_readable_output(small_table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nb201", "--table", str(small_table), "--max-params", "73306",
                 "--evals", "5", "--seeds", "1", "--strategy", "optuna-tpe"]) == 0
    text = capsys.readouterr().out
    assert "median regret" in text and "optuna-tpe" in text and "N=5" in text
    words = " ".join(text.split())  # rich wraps lines at the terminal's width
    assert "HV N=5" in words and "reference point cifar10_test 0, params 73306." in words


# ----------------------------------------------------------------------- best feasible value
def test_table_best_feasible_against_brute_force(tmp_path: Path) -> None:
    rng = random.Random(7)
    cheap = [_cellstr(ops) for ops in itertools.product(("none", "skip_connect"), repeat=6)]
    other = list(dict.fromkeys(_cellstr(SPACE.sample(rng)) for _ in range(80)))
    cellstrs = list(dict.fromkeys(cheap + other))[:120]
    rows = [(c, f"{rng.uniform(0, 90):.3f}") for c in cellstrs]
    top = next(k for k, c in enumerate(cellstrs) if "conv" in c)
    rows[top] = (rows[top][0], "99.5")  # the table's best has a convolution: over the limit
    path = _write(tmp_path / "tiny.csv", rows)
    bench = NB201Bench(path, limits=Limits(max_params=ALL_NONE_PARAMS), median=["max_peak_mem"],
                       evals=5)
    constraints = Constraints()
    costs = {c: constraints.cost_model.costs(SPACE.decode(SPACE.parse(c))).analytic() for c in cellstrs}
    median = statistics.median_low(c["peak_activation_bytes"] for c in costs.values())
    assert bench.limits.max_peak_mem == median
    values = _values(path)
    feasible = {c: values[c] for c in cellstrs if costs[c]["params"] <= ALL_NONE_PARAMS
                and costs[c]["peak_activation_bytes"] <= median}
    assert 0 < len(feasible) < len(cellstrs)
    assert bench.feasible_rows == len(feasible)
    assert bench.best_feasible == max(feasible.values())
    assert max(values.values()) > bench.best_feasible  # the limits exclude the table's best


def test_architectures_missing_from_the_table_fail_and_count(tmp_path: Path) -> None:
    rows = [(_cellstr(ops), "50") for ops in itertools.product(OPS[:2], repeat=6)]
    path = _write(tmp_path / "partial.csv", rows)
    result = NB201Bench(path, evals=6).run([parse_strategy("random")], seeds=2)
    assert result.table_best_feasible == 50.0 and result.limits.active() == {}
    for run in result.runs["random"]:
        assert run.evaluations == 6 == run.proposals  # no limits: every proposal is evaluated
        assert all(b in (None, 50.0) for b in run.best_after)
    assert all(r is None or r == 0 for r in result.median_regret("random").values())


def test_cost_cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FITNAS_CACHE_DIR", str(tmp_path / "c"))
    cellstrs = [_cellstr(SPACE.sample(k)) for k in range(6)]
    first = table_costs(SPACE.get_config(), cellstrs)
    assert first.computed == len(set(cellstrs)) and first.path is not None
    assert first.path.parent == tmp_path / "c" and first.path.name.startswith("nb201-costs-")
    again = table_costs(SPACE.get_config(), cellstrs)
    assert again.computed == 0 and again.costs == first.costs
    for c in cellstrs:
        assert first[c] == Constraints().cost_model.costs(SPACE.decode(SPACE.parse(c))).analytic()
    first.path.write_text("{not json")
    assert table_costs(SPACE.get_config(), cellstrs).computed == len(set(cellstrs))
    int8 = table_costs(SPACE.get_config(), cellstrs[:1], dtype="int8")
    assert int8.path != first.path and int8.computed == 1


# ------------------------------------------------------------------------------ real table
@pytest.mark.skipif(not REAL_TABLE.exists(), reason="the shared NB201 table is absent")
def test_real_table_without_limits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nb201", "--table", str(REAL_TABLE), "--evals", "20", "--seeds", "1",
                 "--strategy", "random", "--strategy", "optuna-tpe", "--json", "--archs"]) == 0
    data = json.loads(capsys.readouterr().out)
    values = _values(REAL_TABLE)
    assert data["table_rows"] == 15_625 == data["feasible_rows"]
    assert data["table_best_feasible"] == max(values.values())
    assert data["costs"]["computed"] == 0  # no limits: no table costs needed
    # no limits: the hypervolume is over params, up to the parameters of the largest network
    cost_model = Constraints().cost_model

    def params(cellstr: str) -> float:
        return cost_model.costs(SPACE.decode(SPACE.parse(cellstr))).analytic()["params"]

    largest = params(SPACE.format(LARGEST_CELL))
    assert all(params(SPACE.format(SPACE.sample(k))) <= largest for k in range(30))
    assert data["hypervolume"] == {"objectives": ["cifar10_test", "params"], "checkpoint": 20,
                                   "reference": {"cifar10_test": 0.0, "params": largest}}
    for entry in data["strategies"].values():
        (run,) = entry["runs"]
        assert run["evaluations"] == 20 and run["best_after"][-1] <= data["table_best_feasible"]
        assert all(r >= 0 for r in entry["median_regret"].values())
        # an independent 2-D hypervolume: the area under the best value reached at each cost
        points = sorted((params(c), values[c]) for c in run["evaluated"])
        area, top = 0.0, 0.0
        for k, (cost, value) in enumerate(points):
            top = max(top, value)
            area += top * ((points[k + 1][0] if k + 1 < len(points) else largest) - cost)
        assert area > 0 and run["hypervolume"] == pytest.approx(area)
        assert entry["median_hypervolume"] == run["hypervolume"]


@pytest.mark.slow
@pytest.mark.skipif(not REAL_TABLE.exists(), reason="the shared NB201 table is absent")
def test_real_values_other_metric_and_limit(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The real table's convolution-free rows on cifar100: the network has 100 classes (all-none:
    73,306 + 64 x 90 + 90 = 79,156 parameters), so 80K admits exactly those rows."""
    with REAL_TABLE.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if "conv" not in r["cellstr"]]
    path = tmp_path / "real-subset.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["bench", "nb201", "--table", str(path), "--metric", "cifar100_val",
                 "--max-params", "80K", "--evals", "5", "--seeds", "1", "--strategy",
                 "optuna-tpe", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["space"]["classes"] == 100 and data["table_rows"] == 729
    assert data["feasible_rows"] == 729
    assert data["table_best_feasible"] == max(float(r["cifar100_val"]) for r in rows)
    assert main(["bench", "nb201", "--table", str(path), "--metric", "cifar10_val",
                 "--max-params", "79K", "--evals", "5", "--seeds", "1", "--strategy",
                 "optuna-tpe", "--json"]) == 0  # CIFAR-10: 73,306 parameters
    assert json.loads(capsys.readouterr().out)["space"]["classes"] == 10


# --------------------------------------------------------------------------------- errors
@pytest.fixture
def no_cellstr(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("arch,cifar10_test\nx,1\n")
    return path


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["bench", "nb201", *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fitnas bench: error: "), captured.err
    assert captured.out == ""
    return lines[0]


def test_errors_are_one_line(small_table: Path, no_cellstr: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    table = str(small_table)
    assert "--table" in _error([], capsys) and "nb201_12epoch.csv" in _error([], capsys)
    assert "does not exist" in _error(["--table", "/nonexistent/t.csv"], capsys)
    assert "no 'cellstr' column" in _error(["--table", str(no_cellstr)], capsys)
    message = _error(["--table", table, "--metric", "cifar11"], capsys)
    assert "'cifar11'" in message and "cifar10_test, other" in message
    message = _error(["--table", table, "--strategy", "nope"], capsys)
    assert "'nope'" in message and "random" in message and "optuna-tpe" in message
    assert "--evals" in _error(["--table", table, "--evals", "0"], capsys)
    assert "--seeds" in _error(["--table", table, "--seeds", "0"], capsys)
    # bench checks analytic costs only: it does not offer the device-model limits
    assert "unrecognized arguments: --max-latency-ms 5" in _error(
        ["--table", table, "--max-latency-ms", "5"], capsys)
    assert "checkpoint 11" in _error(["--table", table, "--strategy", "random", "--evals", "10",
                                      "--checkpoints", "5,11"], capsys)
    assert "max_attempts" in _error(["--table", table, "--strategy", "random:max_attempts=0"],
                                    capsys)
    assert "n_startup" in _error(["--table", table, "--strategy", "optuna-tpe:n_startup=3"],
                                 capsys)
    assert "max-peak-mem" in _error(["--table", table, "--max-peak-mem", "lots"], capsys)
    assert "meets the limits" in _error(["--table", table, "--strategy", "random",
                                         "--max-params", "1000"], capsys)


def test_missing_optuna_says_how_to_install(small_table: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    message = _error(["--table", str(small_table), "--strategy", "optuna-tpe"], capsys)
    assert "pip install optuna" in message and "fitnas[bench]" in message
    message = _error(["--table", str(small_table)], capsys)  # the default includes the baselines
    assert "pip install optuna" in message
