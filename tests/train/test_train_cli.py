"""``fitnas train`` and ``fitnas datasets`` through ``fitnas.cli.main``."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from fitnas.arch import ArchGraph
from fitnas.cli import main


def write_arch(path: Path, classes: int = 10, shape: tuple[int, ...] = (1, 1, 8, 8)) -> str:
    graph = ArchGraph(shape, [
        ("conv", "conv2d", ("input",), {"out_channels": 16, "kernel": 3, "padding": 1}),
        ("bn", "batchnorm", ("conv",)),
        ("relu", "relu", ("bn",)),
        ("flat", "flatten", ("relu",)),
        ("fc", "linear", ("flat",), {"out_features": classes}),
    ])
    path.write_text(graph.to_json())
    return str(path)


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out) if code in (0, 1) else {}


def test_train_json_save_and_parent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = write_arch(tmp_path / "arch.json")
    code, out = run_json(["train", arch, "--data", "digits", "--epochs", "3", "--threads", "1",
                          "--save", str(tmp_path / "run"), "--json"], capsys)
    assert code == 0 and out["state"] == "COMPLETE"
    assert 0.8 < out["val_accuracy"] <= 1 and 0.8 < out["test_accuracy"] <= 1
    assert out["seconds"] > 0 and out["epochs"] == 3 and len(out["curve"]) == 3
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"arch.json", "weights.pt",
                                                             "result.json"}
    code, child = run_json(["train", arch, "--steps", "0", "--threads", "1", "--parent",
                            str(tmp_path / "run"), "--json"], capsys)
    assert code == 0 and child["inherited"]["fresh"] == []
    assert child["val_accuracy"] == out["val_accuracy"]
    code, final = run_json(["train", arch, "--epochs", "1", "--final", "--threads", "1",
                            "--json"], capsys)
    assert code == 0 and final["val_accuracy"] is None and final["test_accuracy"] > 0.5


def test_train_factory_model_human_output(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.py"
    model.write_text("import torch.nn as nn\n"
                     "def net():\n"
                     "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(),\n"
                     "                         nn.Linear(32, 10))\n")
    assert main(["train", f"{model}:net", "--epochs", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "validation accuracy" in out and "test accuracy" in out


def test_diverging_training_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = write_arch(tmp_path / "a.json")
    assert main(["train", arch, "--epochs", "2", "--lr", "1e6", "--schedule", "constant",
                 "--threads", "1"]) == 1
    assert "loss became" in capsys.readouterr().err


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str], match: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err


def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = write_arch(tmp_path / "a.json")
    _one_line_error(["train", arch, "--data", "svhn"], capsys,
                    "valid: digits, fashion-mnist[:DIR], mnist:DIR, cifar10:DIR")
    _one_line_error(["train", arch, "--data", f"mnist:{tmp_path}/missing"], capsys,
                    "does not exist")
    (tmp_path / "mn").mkdir()
    (tmp_path / "mn" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 8)
    (tmp_path / "mn" / "train-labels-idx1-ubyte").write_bytes(b"not idx")
    _one_line_error(["train", arch, "--data", f"mnist:{tmp_path / 'mn'}"], capsys,
                    "not an IDX file")
    (tmp_path / "mn" / "train-images-idx3-ubyte").write_bytes(
        b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 99)
    _one_line_error(["train", arch, "--data", f"mnist:{tmp_path / 'mn'}"], capsys, "truncated")
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    batch = pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 3]})
    for name in [*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]:
        (cifar / name).write_bytes(batch)
    (cifar / "data_batch_3").write_bytes(batch[:100])
    _one_line_error(["train", arch, "--data", f"cifar10:{cifar}"], capsys, "truncated")
    from PIL import Image

    (tmp_path / "imgs" / "cats").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "cats" / "a.png")
    _one_line_error(["train", arch, "--data", f"imagefolder:{tmp_path / 'imgs'}"], capsys,
                    "at least two")
    _one_line_error(["train", write_arch(tmp_path / "b.json", classes=3)], capsys,
                    "has 10 classes")
    _one_line_error(["train", arch, "--schedule", "linear"], capsys, "unknown schedule")
    model = tmp_path / "ln.py"
    model.write_text("import torch.nn as nn\n"
                     "def net():\n"
                     "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.LayerNorm(32),\n"
                     "                         nn.Linear(32, 10))\n")
    _one_line_error(["train", f"{model}:net"], capsys, "cannot build (LayerNorm at")
    _one_line_error(["train", arch, "--parent", str(tmp_path)], capsys, "weights.pt")


def test_datasets_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows][:3] == ["digits", "fashion-mnist", "mnist"]
    assert "/usr/share/datasets/fashion-mnist" in rows[1]["reads_from"]
    assert main(["datasets"]) == 0
    assert "imagefolder:DIR" in capsys.readouterr().out
