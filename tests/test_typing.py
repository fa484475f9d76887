"""mypy is clean on ``fitnas/``, ``tests/`` and ``benchmarks/`` (the ``[tool.mypy]`` settings in
pyproject.toml), so that CI, which runs only pytest, checks the types too."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (it comes with the dev extra: pip install -e '.[dev]')")
def test_mypy_is_clean() -> None:
    # no paths on the command line: the `files` of pyproject.toml's [tool.mypy] apply
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"mypy exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
