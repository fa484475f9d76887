"""``TableEvaluator``: accuracy by look-up in a benchmark table (CSV), no training.

For tabular benchmarks such as NAS-Bench-201 (``shared/benchmarks/nb201_12epoch.csv``: one
row per architecture, keyed by ``cellstr``, accuracies in percent per dataset and split),
a search strategy can be evaluated in milliseconds. The caller gives the file's path and the
column; nothing is copied into the project. Percentages are turned into fractions: with
``percent=None`` a column whose largest value exceeds 1 is read as percent.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import FitnasError
from ..states import TrialState
from ._base import EvalResult, Evaluator

__all__ = ["TableError", "TableEvaluator"]


class TableError(FitnasError):
    """A benchmark table is missing, malformed, or lacks the asked-for column."""


def _column(rows: list[dict[str, str]], name: str, path: Path, key: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for k, row in enumerate(rows, start=2):
        text = row.get(name)
        try:
            values[row[key]] = float(text) if text not in (None, "") else float("nan")
        except ValueError:
            raise TableError(f"{str(path)!r} line {k}: column {name!r} holds {text!r}, not a "
                             "number") from None
    return values


class TableEvaluator(Evaluator):
    """Look up a candidate's accuracy in a CSV table.

    Args:
        csv_path: the table (the caller's path, e.g. ``../shared/benchmarks/nb201_12epoch.csv``).
        column: the accuracy column reported as ``val_accuracy``, e.g. ``"cifar10_val"``.
        key: the column that identifies a candidate (default ``"cellstr"``).
        test_column: the column reported as ``test_accuracy`` when ``test=True``.
        key_fn: turns a candidate (an encoding, a graph) into its key; default: the
            candidate itself when it is a string.
        percent: values are percentages; ``None`` decides from the data (largest > 1).
    """

    name = "table"

    def __init__(
        self,
        csv_path: str | Path,
        column: str,
        key: str = "cellstr",
        test_column: str | None = None,
        key_fn: Callable[[Any], str] | None = None,
        percent: bool | None = None,
    ) -> None:
        self.csv_path = Path(csv_path)
        self.column = column
        self.key = key
        self.test_column = test_column
        self.key_fn = key_fn
        self.percent = percent
        if not self.csv_path.is_file():
            raise TableError(f"benchmark table {str(self.csv_path)!r} does not exist")
        try:
            with self.csv_path.open(newline="") as f:
                reader = csv.DictReader(f)
                header = list(reader.fieldnames or [])
                rows = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise TableError(f"cannot read {str(self.csv_path)!r} as CSV: {err}") from None
        for role, name in (("key", key), ("column", column), ("test_column", test_column)):
            if name is not None and name not in header:
                raise TableError(f"{str(self.csv_path)!r} has no column {name!r} (for {role}); "
                                 f"columns: {', '.join(header)}")
        seen: set[str] = set()
        for row in rows:
            if row[key] in seen:
                raise TableError(f"{str(self.csv_path)!r}: key {row[key]!r} appears twice in "
                                 f"column {key!r}; a key column must be unique")
            seen.add(row[key])
        self._val = _column(rows, column, self.csv_path, key)
        self._test = _column(rows, test_column, self.csv_path, key) if test_column else {}
        finite = [v for v in self._val.values() if v == v]
        self._scale = 100.0 if (percent if percent is not None else
                                bool(finite) and max(finite) > 1.0) else 1.0

    def __len__(self) -> int:
        return len(self._val)

    def keys(self) -> list[str]:
        """Every key in the table, in file order."""
        return list(self._val)

    def get_config(self) -> dict[str, Any]:
        return {"csv_path": str(self.csv_path), "column": self.column, "key": self.key,
                "test_column": self.test_column, "percent": self._scale == 100.0}

    def candidate_for(self, encoding: Any, graph: Any) -> Any:
        """A table is keyed by the encoding (e.g. NAS-Bench-201's cellstr), not the graph."""
        return encoding

    def key_of(self, candidate: Any) -> str:
        if self.key_fn is not None:
            return self.key_fn(candidate)
        if isinstance(candidate, str):
            return candidate
        raise TableError(f"cannot look up a {type(candidate).__name__} in "
                         f"{self.csv_path.name!r}: pass key_fn= to turn candidates into "
                         f"{self.key!r} keys")

    def _evaluate(self, candidate: Any, *, parent: Any, test: bool, budget: str | None = None
                  ) -> EvalResult:
        start = time.perf_counter()
        key = self.key_of(candidate)
        if key not in self._val:
            raise TableError(f"{self.key}={key!r} is not in {self.csv_path.name!r} "
                             f"({len(self._val)} rows)")
        val = self._val[key]
        if val != val:
            raise TableError(f"{self.key}={key!r} has no value in column {self.column!r}")
        test_acc = self._test[key] / self._scale if test and self.test_column else None
        return EvalResult(TrialState.COMPLETE, val_accuracy=val / self._scale, test_accuracy=test_acc,
                          seconds=time.perf_counter() - start, epochs=0.0,
                          extra={"key": key, "table": self.csv_path.name})
