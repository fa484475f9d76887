"""The run record is self-sufficient: ``load_run`` reads trials, networks, orders and weights
without the dataset or the strategy; a version-1 run folder is migrated when opened; what a
run exports is the network and order it checked."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from fitnas.cli import main
from fitnas.costs import lifetime_table
from fitnas.costs.model import Costs
from fitnas.states import TrialState
from fitnas.study import SCHEMA_VERSION, StorageError, load_run
from fitnas.study.restore import restore_trial

V1_RUN = Path(__file__).resolve().parent / "data" / "v1_run"


@pytest.fixture()
def v1_run(tmp_path: Path) -> Path:
    """A copy of a run folder written by fitnas 0.1.0 (schema 1: no graphs, bare costs)."""
    folder = tmp_path / "v1"
    shutil.copytree(V1_RUN, folder)
    return folder


def test_v1_run_folder_is_migrated_on_open(v1_run: Path) -> None:
    with sqlite3.connect(v1_run / "study.db") as con:
        before = {n: (json.loads(c), json.loads(r)) for n, c, r in
                  con.execute("SELECT number, costs, result FROM trials")}
    assert all(r.get("state") in (None, "ok") for _, r in before.values())
    with load_run(v1_run) as run:
        assert run.storage.get_meta("schema_version") == SCHEMA_VERSION == 2
        trials = run.trials()
        assert [t.number for t in trials] == sorted(before)
        assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.INFEASIBLE}
        for t in trials:
            graph = run.graph(t.number)
            assert graph.fingerprint() == t.fingerprint
            assert isinstance(t.costs, Costs) and t.costs.order == graph.order
            for key, value in before[t.number][0].items():  # the numbers the run checked
                assert t.costs[key] == value
            if t.state == TrialState.COMPLETE:
                assert t.result["state"] == "COMPLETE"
        best = run.best_trial()
        assert best is not None and best.accuracy == max(
            t.accuracy for t in trials if t.accuracy is not None)
        assert run.settings is not None and run.settings.data == "digits"
        assert restore_trial(run, best.number).graph.fingerprint() == best.fingerprint
    with load_run(v1_run) as again:  # a second open finds version 2 and changes nothing
        assert [t.costs for t in again.trials()] == [t.costs for t in trials]


def test_report_and_export_of_a_v1_run(v1_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(v1_run), "--out", str(v1_run / "exp")]) == 0
    plan = json.loads((v1_run / "exp" / "memory_plan.json").read_text())
    with load_run(v1_run) as run:
        best = run.best_trial()
        assert best is not None and tuple(plan["order"]) == run.order(best.number)
    assert main(["report", str(v1_run)]) == 0
    assert (v1_run / "report.html").is_file()


def _write_images(folder: Path, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label in ("a", "b", "c"):
        (folder / label).mkdir(parents=True)
        for k in range(24):
            base = {"a": 40, "b": 128, "c": 215}[label]
            pixels = np.clip(base + rng.normal(0, 25, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / label / f"{k}.png")


@pytest.mark.slow
def test_report_export_and_ensemble_need_no_dataset(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    _write_images(images)
    run_dir = tmp_path / "run"
    assert main(["search", "--data", f"imagefolder:{images}", "--space", "cells:filters=4,stages=1",
                 "--schedule", "best", "--budget", "4", "--epochs", "1", "--device", "none",
                 "--out", str(run_dir), "--json"]) == 0
    capsys.readouterr()
    shutil.rmtree(images)  # the dataset is gone; the record is all there is
    with load_run(run_dir) as run:
        best = run.best_trial()
        assert best is not None
        for t in run.trials():
            if t.graph_key is not None:  # each checked network is stored with its order
                graph = run.graph(t.number)
                assert graph.fingerprint() == t.fingerprint
                assert t.order is not None and t.costs["peak_activation_bytes"] == \
                    lifetime_table(graph, t.order).peak_bytes
        stored_order = run.order(best.number)
    # the order exported is the order that was checked when the trial was stored
    plan = json.loads((run_dir / "best" / "memory_plan.json").read_text())
    assert tuple(plan["order"]) == stored_order
    assert main(["report", str(run_dir)]) == 0
    assert main(["export", str(run_dir), "--format", "torchscript"]) == 0
    exported = json.loads((run_dir / "export" / f"trial-{best.number}" / "memory_plan.json")
                          .read_text())
    assert tuple(exported["order"]) == stored_order
    # an ensemble scores a vote, so it needs the dataset: it says so in one line
    assert main(["ensemble", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert f"image folder '{images}' does not exist" in err and len(err.strip().splitlines()) == 1


def test_load_run_of_a_folder_without_a_run(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="holds no fitnas run"):
        load_run(tmp_path)
    (tmp_path / "study.db").write_text("not a database")
    with pytest.raises(StorageError, match="cannot open the study database"):
        load_run(tmp_path)
