"""A synthetic NAS-Bench-201 table for the tests that need one but not its real numbers.

The Study, worker, Ray and crash-safety tests only need *a* table in NAS-Bench-201's CSV format
(``index, cellstr, cifar10_test, cifar10_val, ...``, accuracies in percent) over all 15,625
cells, so that they run on every clone, without ``../shared/benchmarks`` (issue 18, item 8).
Accuracies are a fixed function of the cell: a score per operation and position plus a
deterministic per-cell jitter, so distinct cells differ and the best cell is unique.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["COLUMNS", "synthetic_nb201_table"]

COLUMNS = ("index", "cellstr", "cifar10_test", "cifar10_val", "cifar100_test", "cifar100_val",
           "imagenet16_120_test", "imagenet16_120_val")
_VERSION = 1
_OP_SCORE = {"none": 0.0, "skip_connect": 2.0, "avg_pool_3x3": 1.0, "nor_conv_1x1": 4.0,
             "nor_conv_3x3": 6.0}


def _accuracy(ops: tuple[str, ...], column: int) -> float:
    jitter = int(hashlib.blake2b(f"{ops}{column}".encode(), digest_size=4).hexdigest(), 16)
    score = sum(_OP_SCORE[op] * (1 + 0.1 * i) for i, op in enumerate(ops))
    top = (94.0, 91.0, 73.0, 72.0, 47.0, 46.0)[column]
    return round(max(1.0, top - 40.0 + score * 1.1 + (jitter % 1000) / 1000), 4)


def synthetic_nb201_table() -> Path:
    """The path of the synthetic table, written once per machine (atomically) to the temp
    folder."""
    from fitnas.spaces.nb201 import NB201Space

    path = Path(tempfile.gettempdir()) / "fitnas-tests" / f"nb201-synthetic-v{_VERSION}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    space = NB201Space()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".csv")
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for index, ops in enumerate(space.all_encodings()):
            writer.writerow([index, space.format(ops),
                             *(f"{_accuracy(ops, c):.4f}" for c in range(6))])
    os.replace(tmp, path)
    return path
