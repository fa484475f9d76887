"""``TableEvaluator``: accuracy by look-up in a benchmark table (CSV), no training.

For tabular benchmarks such as NAS-Bench-201 (``shared/benchmarks/nb201_12epoch.csv``: one
row per architecture, keyed by ``cellstr``, accuracies in percent per dataset and split),
a search strategy can be evaluated in milliseconds. The caller gives the file's path and the
column; nothing is copied into the project. Percentages are turned into fractions: with
``percent=None`` a column whose largest value exceeds 1 is read as percent.

The test column (``test_column``, or ``"auto"``: the ``_test`` twin of a ``_val`` column) is
never the search objective: it is read by :meth:`TableEvaluator.holdout_accuracy`, once per
reported trial at the end of a search (:mod:`fitnas.study.holdout`).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FitnasError
from ..states import TrialState
from ._base import EvalResult, Evaluator

__all__ = ["BenchmarkTable", "TableError", "TableEvaluator", "read_table"]


class TableError(FitnasError):
    """A benchmark table is missing, malformed, or lacks the asked-for column."""


@dataclass(frozen=True)
class BenchmarkTable:
    """Columns of a benchmark CSV by key: ``columns[name][key]`` (NaN where a cell is empty)."""

    path: Path
    key: str
    header: tuple[str, ...]
    columns: Mapping[str, Mapping[str, float]]


def read_table(path: str | Path, columns: Sequence[str], key: str = "cellstr",
               canonical: Callable[[str], str] | None = None) -> BenchmarkTable:
    """Read ``columns`` of the CSV at ``path``, keyed by column ``key`` (each key once).

    The one reader of benchmark tables (``TableEvaluator``, ``fitnas bench nb201``): the file is
    read once, every asked-for column is checked to exist and to hold numbers, and
    ``canonical`` (e.g. a space's ``format(parse(...))``) normalizes each key, so two spellings
    of one architecture are caught as a repeated key. Errors name the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"benchmark table {str(path)!r} does not exist")
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = tuple(reader.fieldnames or ())
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise TableError(f"cannot read {str(path)!r} as CSV: {err}") from None
    if key not in header:
        raise TableError(f"{str(path)!r} has no {key!r} column (columns: "
                         f"{', '.join(header) or 'none'})")
    for name in columns:
        if name not in header:
            raise TableError(f"{str(path)!r} has no column {name!r}; columns: "
                             f"{', '.join(header)}")
    if not rows:
        raise TableError(f"{str(path)!r} has no rows")
    values: dict[str, dict[str, float]] = {name: {} for name in columns}
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        raw = row[key] or ""
        try:
            k = canonical(raw) if canonical is not None else raw
        except FitnasError as err:
            raise TableError(f"{str(path)!r} line {line}: {err}") from None
        if k in seen:
            raise TableError(f"{str(path)!r} line {line}: key {k!r} appears twice in column "
                             f"{key!r}; a key column must be unique")
        seen.add(k)
        for name in columns:
            text = (row.get(name) or "").strip()
            try:
                values[name][k] = float(text) if text else float("nan")
            except ValueError:
                raise TableError(f"{str(path)!r} line {line}: column {name!r} holds {text!r}, not "
                                 "a number") from None
    return BenchmarkTable(path, key, header, values)


class TableEvaluator(Evaluator):
    """Look up a candidate's accuracy in a CSV table.

    Args:
        csv_path: the table (the caller's path, e.g. ``../shared/benchmarks/nb201_12epoch.csv``).
        column: the accuracy column reported as ``val_accuracy``, e.g. ``"cifar10_val"``.
        key: the column that identifies a candidate (default ``"cellstr"``).
        test_column: the column reported as ``test_accuracy`` when ``test=True`` and scored
            by :meth:`holdout_accuracy`; ``"auto"``: ``column``'s test twin when the table has
            one (``X_val`` -> ``X_test``, NAS-Bench-201's naming), else none.
        key_fn: turns a candidate (an encoding, a graph) into its key; default: the
            candidate itself when it is a string.
        percent: values are percentages; ``None`` decides from the data (largest > 1).
        table: the table already read by :func:`read_table` (the file is not read again).
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
        table: BenchmarkTable | None = None,
    ) -> None:
        self.csv_path = Path(csv_path)
        self.column = column
        self.key = key
        self.test_column = test_column
        self.key_fn = key_fn
        self.percent = percent
        if test_column == "auto":
            test_column = self.test_column = _test_twin(
                column, table.header if table is not None else _header(self.csv_path))
        if table is None:
            table = read_table(self.csv_path, [c for c in (column, test_column) if c], key)
        for name in (column, test_column):
            if name is not None and name not in table.columns:
                raise TableError(f"the table read from {str(table.path)!r} holds no column {name!r}")
        self._val = dict(table.columns[column])
        self._test = dict(table.columns[test_column]) if test_column else {}
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

    def holdout_accuracy(self, candidate: Any, module: Any = None) -> float | None:
        """The ``test_column`` value of ``candidate`` (a fraction); ``None`` without a test
        column, or where the table has no value."""
        if not self.test_column:
            return None
        value = self._test.get(self.key_of(candidate), float("nan"))
        return None if value != value else value / self._scale

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


def _header(path: Path) -> tuple[str, ...]:
    """The column names of the CSV at ``path`` (empty when it cannot be read: ``read_table``
    then says why)."""
    try:
        with path.open(newline="") as f:
            return tuple(next(csv.reader(f), []))
    except (OSError, UnicodeDecodeError, csv.Error):
        return ()


def _test_twin(column: str, header: Sequence[str]) -> str | None:
    """``X_test`` for ``column == "X_val"`` when ``header`` has it, else ``None``."""
    if column.endswith("_val") and column[:-4] + "_test" in header:
        return column[:-4] + "_test"
    return None
