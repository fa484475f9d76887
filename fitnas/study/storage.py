"""Crash-safe storage of a study: one SQLite file per run folder, written only by the driver.

The file holds the run's configuration (``meta``), one row per trial (``trials``) and the log
of ``ask`` and ``tell`` events in the order they happened (``events``). Every change is one
transaction that also appends its event, with ``synchronous=FULL`` in WAL mode, so a process
killed at any moment (SIGKILL included) leaves either the whole change or none of it. Resuming
replays the event log into a fresh strategy (strategies are deterministic given their seed and
the sequence of calls) and sends the trials that were RUNNING to the workers again under the
same numbers: no finished trial is lost or repeated. A search stopped by SIGINT or SIGTERM
leaves its running trials RUNNING too, with ``result["interrupted"]`` naming the signal
(:meth:`Storage.mark_interrupted`), and the run's ``interrupted`` meta entry (signal, time,
trials); the next resume reruns them the same way.

The record is self-sufficient (schema version 2): each decoded trial stores its network as
ArchGraph JSON (in ``graphs``, keyed by a hash of the JSON, so a network proposed twice is
stored once) and its :class:`~fitnas.costs.model.Costs`, the execution order they assume
included, so reading a run (``fitnas.study.run.load_run``) needs neither the dataset nor the
space's code as it was. A version 1 file (costs as bare numbers, no graphs) is migrated when
opened (``fitnas.study.migrate``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..costs.model import Costs
from ..errors import FitnasError
from ..states import FINISHED, TrialState
from .trial import TrialRecord

__all__ = ["SCHEMA_VERSION", "Storage", "StorageError", "graph_key"]

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    encoding TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    costs TEXT NOT NULL,
    violations TEXT NOT NULL,
    accuracy REAL,
    test_accuracy REAL,
    result TEXT NOT NULL,
    parent INTEGER,
    budget TEXT,
    attempts INTEGER NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    graph TEXT
);
CREATE TABLE IF NOT EXISTS graphs (key TEXT PRIMARY KEY, graph TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('ask', 'tell')),
    trial INTEGER NOT NULL
);
"""


class StorageError(FitnasError):
    """The run folder's database cannot be used."""


def graph_key(graph_json: str) -> str:
    """The key of a stored graph: a hash of its exact JSON (names and order included, since the
    stored execution order names nodes; ``ArchGraph.fingerprint`` ignores both)."""
    return hashlib.sha256(graph_json.encode()).hexdigest()[:24]


