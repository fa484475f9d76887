"""``fitnas estimate --schedule default|best``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fitnas.cli import main
from fitnas.costs import peak_activation_bytes

from .test_schedule import inception_block


def _arch(tmp_path: Path) -> str:
    path = tmp_path / "arch.json"
    path.write_text(inception_block().to_json())
    return str(path)


def test_json_with_best_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = inception_block()
    assert main(["estimate", _arch(tmp_path), "--schedule", "best", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schedule_exact"] is True
    assert sorted(data["schedule"]) == sorted(graph.order)
    assert data["peak_activation_bytes"] == peak_activation_bytes(graph, data["schedule"])
    assert data["peak_activation_bytes_default_order"] == peak_activation_bytes(graph)
    assert data["peak_activation_bytes"] < data["peak_activation_bytes_default_order"]
    assert data["total_memory_bytes"] == data["param_bytes"] + data["peak_activation_bytes"]


def test_default_schedule_keeps_the_old_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arch = _arch(tmp_path)
    assert main(["estimate", arch, "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["estimate", arch, "--json", "--schedule", "default"]) == 0
    assert json.loads(capsys.readouterr().out) == plain
    assert "schedule" not in plain and "schedule_exact" not in plain
    assert plain["peak_activation_bytes"] == peak_activation_bytes(inception_block())


def test_human_output_shows_both_peaks_and_the_reduction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = inception_block()
    best = main(["estimate", _arch(tmp_path), "--schedule", "best", "--dtype", "int8"])
    assert best == 0
    out = capsys.readouterr().out
    default = peak_activation_bytes(graph, dtype="int8")
    assert f"{default:,} B" in out
    assert "graph's order" in out and "best order" in out and "reduction" in out
    assert "exact" in out


def test_bad_schedule_value_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["estimate", _arch(tmp_path), "--schedule", "fastest"])
    except SystemExit as done:  # argparse's own exit, if main lets it through
        code = int(done.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert "fastest" in err and "best" in err
