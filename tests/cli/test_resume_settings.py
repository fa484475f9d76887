"""`fitnas search --resume` with flags: a flag given that differs from the run's settings is
refused with the differences in one line (a default never counts), `--budget` always applies,
and `--allow-changed-settings` applies limits to the trials still to run."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fitnas.cli import main

DATA = "synthetic:1x8x8,classes=2,n=64,test=16"
MADE = ["--data", DATA, "--epochs", "0.2", "--device", "none", "--max-params", "50000",
        "--seed", "5"]


def stored(out: Path, key: str) -> object:
    with closing(sqlite3.connect(out / "study.db")) as con:
        row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def rows(out: Path) -> list[tuple]:
    with closing(sqlite3.connect(out / "study.db")) as con:
        return con.execute("SELECT number, state, costs, violations FROM trials ORDER BY number"
                           ).fetchall()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "run"
    assert main(["search", *MADE, "--budget", "2", "--out", str(out), "--json"]) == 0
    return out


@pytest.fixture
def run(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(made, copy)
    return copy


def search_resume(out: Path, *flags: str) -> int:
    return main(["search", "--resume", "--out", str(out), "--json", *flags])


@pytest.mark.parametrize(("flags", "differences"), [
    (["--max-params", "20000"], ["max_params 50000 -> 20000"]),
    (["--seed", "0"], ["seed 5 -> 0"]),  # 0 is the default: given, it counts
    (["--space", "cells", "--max-params", "20K"], ["space chain -> cells",
                                                   "max_params 50000 -> 20000"]),
    (["--data", "digits", "--allow-changed-settings"], ["data " + DATA + " -> digits"]),
    (["--device", "stm32f746-disco", "--epochs", "1"], ["device none -> stm32f746-disco",
                                                        "epochs 0.2 -> 1"]),
])
def test_changed_settings_are_refused_in_one_line(run: Path, flags: list[str],
                                                  differences: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    before = (rows(run), stored(run, "settings"))
    assert search_resume(run, "--budget", "4", *flags) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"was made with other settings: {', '.join(differences)};" in err
    assert ("another --out" in err) == any(d.split()[0] in ("seed", "space", "data")
                                           for d in differences)
    assert (rows(run), stored(run, "settings")) == before  # nothing written


def test_flags_as_stored_and_a_new_budget_resume(run: Path) -> None:
    # the default --device (a profile) and --seed are not given, so they do not count; the
    # flags given equal the run's; --budget always applies
    assert search_resume(run, "--max-params", "50K", "--seed", "5", "--space", "chain",
                         "--budget", "3") == 0
    assert len([r for r in rows(run) if r[1] in ("COMPLETE", "FAILED")]) == 3
    assert stored(run, "settings")["budget"]["trials"] == 3  # type: ignore[index]
    assert stored(run, "settings")["seed"] == 5  # type: ignore[index]
    assert stored(run, "sessions") is None  # nothing changed: one session


def test_allowed_limit_change_applies_to_new_trials(run: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    old = rows(run)
    assert search_resume(run, "--max-params", "2000", "--allow-changed-settings",
                         "--budget", "5") == 0
    err = capsys.readouterr().err
    assert "--resume with changed settings: max_params 50000 -> 2000" in err
    settings = stored(run, "settings")
    assert settings["limits"]["max_params"] == 2000  # type: ignore[index]
    sessions = stored(run, "sessions")
    assert isinstance(sessions, list) and [s["from_trial"] for s in sessions] == [0, len(old)]
    now = rows(run)
    assert now[:len(old)] == old  # finished trials keep what they got
    for number, state, costs, _ in now[len(old):]:
        params = json.loads(costs)["params"]
        assert (state == "INFEASIBLE") == (params > 2000), (number, params)
    # the best and the front are judged under the new limit (issue 18: no trial over it)
    over = [n for n, state, costs, _ in old if state == "COMPLETE"
            and json.loads(costs)["params"] > 2000]
    assert over  # the first session trained networks the new limit rules out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best"] is None or summary["best"]["params"] <= 2000, summary["best"]
    assert not set(over) & set(summary["pareto_trials"])
    with (run / "pareto.csv").open() as f:
        assert all(int(row["params"]) <= 2000 for row in csv.DictReader(f))
    # resumed again without flags: the run goes on under its latest settings
    assert search_resume(run, "--budget", "6") == 0
    assert stored(run, "settings")["limits"]["max_params"] == 2000  # type: ignore[index]


def test_allow_flag_needs_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--allow-changed-settings", "--out", str(tmp_path / "x")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
