"""``fitnas estimate`` from the command line: outputs and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fitnas.arch.random_graph import random_graph
from fitnas.cli import main
from fitnas.costs import estimate

INT_KEYS = ["params", "param_bytes", "macs", "peak_activation_bytes", "chan_memory_bytes",
            "total_memory_bytes"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["estimate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_for_torchvision_model(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "torchvision:mobilenet_v2", "--dtype", "int8")
    for key in INT_KEYS:
        assert isinstance(data[key], int), key
    assert data["params"] == 3_504_872
    assert data["param_bytes"] == 3_504_872  # int8: one byte each
    assert data["total_memory_bytes"] == data["param_bytes"] + data["peak_activation_bytes"]
    assert data["dtype"] == "int8" and data["input_shape"] == [1, 3, 224, 224]
    assert data["opaque_nodes"] == []
    fp32 = run_json(capsys, "torchvision:mobilenet_v2")
    assert fp32["peak_activation_bytes"] == 4 * data["peak_activation_bytes"]
    small = run_json(capsys, "torchvision:mobilenet_v2", "--input", "1x3x96x96")
    assert small["input_shape"] == [1, 3, 96, 96] and small["macs"] < fp32["macs"]


def test_no_inplace_and_count_bias(capsys: pytest.CaptureFixture[str]) -> None:
    base = run_json(capsys, "torchvision:squeezenet1_1")
    off = run_json(capsys, "torchvision:squeezenet1_1", "--no-inplace")
    assert off["peak_activation_bytes"] > base["peak_activation_bytes"]
    biased = run_json(capsys, "torchvision:squeezenet1_1", "--count-bias")
    assert biased["macs"] > base["macs"]


def test_factory_file_and_arch_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "nets.py"
    source.write_text(
        "import torch.nn as nn\n"
        "def tiny():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8*6*6, 4))\n"
        "def broken():\n"
        "    raise RuntimeError('no GPU here')\n"
    )
    data = run_json(capsys, f"{source}:tiny", "--input", "1x3x8x8")
    assert data["params"] == 3 * 8 * 9 + 8 + 8 * 36 * 4 + 4
    graph = random_graph(3, 12)
    arch = tmp_path / "arch.json"
    arch.write_text(graph.to_json())
    data = run_json(capsys, str(arch))
    expected = estimate(graph)
    assert data["peak_activation_bytes"] == expected.peak_activation_bytes
    assert data["macs"] == expected.macs


def test_human_table_lifetime_table_and_plot(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    arch = tmp_path / "arch.json"
    arch.write_text(random_graph(5, 6).to_json())
    plot = tmp_path / "life.png"
    assert main(["estimate", str(arch), "--table", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "peak activation memory" in out and "#ALIVE" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def bad_cases(tmp_path: Path) -> list[tuple[list[str], str]]:
    factory = tmp_path / "nets.py"
    factory.write_text("def broken():\n    raise RuntimeError('no GPU here')\n")
    cycle = tmp_path / "cycle.json"
    cycle.write_text(json.dumps({"input_shape": [1, 4], "nodes": [
        {"name": "a", "op": "relu", "inputs": ["b"]}, {"name": "b", "op": "relu", "inputs": ["a"]}]}))
    dangling = tmp_path / "dangling.json"
    dangling.write_text(json.dumps({"input_shape": [1, 4], "nodes": [
        {"name": "a", "op": "relu", "inputs": ["ghost"]}]}))
    return [
        (["torchvision:resnet19"], "no classification model 'resnet19'"),
        (["alexnet"], "use torchvision:NAME"),
        (["torchvision:resnet18", "--input", "1x3xbig"], "bad input shape '1x3xbig'"),
        (["torchvision:resnet18", "--dtype", "fp8"], "accepted: fp32, fp16, int8"),
        ([f"{factory}:broken", "--input", "1x3x8x8"], "broken() in"),
        ([f"{factory}:missing", "--input", "1x3x8x8"], "has no function 'missing'"),
        ([str(tmp_path / "nowhere.py") + ":f", "--input", "1x3x8x8"], "does not exist"),
        ([str(tmp_path / "nowhere.json")], "does not exist"),
        ([str(cycle)], "cycle"),
        ([str(dangling)], "reads 'ghost'"),
        (["torchvision:vgg16", "--input", "1x3x16x16"],
         "does not run on an input of shape (1, 3, 16, 16) at features.30: Given input size"),
        (["torchvision:vgg16", "--input", "1x1x64x64"], "at features.0"),
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in bad_cases(tmp_path):
        assert main(["estimate", *argv]) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, captured.err
        assert message in lines[0], (argv, lines[0])


def test_real_process_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fitnas", "estimate", "torchvision:nope", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "torchvision:nope" not in proc.stdout
    usage = subprocess.run([sys.executable, "-m", "fitnas", "estimate"], capture_output=True,
                           text=True, timeout=120)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
