"""``export``, ``ensemble`` and ``report`` write all or nothing, and refuse an existing output
folder without ``--force`` (issue 18, item 5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fitnas.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("atomic") / "run"
    assert main(["search", "--data", "synthetic:1x8x8,classes=3,n=150,test=40", "--budget", "3",
                 "--epochs", "0.5", "--device", "none", "--space", "chain:max_conv_layers=2",
                 "--out", str(out), "--json"]) == 0
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and "Traceback" not in err, err


def test_export_refuses_an_existing_folder_and_replaces_it_with_force(
        run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exported"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    first = _files(out)
    assert {"arch.json", "model.onnx", "memory_plan.json", "weights.pt"} <= set(first)
    _refused(capsys, ["export", str(run_dir), "--out", str(out)], "already exists; replace it "
                                                                  "with --force")
    assert _files(out) == first
    (out / "stale.txt").write_text("from an earlier export")
    assert main(["export", str(run_dir), "--out", str(out), "--force"]) == 0
    assert "stale.txt" not in _files(out)  # replaced as a whole, not merged
    assert [p.name for p in tmp_path.iterdir()] == ["exported"]  # no scratch folder left


def test_a_failed_export_leaves_nothing_and_keeps_the_old_folder(
        run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken)
    for weights in (broken / "trials").glob("*.pt"):
        weights.write_bytes(weights.read_bytes()[:100])  # truncated: restoring fails midway
    fresh = tmp_path / "fresh"
    _refused(capsys, ["export", str(broken), "--out", str(fresh)], "cannot read the weights")
    assert not fresh.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "model.onnx").write_bytes(b"the model deployed last week")
    _refused(capsys, ["export", str(broken), "--out", str(kept), "--force"],
             "cannot read the weights")
    assert _files(kept) == {"model.onnx": b"the model deployed last week"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "run"]  # no scratch left


def test_ensemble_refuses_an_existing_folder(run_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vote"
    out.mkdir()
    (out / "ensemble.json").write_text("earlier")
    _refused(capsys, ["ensemble", str(run_dir), "--top", "2", "--out", str(out)],
             "already exists; replace it with --force")
    assert _files(out) == {"ensemble.json": b"earlier"}


def test_report_regenerates_the_runs_own_and_guards_another_folder(
        run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run_dir)]) == 0
    assert main(["report", str(run_dir)]) == 0  # the run's own report: always regenerated
    assert (run_dir / "report.html").exists()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".report.tmp-")]
    out = tmp_path / "shared-report"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    assert (out / "report.html").exists()
    before = _files(out)
    _refused(capsys, ["report", str(run_dir), "--out", str(out)], "already exists")
    assert _files(out) == before
    assert main(["report", str(run_dir), "--out", str(out), "--force"]) == 0
