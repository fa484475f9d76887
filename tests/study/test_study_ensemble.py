"""The top-N majority-vote ensemble (paper 002 section 4.1) on a real digits run.

The vote itself is tested on hand-made logits (fast); everything else shares one real search
(6 trials of 1 epoch on digits, a parameter limit so some candidates are infeasible), so those
tests are marked slow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fitnas.cli import main
from fitnas.costs.measure import measure_sequential_peak
from fitnas.costs.sequential import sequential_peak
from fitnas.states import TrialState
from fitnas.study import TrialRecord, load_run
from fitnas.study.ensemble import Ensemble, EnsembleError, build_ensemble, export_ensemble
from fitnas.study.setup import dataset_of
from fitnas.study.vote import majority_vote

MAX_PARAMS = 150_000
TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ensemble") / "run"
    code = main(["search", "--data", "digits", "--space", "chain", "--budget", "6", "--epochs", "1",
                 "--device", "none", "--max-params", f"{MAX_PARAMS}", "--seed", "1", "--out", str(out),
                 "--json"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def ensemble(run_dir: Path) -> Ensemble:
    return build_ensemble(run_dir, top=4)


def reference_vote(logits: np.ndarray) -> np.ndarray:
    """Majority class of ``n x B x C`` logits, ties broken by the mean softmax probability."""
    classes = logits.shape[-1]
    votes = np.stack([np.bincount(row, minlength=classes) for row in logits.argmax(-1).T])
    e = np.exp(logits - logits.max(-1, keepdims=True))
    mean = (e / e.sum(-1, keepdims=True)).mean(0)
    best = votes == votes.max(1, keepdims=True)
    return np.where(best, mean, -1.0).argmax(1)


# ----------------------------------------------------------------------------- the vote
def test_majority_beats_confidence() -> None:
    weak = torch.tensor([[0.1, 0.0, 0.0]])  # votes 0, barely
    sure = torch.tensor([[0.0, 20.0, 0.0]])  # votes 1, certain
    score = majority_vote([weak, weak.clone(), sure])
    assert int(score.argmax(1)) == 0  # 2 votes to 1, whatever the probabilities say
    assert torch.equal(score.floor(), torch.tensor([[2.0, 1.0, 0.0]]))
    # two votes each: the tie goes to the class the members are on average surer of
    tie = majority_vote([weak, weak.clone(), sure, sure.clone()])
    assert torch.equal(tie.floor(), torch.tensor([[2.0, 2.0, 0.0]])) and int(tie.argmax(1)) == 1


def test_tie_break_never_overturns_one_vote() -> None:
    # class 1 gets all the probability mass it can; class 0 still wins by one vote
    a = torch.tensor([[1e-3, 0.0]])
    b = torch.tensor([[0.0, 80.0]])
    assert int(majority_vote([a, a.clone(), b]).argmax(1)) == 0
    # an exact tie inside a member votes for its first class, as torch.argmax and ONNX ArgMax
    flat = torch.zeros(1, 4)
    assert torch.equal(majority_vote([flat]).floor(), torch.tensor([[1.0, 0.0, 0.0, 0.0]]))


def test_vote_matches_a_direct_count() -> None:
    logits = torch.randn(5, 300, 4, generator=torch.Generator().manual_seed(0))
    logits[3] = logits[1]  # more ties in the votes
    got = majority_vote(list(logits)).argmax(1).numpy()
    assert np.array_equal(got, reference_vote(logits.numpy()))
    listed = list(logits)
    majority_vote(listed, consume=True)
    assert listed == []


# ----------------------------------------------------------------------- the ensemble
@pytest.mark.slow
def test_members_are_the_best_usable_trials(run_dir: Path, ensemble: Ensemble) -> None:
    study = load_run(run_dir)
    done = [t for t in study.trials((TrialState.COMPLETE,)) if t.feasible]
    assert len(study.trials()) > len(done)  # infeasible candidates were recorded, never members

    def rank(t: TrialRecord) -> tuple[float, float, int]:
        assert t.accuracy is not None
        return -t.accuracy, t.costs["total_memory_bytes"], t.number

    ranked = sorted(done, key=rank)
    assert [m.trial for m in ensemble.members] == [t.number for t in ranked[:4]]
    for m in ensemble.members:  # the saved weights give back the accuracy the search recorded
        assert m.val_accuracy == pytest.approx(m.search_accuracy)


@pytest.mark.slow
def test_accuracy_is_the_vote_of_the_members_predictions(run_dir: Path, ensemble: Ensemble) -> None:
    settings = load_run(run_dir).settings
    assert settings is not None
    data = dataset_of(settings)
    for split, accuracy in ((data.val, ensemble.val_accuracy), (data.test, ensemble.test_accuracy)):
        with torch.no_grad():
            logits = np.stack([m(split.x.clone()).numpy() for m in ensemble.module.members])
        own = (logits.argmax(-1) == split.y.numpy()).mean(1)
        assert own == pytest.approx([m.val_accuracy if split is data.val else m.test_accuracy
                                     for m in ensemble.members])
        assert accuracy == pytest.approx((reference_vote(logits) == split.y.numpy()).mean())
    x = data.test.x.clone()
    with torch.no_grad():
        ensemble.module(x)
    assert torch.equal(x, data.test.x)  # no member overwrote the shared input


@pytest.mark.slow
def test_costs_are_summed_over_members(run_dir: Path, ensemble: Ensemble) -> None:
    study = load_run(run_dir)
    trials = [study.storage.trial(m.trial) for m in ensemble.members]
    for key in ("params", "param_bytes", "macs"):
        assert ensemble.costs[key] == sum(t.costs[key] for t in trials)
    assert [m.peak_activation_bytes for m in ensemble.members] == \
        [t.costs["peak_activation_bytes"] for t in trials]
    assert ensemble.costs["params"] == sum(p.numel() for p in ensemble.module.parameters())
    costs = ensemble.costs
    assert costs["total_memory_bytes"] == costs["param_bytes"] + costs["peak_activation_bytes"]
    assert costs["largest_member_peak_bytes"] <= costs["peak_activation_bytes"]
    # each member fits the limit; the sum is checked against it too
    assert all(m.params <= MAX_PARAMS for m in ensemble.members)
    assert ensemble.violations == {"max_params": pytest.approx((costs["params"] - MAX_PARAMS)
                                                               / MAX_PARAMS)}
    assert ensemble.to_dict()["meets_limits"] == (costs["params"] <= MAX_PARAMS)
    json.dumps(ensemble.to_dict())


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 5])
def test_sequential_peak_is_measured(ensemble: Ensemble, batch: int) -> None:
    graphs = [g.with_input_shape((batch, *g.input_shape[1:])) for g in ensemble.graphs]
    analytic = sequential_peak(graphs, ensemble.orders, "fp32")
    measured = measure_sequential_peak(ensemble.module, graphs[0].input_shape)
    assert analytic == measured
    assert len(analytic.stage_bytes) == len(ensemble.members) + 1


@pytest.mark.slow
def test_onnx_export_agrees_with_torch(run_dir: Path, ensemble: Ensemble, tmp_path: Path) -> None:
    import onnxruntime as ort

    written = export_ensemble(ensemble, tmp_path / "out")
    members = json.loads(written["members"].read_text())
    assert [m["trial"] for m in members] == [m.trial for m in ensemble.members]
    assert all("encoding" in m and "test_accuracy" in m for m in members)
    summary = json.loads(written["ensemble"].read_text())
    assert summary["test_accuracy"] == ensemble.test_accuracy
    assert summary["costs"]["macs"] == ensemble.costs["macs"]
    settings = load_run(run_dir).settings
    assert settings is not None
    data = dataset_of(settings)
    session = ort.InferenceSession(str(written["onnx"]), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": data.test.x.numpy()})[0]
    with torch.no_grad():
        want = ensemble.module(data.test.x.clone()).numpy()
    assert np.abs(got - want).max() < 1e-4
    assert np.array_equal(got.argmax(1), want.argmax(1))
    assert (got.argmax(1) == data.test.y.numpy()).mean() == pytest.approx(ensemble.test_accuracy)


# ------------------------------------------------------------------------------ the CLI
@pytest.mark.slow
def test_cli_prints_and_writes(run_dir: Path, ensemble: Ensemble,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ensemble", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "vote" in out and "written to" in out
    for m in ensemble.members:
        assert f"{100 * m.test_accuracy:.2f}%" in out  # percent, two decimals (issue 18)
    for name in ("model.onnx", "members.json", "ensemble.json", "preprocess.json"):
        assert (run_dir / "ensemble" / name).exists()
    import onnx

    shipped = json.loads((run_dir / "ensemble" / "preprocess.json").read_text())
    meta = {p.key: p.value for p in onnx.load(run_dir / "ensemble" / "model.onnx").metadata_props}
    assert json.loads(meta["fitnas.preprocess"]) == shipped and shipped["in_model"] is False
    pair = [m.trial for m in ensemble.members[:2]]
    out_dir = run_dir / "pair"
    assert main(["ensemble", str(run_dir), "--trials", ",".join(map(str, pair)), "--out",
                 str(out_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trials"] == pair and data["files"]["onnx"] == str(out_dir / "model.onnx")


@pytest.mark.slow
def test_cli_errors_are_one_line_and_keep_what_was_written(
        run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "ensemble.json").write_text("earlier")
    (tmp_path / "a_file").write_text("")
    cases = [
        ([str(tmp_path / "missing")], "holds no fitnas run"),
        ([str(run_dir), "--top", "0"], "--top must be at least 2"),
        ([str(run_dir), "--top", "1"], "--top must be at least 2"),
        ([str(run_dir), "--trials", "0,99"], "no trial 99"),
        ([str(run_dir), "--trials", "1,x"], "bad --trials"),
        ([str(run_dir), "--trials", "2"], "at least 2 trials"),
        ([str(run_dir), "--top", "2", "--trials", "0,1"], "not both"),
        ([str(run_dir), "--top", "2", "--out", str(tmp_path / "a_file")], "is a file"),
        ([str(run_dir), "--top", "2", "--out", str(folder)], "already exists; replace it with "
                                                             "--force"),
    ]
    for argv, message in cases:
        # --force reaches each check; a refused ensemble still leaves the folder as it was
        out = [] if "--out" in argv else ["--out", str(folder), "--force"]
        assert main(["ensemble", *argv, *out]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)
        assert (folder / "ensemble.json").read_text() == "earlier"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "kept"]


@pytest.mark.slow
def test_too_few_usable_members_says_how_many(run_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("ensemble", "pair", "best"))
    keep = sorted((copy / "trials").glob("*.pt"))
    for path in keep[1:]:
        path.unlink()
    assert main(["ensemble", str(copy)]) == 2
    assert "has 1 COMPLETE trial(s) that meet the limits and have trained weights; an ensemble " \
           "needs at least 2" in capsys.readouterr().err
    assert not (copy / "ensemble").exists()
    with pytest.raises(EnsembleError, match="without trained weights"):
        build_ensemble(copy, trials=[int(keep[0].stem), int(keep[1].stem)])


@pytest.mark.skipif(not TABLE.exists(), reason="needs ../shared/benchmarks")
def test_a_table_run_has_no_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table"
    assert main(["search", "--space", "nb201", "--table", str(TABLE), "--budget", "4",
                 "--device", "none", "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    assert main(["ensemble", str(out)]) == 2
    assert "table look-up" in capsys.readouterr().err
