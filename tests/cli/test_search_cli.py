"""``fitnas search``, ``report`` and ``export`` end to end on real digits training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from fitnas.cli import main

LIMIT = 6 * 1024  # bytes of peak activation memory at int8


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("search") / "run"
    code = main(["search", "--data", "digits", "--space", "chain", "--budget", "6",
                 "--epochs", "3", "--device", "none", "--dtype", "int8",
                 "--max-peak-mem", f"{LIMIT}", "--max-params", "40K", "--seed", "1",
                 "--out", str(out), "--json"])
    assert code == 0
    return out


def test_outputs_are_written(run_dir: Path) -> None:
    for name in ("study.db", "pareto.csv", "summary.json", "best/arch.json", "best/weights.pt",
                 "best/model.onnx", "best/memory_plan.json"):
        assert (run_dir / name).exists(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["COMPLETE"] + summary["counts"]["FAILED"] == 6
    best = summary["best"]
    for key in ("trial", "accuracy", "params", "param_bytes", "macs", "peak_activation_bytes",
                "encoding"):
        assert key in best
    assert best["accuracy"] > 0.5  # real training on digits, 3 epochs
    assert best["peak_activation_bytes"] <= LIMIT and best["params"] <= 40_000
    plan = json.loads((run_dir / "best" / "memory_plan.json").read_text())
    assert plan["peak_bytes"] == best["peak_activation_bytes"]
    assert len(plan["order"]) + 1 == len(plan["step_bytes"])


def test_every_complete_trial_meets_the_limits_recomputed(run_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    with sqlite3.connect(run_dir / "study.db") as con:
        numbers = [n for (n,) in con.execute("SELECT number FROM trials WHERE state='COMPLETE'")]
    assert numbers
    for n in numbers:
        folder = run_dir / "check" / str(n)
        assert main(["export", str(run_dir), "--trial", str(n), "--out", str(folder)]) == 0
        capsys.readouterr()
        assert main(["estimate", str(folder / "arch.json"), "--dtype", "int8", "--json"]) == 0
        costs = json.loads(capsys.readouterr().out)
        assert costs["peak_activation_bytes"] <= LIMIT
        assert costs["params"] <= 40_000


def test_onnx_matches_torch(run_dir: Path) -> None:
    import onnxruntime as ort

    from fitnas.arch import ArchGraph
    from fitnas.arch.builder import build

    graph = ArchGraph.from_json((run_dir / "best" / "arch.json").read_text())
    module = build(graph).eval()
    module.load_state_dict(torch.load(run_dir / "best" / "weights.pt"))
    x = torch.randn(graph.input_shape)
    with torch.no_grad():
        expected = module(x.clone()).numpy()
    session = ort.InferenceSession(str(run_dir / "best" / "model.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4


def test_report_renders_in_a_browser(run_dir: Path, tmp_path: Path) -> None:
    assert main(["report", str(run_dir)]) == 0
    page = run_dir / "report.html"
    text = page.read_text()
    assert "Pareto front" in text and text.count("data:image/png;base64,") == 3
    for png in ("pareto.png", "progress.png", "lifetime.png"):
        assert (run_dir / png).stat().st_size > 5000
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (CI installs it)")
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("L"))
    assert image.shape[0] >= 2000
    assert (image < 128).mean() > 0.01  # text and charts drawn, not a blank page


def test_export_torchscript(run_dir: Path, tmp_path: Path) -> None:
    assert main(["export", str(run_dir), "--format", "torchscript", "--out", str(tmp_path)]) == 0
    scripted = torch.jit.load(str(tmp_path / "model.pt"))
    assert scripted(torch.randn(1, 1, 8, 8)).shape == (1, 10)


def test_existing_run_needs_resume_or_force(run_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = (run_dir / "study.db").stat().st_mtime_ns
    assert main(["search", "--out", str(run_dir), "--budget", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0]
    assert (run_dir / "study.db").stat().st_mtime_ns == before  # nothing lost


BAD = [
    (["--space", "lattice"], "unknown search space 'lattice'"),
    (["--strategy", "grid"], "unknown strategy 'grid'"),
    (["--data", "imagenet"], "imagenet"),
    (["--device", "pdp11"], "pdp11"),
    (["--max-peak-mem=-5KB"], "-5KB"),
    (["--max-macs", "lots"], "lots"),
    (["--budget", "soon"], "soon"),
    (["--budget", "0"], "0"),
    (["--strategy", "coordinate:variant=greedy"], "greedy"),
    (["--strategy", "growtrim:controller=lstm"], "lstm"),
    (["--early-epochs", "0"], "--early-epochs must be a number of epochs in (0, 100,000], got 0"),
    (["--strategy", "reinforce:alpha=1.5"], "alpha must be a number >= 0 and <= 1, got 1.5"),
    (["--strategy", "reinforce:reward=power"], "reward=power needs budget_mw"),
    (["--strategy", "reinforce:reward=accuracy"], "reward=accuracy needs threshold"),
    (["--strategy", "reinforce:reward=power,budget_mw=100", "--device", "rpi-pico"],
     "needs peak_power_mw, which needs a device model with power figures"),
    (["--strategy", "reinforce:baseline=mean"], "unknown reinforce baseline 'mean'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a[0]) for a in BAD])
def test_bad_input_is_one_line(argv: list[str], message: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["search", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (out / "study.db").exists()


def test_limits_no_architecture_can_meet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--out", str(tmp_path / "run"), "--device", "none",
                 "--max-peak-mem", "10B", "--budget", "3", "--space", "chain",
                 "--strategy", "random:max_attempts=40"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no architecture of the chain space met the limits" in err[0]
    assert "smallest seen: " in err[0] and "peak_activation_bytes" in err[0]


def test_unwritable_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/fitnas-run")  # not writable even by root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "run"
    assert main(["search", "--out", str(target), "--budget", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write to the output folder" in err[0]


def test_same_seed_same_trials_with_one_worker(tmp_path: Path) -> None:
    import sqlite3

    rows = []
    for name in ("a", "b"):
        assert main(["search", "--budget", "3", "--epochs", "1", "--seed", "5", "--device",
                     "none", "--max-params", "30K", "--out", str(tmp_path / name),
                     "--json"]) == 0
        with sqlite3.connect(tmp_path / name / "study.db") as con:
            rows.append(con.execute("SELECT number, state, encoding, accuracy, costs FROM trials "
                                    "ORDER BY number").fetchall())
    assert rows[0] == rows[1]
    assert any(r[1] == "COMPLETE" for r in rows[0])


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["coordinate:nrandom=2,nadapt=2,nfinal=1",
                                      "growtrim:k=2,initial=2,controller_epochs=5"])
def test_coordinate_and_growtrim_search_and_resume(strategy: str, tmp_path: Path) -> None:
    import sqlite3

    out = tmp_path / "run"
    assert main(["search", "--budget", "4", "--epochs", "1", "--early-epochs", "0.5",
                 "--finetune-epochs", "0.25", "--strategy", strategy, "--device", "none",
                 "--max-params", "30K", "--out", str(out), "--json"]) == 0
    assert main(["resume", str(out), "--budget", "6", "--json"]) == 0  # replays the strategy
    with sqlite3.connect(out / "study.db") as con:
        rows = con.execute("SELECT state, budget, parent, result FROM trials WHERE state != "
                           "'INFEASIBLE' ORDER BY number").fetchall()
    assert len(rows) == 6
    epochs = {None: 1.0, "early": 0.5, "finetune": 0.25}
    for state, budget, parent, result in rows:
        assert state == "COMPLETE"
        assert json.loads(result)["extra"]["budget"] == {"epochs": epochs[budget]}
        assert (budget == "finetune") == (parent is not None)
    if strategy.startswith("coordinate"):
        assert [r[1] for r in rows] == ["early"] * 4 + [None] * 2


@pytest.mark.slow
def test_the_strategy_plans_for_the_trial_budget_and_a_resume_keeps_the_plan(tmp_path: Path
                                                                            ) -> None:
    """``--budget 3`` reaches the strategy as ``budget=3`` (so evolution's population is its
    floor of 10, coordinate's random phase 10); it is stored with the settings, and a resume
    with another budget replays with the plan the run started with."""
    from fitnas.study import load_run
    from fitnas.study.setup import load_settings

    out = tmp_path / "run"
    assert main(["search", "--budget", "3", "--epochs", "1", "--strategy", "evolution",
                 "--device", "none", "--max-params", "30K", "--out", str(out), "--json"]) == 0
    assert load_settings(out).strategy_options == {"budget": 3}
    assert main(["resume", str(out), "--budget", "5", "--json"]) == 0
    assert load_settings(out).strategy_options == {"budget": 3}
    strategy = load_run(out).config["strategy"]
    assert strategy["budget"] == 3 and strategy["population"] == 10 and strategy["sample"] == 2
