"""`fitnas search --objective COST@DEVICE` (repeatable): a Pareto front over several devices at
once (DPP-Net, paper 003 section 4), carried by pareto.csv, summary.json and the report, and a
run that reopens with its devices; bad objectives are one line, exit code 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fitnas.cli import main
from fitnas.costs.device import device_costs
from fitnas.devices import load_device
from fitnas.study import load_run

from ..tables import synthetic_nb201_table

TABLE = str(synthetic_nb201_table())
DEVICES = ("stm32f746-disco", "rpi-zero-2w", "esp32-s3-devkitc")
SEARCH = ["search", "--space", "nb201", "--table", TABLE, "--device", "none", "--seed", "3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("devices") / "run"
    objectives = [w for d in DEVICES for w in ("--objective", f"latency@{d}")]
    assert main([*SEARCH, "--budget", "40", *objectives, "--objective", "params",
                 "--out", str(out), "--json"]) == 0
    return out


def test_every_trial_has_each_device_latency_at_its_dtype(run: Path) -> None:
    with load_run(run) as record:
        assert record.cost_objectives() == [*(f"latency_ms@{d}" for d in DEVICES), "params"]
        trial = record.best_trial()
        assert trial is not None
        graph = record.graph(trial.number)
        for name in DEVICES:
            profile = load_device(name).compute
            assert profile is not None
            expected = device_costs(graph, profile, profile.dtype).latency_ms
            assert trial.costs[f"latency_ms@{name}"] == pytest.approx(expected, rel=1e-12)


def test_outputs_carry_the_device_fronts(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = json.loads((run / "summary.json").read_text())
    assert summary["objectives"] == ["accuracy", *(f"latency_ms@{d}" for d in DEVICES), "params"]
    fronts = summary["device_fronts"]
    assert list(fronts) == list(DEVICES) and all(fronts.values())
    both = set.intersection(*(set(f) for f in fronts.values()))
    assert summary["panacea"] == [n for n in fronts[DEVICES[0]] if n in both]
    with (run / "pareto.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {f"latency_ms@{d}" for d in DEVICES} <= set(rows[0])
    for row in rows:  # a trial on a device's front is on the front of all objectives
        on = [d for d in row["device_fronts"].split(";") if d]
        assert all(int(row["trial"]) in fronts[d] for d in on)
    for d in DEVICES:
        assert set(fronts[d]) <= {int(r["trial"]) for r in rows}
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "per-device fronts" in out
    if summary["panacea"]:
        assert f"trial {summary['panacea'][0]}" in out.splitlines()[-1]
    page = (run / "report.html").read_text()
    assert "Per-device fronts" in page and "latency on rpi-zero-2w" in page
    assert (run / "device_fronts.png").stat().st_size > 1000


def test_resume_keeps_the_devices(run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["resume", str(copy), "--budget", "45", "--json"]) == 0
    with load_run(copy) as record:
        done = [t for t in record.trials() if t.number >= 40 and t.accuracy is not None]
        assert done and all(f"latency_ms@{DEVICES[2]}" in t.costs for t in done)


@pytest.mark.parametrize("flags, words", [
    (["--objective", "latency@no-such-board"], "unknown device 'no-such-board'"),
    (["--objective", "energy@rpi-pico"], "no power.static_mw"),
    (["--objective", "params", "--objective", "params"], "'params' is given twice"),
    (["--objective", "latency@rpi-pico", "--objective", "latency_ms@rpi-pico"], "given twice"),
    (["--objective", "flops@rpi-pico"], "only a device cost can name a device"),
    (["--objective", "flops"], "unknown objective 'flops'"),
    (["--objectives", "params", "--objective", "macs"], "not both"),
])
def test_bad_objectives_are_one_line(flags: list[str], words: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main([*SEARCH, "--budget", "2", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not (out / "study.db").exists()


def test_a_device_without_a_latency_model(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).parents[2] / "fitnas" / "devices" / "profiles" /
            "rpi-zero-2w.toml").read_text()
    kept, skipping = [], False
    for line in text.splitlines():  # the profile without its [compute] and [power] tables
        if line.startswith("["):
            skipping = line.startswith(("[compute", "[power"))
        if not skipping:
            kept.append(line)
    profile = tmp_path / "bare.toml"
    profile.write_text("\n".join(kept) + "\n")
    assert main([*SEARCH, "--budget", "2", "--objective", f"latency@{profile}",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no [compute] table" in err[0], err
