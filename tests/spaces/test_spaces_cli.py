"""``fitnas spaces`` and ``fitnas estimate SPACE:ENCODING`` through ``fitnas.cli.main``."""

from __future__ import annotations

import json

import pytest

from fitnas.cli import main
from fitnas.costs import count_params
from fitnas.modelspec import load_graph
from fitnas.spaces import create_space, list_spaces

BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        "|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
CELL = '{"blocks": [[0, 0, "conv3x3", "sep3x3", "add"], [1, 0, "maxpool3x3", "fac1x7", "concat"]]}'


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_spaces_lists_every_space_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list_spaces()
    assert all(len(line.split(None, 1)[1]) > 20 for line in lines)
    rows = run_json(["spaces", "--json"], capsys)
    assert sorted(rows) == list_spaces()


def test_spaces_name_shows_config_and_samples(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(["spaces", "cells", "--sample", "2", "--input", "1x1x8x8", "--json"], capsys)
    assert data["config"]["input_shape"] == [1, 1, 8, 8]
    space = create_space("cells", input_shape=(1, 1, 8, 8))
    assert data["samples"] == [space.format(space.sample(k)) for k in range(2)]
    assert main(["spaces", "nb201", "--sample", "1"]) == 0
    assert "~0|+|" in capsys.readouterr().out


def test_estimate_nb201_cellstr(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(["estimate", f"nb201:{BEST}", "--json"], capsys)
    assert data["params"] == 1_288_506
    assert data["input_shape"] == [1, 3, 32, 32]
    assert data["model"] == f"nb201:{BEST}"
    small = run_json(["estimate", f"nb201:{BEST}", "--input", "1x3x16x16", "--classes", "120",
                      "--json"], capsys)
    assert small["input_shape"] == [1, 3, 16, 16]
    assert small["params"] == 1_288_506 - 650 + 64 * 120 + 120


def test_estimate_cells_and_chain_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(["estimate", f"cells:{CELL}", "--input", "1x1x8x8", "--json"], capsys)
    space = create_space("cells", input_shape=(1, 1, 8, 8))
    graph = space.decode(space.parse(CELL))
    assert data["params"] == count_params(graph)
    assert data["input_shape"] == [1, 1, 8, 8]
    chain = '{"conv": [[16, 3, 3, 2, 2, 2, 2]], "fc": [32]}'
    out = run_json(["estimate", f"chain:{chain}", "--classes", "4", "--json"], capsys)
    assert out["params"] == (3 * 9 * 16 + 16) + 2 * 16 + (16 * 16 * 16 * 32 + 32) + (32 * 4 + 4)
    assert main(["estimate", f"cells:{CELL}", "--table"]) == 0
    assert "peak" in capsys.readouterr().out


def test_load_graph_sees_every_space() -> None:
    for name in list_spaces():
        space = create_space(name)
        enc = space.sample(3)
        loaded = load_graph(f"{name}:{space.format(enc)}")
        assert loaded.graph.fingerprint() == space.fingerprint(enc)


@pytest.mark.parametrize(("model", "message"), [
    ("nb201:|nor_conv_3x3~0|", "3 groups"),
    ("cells:[oops", "not valid JSON"),
    ('chain:{"conv": [[8, 3, 3, 2, 2, 2, 2]], "fc": []}', "below 1x1"),
])
def test_bad_encodings_are_one_line_and_exit_2(model: str, message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["estimate", model]
    if model.startswith("chain"):
        argv += ["--input", "1x1x1x1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_spaces_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "nope"]) == 2
    assert "known: cells, chain, darts, dppnet, nb201" in capsys.readouterr().err
    assert main(["spaces", "--sample", "2"]) == 2
    assert "need a space NAME" in capsys.readouterr().err
