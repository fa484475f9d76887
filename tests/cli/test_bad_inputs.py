"""Every bad input the command line takes is one line on stderr and exit code 2, and nothing
already written changes (issue 18, item 1; DESIGN.md convention 6).

The search cases aim ``--force`` at a finished run folder: a bad flag must be refused before
the old run is removed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fitnas.cli import main
from fitnas.spaces import create_space


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad-inputs") / "run"
    code = main(["search", "--data", "synthetic:1x8x8,classes=3,n=120,test=30", "--budget", "2",
                 "--epochs", "0.2", "--device", "none", "--out", str(out), "--json"])
    assert code == 0
    return out


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file of the run with its size and modification time (``.lock`` aside: the lock
    file records who last held the folder, not any of its data)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and match in lines[0], lines[0]


SEARCH_CASES = [
    (["--space", "cells:stages=100000000000000000000"], "stages must be in 1..16"),
    (["--space", "cells:filters=64,stages=16"], "at most 1,048,576"),
    (["--space", "chain:input_shape=1x3x8x8"], "'input_shape' is set by the dataset"),
    (["--space", "chain:classes=4"], "'classes' is set by the dataset"),
    (["--space", "cells:bogus=1"], "has no option 'bogus'; accepted: input_shape, classes, "
                                   "filters, stages"),
    (["--space", "chain:batchnorm=maybe"], "batchnorm must be true or false"),
    (["--space", "nb201:channels=0"], "channels must be in 1.."),
    # found only once the data is loaded: the old run was set aside by then, and comes back
    (["--space", "nb201", "--data", "synthetic:1x2x2,classes=3,n=60,test=20"],
     "nb201 halves the input twice"),
    (["--strategy", "random:bogus=1"], "has no option 'bogus'; accepted: max_attempts"),
    (["--strategy", "growtrim:controller_epochs=abc"], "controller_epochs must be an int"),
    (["--strategy", "reinforce:lr=nan"], "lr=nan is out of range"),
    (["--strategy", "reinforce:hidden=100000000"], "hidden must be an int from 1 to 4096"),
    (["--strategy", "coordinate:nrandom=100000000000000000000000"], "out of range"),
    (["--strategy", "evolution:population=inf"], "out of range"),
    (["--seed", "-1"], "--seed must be an integer from 0 to"),
    (["--seed", "99999999999999999999999"], "--seed must be an integer from 0 to"),
    (["--subset", "inf"], "--subset must be a fraction in (0, 1) or a whole number"),
    (["--subset", "nan"], "--subset must be"),
    (["--subset", "1.5"], "--subset must be"),
    (["--epochs", "inf"], "--epochs must be a number of epochs in (0, 100,000]"),
    (["--epochs", "nan"], "--epochs must be"),
    (["--early-epochs", "-1"], "--early-epochs must be"),
    (["--workers", "100000"], "--workers: expected an integer from 1 to 256"),
    (["--workers", "0"], "--workers: expected an integer from 1 to 256"),
    (["--data", "digits:bogus"], "dataset 'digits' takes no argument"),
    (["--data", "nosuch"], "unknown dataset 'nosuch'"),
    (["--budget", "abc"], "bad budget 'abc'"),
    (["--max-params", "1e400"], "bad --max-params '1e400'"),
    (["--max-latency-ms", "nan"], "bad --max-latency-ms 'nan'"),
    (["--dtype", "int3"], "unknown dtype 'int3'"),
    (["--objectives", "nosuch"], "unknown objective 'nosuch'"),
]


@pytest.mark.parametrize(("flags", "match"), SEARCH_CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else "")
def test_bad_search_flags_leave_the_run_alone(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                              flags: list[str], match: str) -> None:
    before = _snapshot(run_dir)
    _one_line_error(capsys, ["search", "--budget", "1", "--epochs", "0.2", "--out", str(run_dir),
                             "--force", *flags], match)
    assert _snapshot(run_dir) == before


@pytest.fixture(scope="module")
def arch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("arch")
    space = create_space("chain")
    good = json.loads(space.decode(space.sample(0)).to_json())

    def bad(name: str, change: str) -> None:
        doc = copy.deepcopy(good)
        exec(change, {"d": doc})  # a one-line edit of the document, e.g. d['outputs'] = 5
        (folder / f"{name}.json").write_text(json.dumps(doc))

    bad("attrs_list", "d['nodes'][0]['attrs'] = [1, 2]")
    bad("inputs_nested", "d['nodes'][0]['inputs'] = [['input']]")
    bad("attr_object", "d['nodes'][0]['attrs']['out_channels'] = {'a': 1}")
    bad("attr_huge", "d['nodes'][0]['attrs']['out_channels'] = 10**30")
    bad("shape_huge", "d['input_shape'] = [1, 3, 10**12, 10**12]")
    bad("shape_float", "d['input_shape'] = [1.5, 3, 32, 32]")
    bad("nodes_object", "d['nodes'] = {'a': 1}")
    bad("name_list", "d['nodes'][0]['name'] = ['x']")
    bad("outputs_nested", "d['outputs'] = [['x']]")
    bad("outputs_int", "d['outputs'] = 5")
    (folder / "deep.json").write_text('{"input_shape": [1, 3, 8, 8], "nodes": '
                                      + "[" * 100_000 + "]" * 100_000 + "}")
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    return {p.stem: p for p in folder.glob("*.json")}


ARCH_CASES = [
    ("attrs_list", "'attrs' must be an object"),
    ("inputs_nested", "'inputs' must be a list of node names"),
    ("attr_object", "attribute 'out_channels' must be a number"),
    ("attr_huge", "is out of range; sizes are at most 2,147,483,647"),
    ("shape_huge", "each at most 2,147,483,647"),
    ("shape_float", "input_shape must be a list of positive ints"),
    ("nodes_object", "'nodes' must be a non-empty list"),
    ("name_list", "'name' must be a non-empty string"),
    ("outputs_nested", "'outputs' must be a list of node names"),
    ("outputs_int", "'outputs' must be a list of node names"),
    ("deep", "nested too deeply"),
    ("binary", "is not a readable JSON file"),
]


@pytest.mark.parametrize(("name", "match"), ARCH_CASES)
def test_bad_arch_json_is_one_line(arch_files: dict[str, Path],
                                   capsys: pytest.CaptureFixture[str], name: str,
                                   match: str) -> None:
    _one_line_error(capsys, ["estimate", str(arch_files[name])], match)


OTHER_CASES = [
    (["estimate", "chain:" + "[" * 5000 + "]" * 5000], "nested too deeply"),
    (["estimate", "nb201:abc"], "an nb201 cellstr has 3 groups"),
    (["estimate", "torchvision:resnet18", "--input", "1x3x0x8"], "bad input shape"),
    (["train", "torchvision:resnet18", "--epochs", "nan"], "epochs=nan: expected a finite"),
    (["train", "torchvision:resnet18", "--lr", "-1"], "lr=-1.0: expected a number > 0"),
    (["resume", "/nonexistent/run", "--workers", "0"], "expected an integer from 1 to 256"),
]


@pytest.mark.parametrize(("argv", "match"), OTHER_CASES, ids=lambda v: " ".join(v)[:40]
                         if isinstance(v, list) else "")
def test_other_bad_inputs_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                                       match: str) -> None:
    _one_line_error(capsys, argv, match)
