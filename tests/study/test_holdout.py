"""Issue 18 items 6 and 7 on one real search (digits, int8, memory-optimal schedule): the
deployed model is complete and the accuracy reported is honest.

* the held-out test accuracy (``fitnas.study.holdout``) of the best trial and every Pareto
  member is computed once at the end, stored, shown in ``summary.json``, ``pareto.csv``, the
  report and the final print, and not computed again on resume;
* raw digits (pixel values 0..16, the un-normalized test split) fed to the model exported with
  ``--include-normalization`` give the reported test accuracy, as do raw digits normalized by
  hand with ``preprocess.json`` and fed to ``best/model.onnx``; both carry the record as ONNX
  metadata; exporting loads no dataset;
* ``fitnas estimate RUN/best/arch.json`` uses the run's int8 and schedule.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from fitnas.cli import main
from fitnas.data import Preprocess
from fitnas.data.preprocess import METADATA_KEY
from fitnas.data.splits import split_indices
from fitnas.study import load_run
from fitnas.study.holdout import HOLDOUT_KEY, holdout_accuracies, holdout_trials, score_holdout
from fitnas.study.restore import restore_trial
from fitnas.study.setup import build_study, dataset_of, load_settings

SEED = 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("holdout") / "run"
    done = subprocess.run(  # a process of its own: it holds the run folder's lock while it runs
        [sys.executable, "-m", "fitnas", "search", "--data", "digits", "--space", "chain",
         "--budget", "4", "--epochs", "2", "--device", "none", "--dtype", "int8", "--schedule",
         "best", "--max-params", "60K", "--seed", str(SEED), "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out


def _raw_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """The run's test split as scikit-learn gives it: pixel values 0..16, not normalized."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    _, held = split_indices(len(bunch.target), 0.2, SEED + 1)  # test_fraction, seed + 1
    return bunch.images[held][:, None].astype(np.float32), bunch.target[held]


def _onnx_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    preds = [int(session.run(None, {"input": x[i:i + 1]})[0].argmax()) for i in range(len(x))]
    return float((np.array(preds) == y).mean())


def test_test_accuracy_of_the_best_and_the_front(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    best = summary["best"]
    assert best["test_accuracy"] is not None and 0.5 < best["test_accuracy"] <= 1.0
    with load_run(run_dir) as run:
        data = dataset_of(run.settings)  # type: ignore[arg-type]
        scored = holdout_accuracies(run)
        front = [t.number for t in run.pareto_front()]
        assert {t.number for t in holdout_trials(run)} == {best["trial"], *front}
        assert set(scored) == {best["trial"], *front}
        assert run.storage.get_meta(HOLDOUT_KEY)["split"] == "test"
        for number, accuracy in scored.items():  # the restored network on the test split
            module = restore_trial(run, number)
            with torch.no_grad():
                preds = module(data.test.x.clone()).argmax(1)
            assert accuracy == pytest.approx(float((preds == data.test.y).float().mean()))
    assert summary["test_accuracies"] == {str(n): a for n, a in sorted(scored.items())}
    with (run_dir / "pareto.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["trial"]) for r in rows] == front
    for r in rows:
        assert float(r["test_accuracy"]) == pytest.approx(scored[int(r["trial"])])


def test_raw_digits_through_the_exported_models(run_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import fitnas.data
    import fitnas.data.registry

    summary = json.loads((run_dir / "summary.json").read_text())
    reported = summary["best"]["test_accuracy"]
    x, y = _raw_test_digits()
    tolerance = 1.0 / len(y) + 1e-9  # one image: float rounding of the normalization

    # the default model: normalize by hand with preprocess.json
    pre = Preprocess.from_dict(json.loads((run_dir / "best" / "preprocess.json").read_text()))
    assert pre.in_model is False and pre.input_range == (0.0, 16.0) and pre.layout == "NCHW"
    assert pre.input_shape == (1, 1, 8, 8) and pre.class_names == tuple("0123456789")
    assert abs(_onnx_accuracy(run_dir / "best" / "model.onnx", pre.apply(x), y) - reported) \
        <= tolerance
    meta = {p.key: p.value for p in onnx.load(str(run_dir / "best" / "model.onnx")).metadata_props}
    assert Preprocess.from_dict(json.loads(meta[METADATA_KEY])) == pre

    # --include-normalization: raw pixels straight in; no dataset is loaded to export
    def gone(*args: object, **kwargs: object) -> None:
        raise AssertionError("export loaded the dataset")

    monkeypatch.setattr(fitnas.data.registry, "create_dataset", gone)
    monkeypatch.setattr(fitnas.data, "create_dataset", gone)
    out = tmp_path / "raw"
    assert main(["export", str(run_dir), "--include-normalization", "--out", str(out)]) == 0
    capsys.readouterr()
    baked = Preprocess.from_dict(json.loads((out / "preprocess.json").read_text()))
    assert baked.in_model is True and baked.mean == pre.mean and baked.std == pre.std
    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(meta[METADATA_KEY])["in_model"] is True
    assert abs(_onnx_accuracy(out / "model.onnx", x, y) - reported) <= tolerance


def test_estimate_uses_the_runs_dtype_and_schedule(run_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    arch = json.loads((run_dir / "best" / "arch.json").read_text())
    assert arch["run"]["dtype"] == "int8" and arch["run"]["schedule"] == "best"
    best = json.loads((run_dir / "summary.json").read_text())["best"]
    assert main(["estimate", str(run_dir / "best" / "arch.json"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["dtype"] == "int8" and got["from_file"] == ["dtype", "schedule"]
    assert got["schedule_used"] == "best"
    assert got["param_bytes"] == best["param_bytes"] == best["params"]  # 1 byte per weight
    assert got["peak_activation_bytes"] == best["peak_activation_bytes"]
    assert main(["estimate", str(run_dir / "best" / "arch.json"), "--dtype", "fp32",
                 "--json"]) == 0
    fp32 = json.loads(capsys.readouterr().out)
    assert fp32["param_bytes"] == 4 * got["param_bytes"] and fp32["from_file"] == ["schedule"]
    assert main(["estimate", str(run_dir / "best" / "arch.json")]) == 0
    header = capsys.readouterr().out
    assert "int8 (from the file)" in header and "best (from the file)" in header


def test_resume_does_not_score_again(run_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with load_run(run_dir) as run:
        before = holdout_accuracies(run)
    study = build_study(load_settings(run_dir), run_dir, resume=True)
    calls: list[object] = []
    monkeypatch.setattr(type(study.evaluator), "holdout_accuracy",
                        lambda self, candidate, module=None: calls.append(candidate))
    try:
        assert score_holdout(study) == before
    finally:
        study.close()
    assert calls == []
    monkeypatch.undo()
    # the final print of a resumed search (no budget left): percent, two decimals, both splits
    assert main(["resume", str(run_dir)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    best = json.loads((run_dir / "summary.json").read_text())["best"]
    assert f"validation accuracy {100 * best['accuracy']:.2f}%" in out
    assert f"test accuracy {100 * best['test_accuracy']:.2f}%" in out


def test_report_shows_test_beside_validation(run_dir: Path, tmp_path: Path) -> None:
    from fitnas.report.study_report import write_report

    best = json.loads((run_dir / "summary.json").read_text())["best"]
    with load_run(run_dir) as run:
        page = write_report(run, tmp_path / "report").read_text()
    assert (f"validation accuracy {100 * best['accuracy']:.2f}%, test accuracy "
            f"{100 * best['test_accuracy']:.2f}%") in page
    assert "<th>val accuracy</th><th>test accuracy</th>" in page
