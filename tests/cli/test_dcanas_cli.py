"""`fitnas search --strategy dcanas` and `fitnas lug build|show` (DCA-NAS, paper 004): the
supernet runs before the Study, its derived network is checked, trained from scratch,
recorded and exported; a resumed run does not search again; bad inputs are one line, exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from fitnas.cli import main
from fitnas.spaces import create_space
from fitnas.study import load_run
from fitnas.supernet.expected import ExpectedCost
from fitnas.supernet.lug import LookupGraph
from fitnas.supernet.peak import ExpectedPeak
from fitnas.units import format_count
from tests.study.procs import fitnas, start, stderr_of, wait_for

SPACE = "darts:channels=4,layers=3"
FAST = "epochs=1,batch_size=32"
BASE = ["search", "--data", "digits", "--subset", "400", "--space", SPACE, "--device", "none",
        "--epochs", "1", "--budget", "5"]


def smallest() -> float:
    return ExpectedCost(create_space("darts", input_shape=(1, 1, 8, 8), classes=10, channels=4,
                                     layers=3)).smallest()


@pytest.fixture(scope="module")
def lug(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lug") / "lug.json"
    low = smallest()
    targets = f"{int(low * 1.5)},{int(low * 3)}"
    assert main(["lug", "build", "--space", SPACE, "--data", "digits", "--subset", "400",
                 "--targets", targets, "--supernet", FAST, "--workers", "2",
                 "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, lug: Path) -> Path:
    out = tmp_path_factory.mktemp("dcanas") / "run"
    limit = int(smallest() * 2)
    assert main([*BASE, "--strategy", f"dcanas:{FAST},lug={lug}", "--max-params", str(limit),
                 "--out", str(out), "--json"]) == 0
    return out


def test_the_lug_holds_a_point_per_target_for_its_space_and_dataset(
        lug: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = LookupGraph.load(lug)
    assert graph.space == "darts" and graph.dataset == "digits" and len(graph.points) == 2
    assert graph.space_config["channels"] == 4 and graph.smallest == smallest()
    assert all(p.derived >= graph.smallest for p in graph.points)
    assert main(["lug", "show", str(lug), "--limit", str(int(smallest() * 2))]) == 0
    assert "search at K_s =" in capsys.readouterr().out


def test_the_derived_network_is_recorded_trained_and_exported(run: Path) -> None:
    supernet = json.loads((run / "supernet.json").read_text())
    assert supernet["source"].startswith("read off the look-up graph")
    (search,) = supernet["searches"]
    assert len(search["history"]) == 1 and search["history"][0]["lambda"] >= 0
    with load_run(run) as record:
        (trial,) = record.trials()
        assert trial.state.name == "COMPLETE" and trial.accuracy is not None
        space = create_space("darts", input_shape=(1, 1, 8, 8), classes=10, channels=4, layers=3)
        assert space.from_data(trial.encoding) == space.from_data(search["genotype"])
        assert trial.costs["params"] == search["k_derived"]
        assert record.settings is not None
        assert record.settings.strategy_options["derived"] == [search["genotype"]]
    assert (run / "best" / "model.onnx").exists() and (run / "best" / "memory_plan.json").exists()


def test_resume_replays_the_derived_network_without_searching_again(run: Path) -> None:
    before = (run / "supernet.json").stat().st_mtime_ns
    assert main(["resume", str(run), "--json"]) == 0
    assert (run / "supernet.json").stat().st_mtime_ns == before
    with load_run(run) as record:
        assert len(record.trials()) == 1


@pytest.mark.slow
def test_a_search_killed_in_its_supernet_phase_continues_when_run_again(tmp_path: Path) -> None:
    """SIGKILL a real `fitnas search` after its first supernet epoch: the folder holds only the
    supernet's checkpoint (`fitnas resume` says so in one line), and the same command run again
    continues after the checkpoint's epoch, records the derived network and drops the
    checkpoint."""
    out = tmp_path / "run"
    args = fitnas(*BASE, "--strategy", "dcanas:epochs=6,batch_size=32",
                  "--max-params", str(int(smallest() * 2)), "--out", str(out))
    checkpoint = out / "supernet-0.pt"
    proc = start(args)
    wait_for(proc, checkpoint.exists, timeout=300)
    os.kill(proc.pid, signal.SIGKILL)
    stderr_of(proc, timeout=60)
    assert not (out / "supernet.json").exists() and checkpoint.exists()
    resume = subprocess.run(fitnas("resume", str(out)), capture_output=True, text=True,
                            timeout=120)
    assert resume.returncode == 2
    assert resume.stderr.strip().count("\n") == 0
    assert "run the same `fitnas search` command again" in resume.stderr
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "continued from its checkpoint after epoch" in again.stderr
    (search,) = json.loads((out / "supernet.json").read_text())["searches"]
    assert 1 <= search["resumed_after"] < 6 and len(search["history"]) == 6
    assert [h["epoch"] for h in search["history"]] == [1, 2, 3, 4, 5, 6]
    assert not checkpoint.exists()
    with load_run(out) as record:
        (trial,) = record.trials()
        assert trial.state.name == "COMPLETE"


def test_a_limit_below_the_smallest_network_is_one_line(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*BASE, "--strategy", f"dcanas:{FAST}", "--max-params", "100",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "--max-params 100 is below the smallest network of the darts space" in err
    assert f"({format_count(smallest())} params, its cheapest genotype)" in err


def test_a_lug_of_another_space_is_one_line(tmp_path: Path, lug: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*BASE[:5], "--space", "darts:channels=6,layers=3", *BASE[7:],
                 "--strategy", f"dcanas:{FAST},lug={lug}", "--max-params", "50K",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "built for the darts space with" in err


def test_dcanas_on_another_space_and_without_a_limit_are_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*BASE[:5], "--space", "chain", *BASE[7:], "--strategy", "dcanas",
                 "--max-params", "50K", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "darts or the nb201 space" in err
    code = main([*BASE, "--strategy", f"dcanas:{FAST}", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "give a limit (--max-params)" in err


def test_a_supernet_too_large_for_memory_is_refused_before_allocating(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*BASE[:5], "--space", "darts:channels=512,layers=20", *BASE[7:],
                 "--strategy", "dcanas:epochs=1,batch_size=4096,bottleneck=1,"
                               "weight_sharing=false,derived_cells=false",
                 "--max-params", "900M", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "estimated before allocating" in err


NB201 = "nb201:channels=4,cells_per_stage=1"
PEAK_BASE = [*BASE[:5], "--space", NB201, *BASE[7:]]


def nb201_peak() -> ExpectedPeak:
    return ExpectedPeak(create_space("nb201", input_shape=(1, 1, 8, 8), classes=10, channels=4,
                                     cells_per_stage=1))


def test_a_peak_limit_is_searched_for_with_the_expected_peak(tmp_path: Path) -> None:
    peak = nb201_peak()
    limit = int(peak.smallest() + 0.5 * (peak.at_uniform() - peak.smallest()))
    out = tmp_path / "run"
    assert main([*PEAK_BASE, "--strategy", f"dcanas:{FAST}", "--max-peak-mem", str(limit),
                 "--out", str(out), "--json"]) == 0
    supernet = json.loads((out / "supernet.json").read_text())
    assert supernet["cost"] == "peak" and supernet["limit"] == limit
    (search,) = supernet["searches"]
    assert search["k_derived"] <= limit  # the hard limit, under the decoder's order
    with load_run(out) as record:
        (trial,) = record.trials()
        assert trial.state.name == "COMPLETE"
        assert trial.costs["peak_activation_bytes"] <= search["k_derived"]


def test_a_peak_lug_is_built_at_its_dtype_and_refused_at_another(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    peak = nb201_peak()
    target = int(peak.smallest() + 0.5 * (peak.at_uniform() - peak.smallest())) // 4  # int8
    path = tmp_path / "lug.json"
    assert main(["lug", "build", "--space", NB201, "--data", "digits", "--subset", "400",
                 "--cost", "peak", "--dtype", "int8", "--targets", f"{target}B",
                 "--supernet", FAST, "--out", str(path)]) == 0
    graph = LookupGraph.load(path)
    assert graph.cost == "peak" and graph.dtype == "int8" and graph.smallest == peak.smallest() / 4
    assert main(["lug", "show", str(path), "--limit", f"{target}B"]) == 0
    assert " at int8; cheapest network " in capsys.readouterr().out
    code = main([*PEAK_BASE, "--strategy", f"dcanas:{FAST},lug={path}",
                 "--max-peak-mem", str(4 * target), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "maps the peak at int8, not at fp32" in err


def test_a_peak_limit_below_the_smallest_network_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*PEAK_BASE, "--strategy", f"dcanas:{FAST}", "--max-peak-mem", "100",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "--max-peak-mem 100 B is below the smallest network of the nb201 space" in err
