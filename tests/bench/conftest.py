"""Shared fixtures of the bench tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Costs are cached in a folder of each test module, never in the user's cache."""
    folder = tmp_path_factory.mktemp("fitnas-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FITNAS_CACHE_DIR", str(folder))
        yield folder