class Storage:
    """The SQLite file of one run (``path``), or an in-memory one when ``path`` is None."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        try:
            self._db = sqlite3.connect(str(self.path) if self.path else ":memory:",
                                       isolation_level=None)
            if self.path:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta "
                             "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            version = self.get_meta("schema_version")
            if version == 1:
                from .migrate import migrate_v1

                migrate_v1(self._db)
            elif version not in (None, SCHEMA_VERSION):
                raise StorageError(f"{str(path)!r} has schema version {version}; this fitnas reads "
                                   f"versions 1 and {SCHEMA_VERSION}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the study database {str(path)!r}: {err}") from None
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ meta
    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # ---------------------------------------------------------------- trials
    def add_trial(self, record: TrialRecord, log_ask: bool = True,
                  graph_json: str | None = None) -> None:
        """Insert a new trial (RUNNING, or already finished if INFEASIBLE) with its network
        (``graph_json``, stored under ``record.graph_key``, or a key already stored) and its ask
        event; a finished one
        also gets its tell event, all in one transaction. A trial sent again after a resume
        (``log_ask=False``) keeps the ask event it already has."""
        if graph_json is not None and record.graph_key is None:
            raise StorageError(f"trial {record.number}: a stored network needs its key")
        if graph_json is None and record.graph_key is not None and self._db.execute(
                "SELECT 1 FROM graphs WHERE key = ?", (record.graph_key,)).fetchone() is None:
            raise StorageError(f"trial {record.number} names network {record.graph_key!r}, which "
                               "is not stored; give its JSON")
        with self._transaction():
            if graph_json is not None:
                self._db.execute("INSERT OR IGNORE INTO graphs VALUES (?, ?)",
                                 (record.graph_key, graph_json))
            self._db.execute(
                "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _row(record))
            if log_ask:
                self._db.execute("INSERT INTO events (kind, trial) VALUES ('ask', ?)",
                                 (record.number,))
            if record.state in FINISHED:
                self._db.execute("INSERT INTO events (kind, trial) VALUES ('tell', ?)",
                                 (record.number,))

    def finish_trial(self, record: TrialRecord) -> None:
        """Store the outcome of a RUNNING trial and its tell event, in one transaction."""
        if record.state not in FINISHED:
            raise StorageError(f"trial {record.number} cannot finish in state {record.state}")
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE trials SET state=?, accuracy=?, test_accuracy=?, result=?, attempts=?, "
                "finished=?, costs=?, violations=? WHERE number=? AND state=?",
                (record.state.value, record.accuracy, record.test_accuracy, json.dumps(record.result),
                 record.attempts, record.finished or time.time(), _costs_json(record.costs),
                 json.dumps(record.violations), record.number, TrialState.RUNNING.value))
            if cursor.rowcount != 1:
                raise StorageError(f"trial {record.number} is not running; a finished trial is "
                                   "never changed")
            self._db.execute("INSERT INTO events (kind, trial) VALUES ('tell', ?)", (record.number,))

    def trials(self, states: tuple[str, ...] | None = None) -> list[TrialRecord]:
        rows = self._db.execute("SELECT * FROM trials ORDER BY number").fetchall()
        records = [_record(r) for r in rows]
        return [r for r in records if states is None or r.state in states]

    def trial(self, number: int) -> TrialRecord:
        row = self._db.execute("SELECT * FROM trials WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise StorageError(f"no trial number {number} in this run")
        return _record(row)

    def graph_json(self, key: str) -> str:
        """The stored ArchGraph JSON under ``key``."""
        row = self._db.execute("SELECT graph FROM graphs WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StorageError(f"no stored network {key!r} in this run")
        return str(row[0])

    def events(self) -> list[tuple[str, int]]:
        return [(k, t) for k, t in self._db.execute("SELECT kind, trial FROM events ORDER BY seq")]

    def next_number(self) -> int:
        row = self._db.execute("SELECT MAX(number) FROM trials").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def drop_running(self) -> list[int]:
        """Forget RUNNING trials (a killed run's); their ask events stay, for the replay."""
        with self._transaction():
            numbers = [n for (n,) in self._db.execute(
                "SELECT number FROM trials WHERE state = ?", (TrialState.RUNNING.value,))]
            self._db.execute("DELETE FROM trials WHERE state = ?", (TrialState.RUNNING.value,))
        return numbers

    def mark_interrupted(self, numbers: list[int] | tuple[int, ...], signame: str) -> list[int]:
        """Note in the result of the RUNNING trials ``numbers`` that a stop by ``signame``
        interrupted them (they stay RUNNING: a resume runs them again) and record the stop in
        the ``interrupted`` meta entry; returns the trials marked."""
        reason = f"interrupted by {signame}; `fitnas resume` runs it again"
        marked = []
        with self._transaction():
            for number in numbers:
                cursor = self._db.execute(
                    "UPDATE trials SET result=? WHERE number=? AND state=?",
                    (json.dumps({"interrupted": signame, "reason": reason}), number,
                     TrialState.RUNNING.value))
                if cursor.rowcount == 1:
                    marked.append(number)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (
                "interrupted", json.dumps({"signal": signame, "time": time.time(),
                                           "trials": marked})))
        return marked

    def integrity(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def _transaction(self) -> Any:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _costs_json(costs: Mapping[str, Any]) -> str:
    return json.dumps(costs.to_dict() if isinstance(costs, Costs) else dict(costs))


def _costs(text: str) -> Mapping[str, Any]:
    data = json.loads(text)
    return Costs.from_dict(data) if Costs.is_record(data) else data


def _row(r: TrialRecord) -> tuple[Any, ...]:
    return (r.number, r.state.value, json.dumps(r.encoding), r.fingerprint, _costs_json(r.costs),
            json.dumps(r.violations), r.accuracy, r.test_accuracy, json.dumps(r.result), r.parent,
            r.budget, r.attempts, r.started, r.finished, r.graph_key)


def _record(row: tuple[Any, ...]) -> TrialRecord:
    return TrialRecord(
        number=row[0], state=row[1], encoding=json.loads(row[2]), fingerprint=row[3],
        costs=_costs(row[4]), violations=json.loads(row[5]), accuracy=row[6],
        test_accuracy=row[7], result=json.loads(row[8]), parent=row[9], budget=row[10],
        attempts=row[11], started=row[12], finished=row[13], graph_key=row[14])

