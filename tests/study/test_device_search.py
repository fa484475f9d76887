"""Searches under a device model: an energy limit checked before training, energy and latency
objectives in pareto.csv, the summary and the report, refused objectives, a resumed run that
keeps its device model, and the strategies' oracle."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from fitnas.cli import main
from fitnas.constraints import Constraints, Limits
from fitnas.costs.device import ComputeProfile, device_costs
from fitnas.costs.model import Costs
from fitnas.devices import load_device
from fitnas.states import TrialState
from fitnas.study import load_run
from fitnas.study.setup import load_settings

DEVICE = "stm32f746-disco"
#: about the median energy of the chain space's networks on digits on this board
MAX_ENERGY_UJ = 100.0

def compute_of(name: str) -> ComputeProfile:
    """The [compute] model of a device profile (every shipped one has one)."""
    compute = load_device(name).compute
    assert compute is not None, name
    return compute



def search(out: Path, *argv: str) -> int:
    return main(["search", "--data", "digits", "--space", "chain", "--epochs", "1",
                 "--seed", "0", "--out", str(out), "--json", *argv])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("device-search") / "run"
    assert search(out, "--budget", "3", "--device", DEVICE, "--max-energy-uj",
                  f"{MAX_ENERGY_UJ:g}uJ", "--objectives", "energy_uj,latency_ms") == 0
    return out


def test_over_limit_trials_are_infeasible_and_never_trained(run_dir: Path) -> None:
    compute = compute_of(DEVICE)
    with load_run(run_dir) as run:
        trials = run.trials()
        over = [t for t in trials if t.state == TrialState.INFEASIBLE]
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        assert over and len(done) == 3, [t.state for t in trials]
        for t in trials:
            graph = run.graph(t.number)
            on = device_costs(graph, compute, "int8")
            assert t.costs["energy_uj"] == pytest.approx(on.energy_uj)
            assert t.costs["latency_ms"] == pytest.approx(on.latency_ms)
            assert t.costs["peak_power_mw"] == pytest.approx(on.peak_power_mw)
            assert on.energy_uj is not None
            violation = (on.energy_uj - MAX_ENERGY_UJ) / MAX_ENERGY_UJ
            assert t.violations["max_energy_uj"] == pytest.approx(violation)
            if t.state == TrialState.INFEASIBLE:
                assert t.violations["max_energy_uj"] > 0 and t.accuracy is None
                assert run.weights_path(t.number) is None
                assert not (run_dir / "trials" / f"{t.number}.pt").exists()
            else:
                assert t.violations["max_energy_uj"] <= 0
                assert run.weights_path(t.number) is not None
        settings = run.settings
        assert settings is not None and settings.device == DEVICE
        assert settings.device_model == compute.to_dict() and settings.latency is None
        assert settings.objectives == ["energy_uj", "latency_ms"]
        assert run.cost_objectives() == ["energy_uj", "latency_ms"]


def test_pareto_csv_and_summary_carry_energy_and_latency(run_dir: Path) -> None:
    with (run_dir / "pareto.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows
    assert {"energy_uj", "latency_ms", "avg_power_mw", "peak_power_mw"} <= set(rows[0])
    assert all(float(r["energy_uj"]) <= MAX_ENERGY_UJ for r in rows)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["objectives"] == ["accuracy", "energy_uj", "latency_ms"]
    best = summary["best"]
    assert best is not None and 0 < best["energy_uj"] <= MAX_ENERGY_UJ
    assert best["latency_ms"] > 0 and best["peak_power_mw"] > 0
    assert summary["constraints"]["limits"]["max_energy_uj"] == MAX_ENERGY_UJ
    assert summary["constraints"]["device"]["name"] == DEVICE
    assert summary["constraints"]["latency"] == "model"
    assert set(summary["pareto_trials"]) == {int(r["trial"]) for r in rows}
    # the hypervolume's reference: accuracy 0, the energy limit, the worst feasible latency
    hv = summary["hypervolume"]
    assert hv["objectives"] == summary["objectives"]
    with load_run(run_dir) as run:
        done = [t for t in run.trials() if t.state == TrialState.COMPLETE and t.feasible]
    assert hv["reference"] == {"accuracy": 0.0, "energy_uj": MAX_ENERGY_UJ,
                               "latency_ms": max(t.costs["latency_ms"] for t in done)}
    assert hv["value"] >= 0


def test_report_with_objectives(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_dir / "report.html"
    report.unlink(missing_ok=True)
    assert main(["report", str(run_dir), "--objectives", "energy_uj"]) == 0
    page = report.read_text()
    assert "Objectives: accuracy, energy_uj.</p>" in page
    assert "energy per inference &lt;= 100 uJ (estimated for stm32f746-disco)" in page
    assert " uJ</td>" in page  # the front's energy column
    assert main(["report", str(run_dir)]) == 0  # the run's own objectives
    assert "Objectives: accuracy, energy_uj, latency_ms.</p>" in report.read_text()
    capsys.readouterr()
    assert main(["report", str(run_dir), "--objectives", "energy_uj,joules"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "unknown objective 'joules'" in lines[0]
    assert main(["report", str(run_dir), "--objectives", ","]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--objectives", "energy_uj", "--device", "rpi-pico"], "objective energy_uj needs"),
    (["--objectives", "peak_power_mw", "--device", "none"], "objective peak_power_mw needs"),
    (["--objectives", "latency_ms", "--device", "none"], "objective latency_ms needs"),
    (["--objectives", "energy_uj,watts", "--device", DEVICE], "unknown objective 'watts'"),
    (["--objectives", " , ", "--device", DEVICE], "--objectives"),
])
def test_objectives_a_run_cannot_have_exit_2_before_the_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
        ) -> None:
    out = tmp_path / "run"
    assert search(out, "--budget", "1", *argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not out.exists()


def test_resume_keeps_the_device_model_when_the_profile_file_is_gone(tmp_path: Path) -> None:
    board = tmp_path / "board.toml"
    shutil.copy(load_device(DEVICE).path, board)
    compute = compute_of(str(board))
    out = tmp_path / "run"
    assert search(out, "--budget", "2", "--device", str(board), "--max-energy-uj",
                  f"{MAX_ENERGY_UJ:g}uJ") == 0
    board.unlink()
    assert main(["resume", str(out), "--budget", "4", "--json"]) == 0
    settings = load_settings(out)
    assert settings.device == "board" and settings.device_model == compute.to_dict()
    with load_run(out) as run:
        counts = run.counts()
        assert counts["COMPLETE"] + counts["FAILED"] == 4
        assert run.constraints.cost_model.device == compute
        for t in run.trials():
            assert isinstance(t.costs, Costs)
            assert t.costs.device == "board" and t.costs.latency_source == "model"
            assert t.costs["energy_uj"] == pytest.approx(
                device_costs(run.graph(t.number), compute).energy_uj)
            assert (t.state == TrialState.INFEASIBLE) == (t.costs["energy_uj"] > MAX_ENERGY_UJ)


def test_study_verdict_marks_an_over_limit_encoding_infeasible() -> None:
    from fitnas.evaluators import EvalResult, Evaluator
    from fitnas.spaces import create_space
    from fitnas.strategies import create_strategy
    from fitnas.study import Study

    class Nothing(Evaluator):
        name = "nothing"

        def candidate_for(self, encoding: Any, graph: Any) -> Any:
            return encoding

        def _evaluate(self, candidate: Any, *, parent: Any, test: bool,
                      budget: str | None = None) -> EvalResult:
            return EvalResult(TrialState.COMPLETE, val_accuracy=0.5)

        def get_config(self) -> dict[str, Any]:
            return {}

    compute = compute_of(DEVICE)
    space = create_space("chain", input_shape=(1, 1, 8, 8), classes=10)
    strategy = create_strategy("random", space, seed=0)
    limits = Limits(dtype="int8", max_energy_uj=f"{MAX_ENERGY_UJ:g}uJ")
    study = Study(space, strategy, Nothing(), Constraints(limits, device=compute))
    rng = random.Random(3)
    seen = {True: 0, False: 0}
    for _ in range(30):
        enc = space.sample(rng)
        verdict = study.verdict(enc)
        energy = device_costs(space.graph(enc), compute).energy_uj
        assert energy is not None
        assert verdict.costs["energy_uj"] == pytest.approx(energy)
        assert verdict.violations["max_energy_uj"] == \
            pytest.approx((energy - MAX_ENERGY_UJ) / MAX_ENERGY_UJ)
        assert verdict.feasible == (energy <= MAX_ENERGY_UJ)
        assert strategy.verdict(enc) == verdict  # the strategy's oracle is the study's
        seen[verdict.feasible] += 1
    assert seen[True] and seen[False], seen
