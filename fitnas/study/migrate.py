"""Bring a run folder's database up to the current schema when it is opened.

Version 1 (the first release) stored each trial's encoding, its costs as bare numbers and the
evaluator's result with ``"ok"``/``"failed"`` states. Version 2 adds what makes a run readable
without the space's code and the dataset: the network of each trial (ArchGraph JSON in the
``graphs`` table, the trial's ``graph`` column naming it) and its full
:class:`~fitnas.costs.model.Costs` (with the execution order the costs assume).

:func:`migrate_v1` does it in one transaction: it rebuilds the space from the run's stored
configuration, decodes each trial's encoding, and keeps the network only when it is the one the
run checked (same fingerprint) and the cost model of the run's stored constraints reproduces the
stored numbers; a trial for which either fails keeps its bare numbers and no network (a reader
then says the network is not stored). Results' ``"ok"``/``"failed"`` become ``COMPLETE`` and
``FAILED``. A failure leaves the file as it was.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from typing import Any

from ..costs.model import CostModel, Costs
from ..errors import FitnasError
from ..states import TrialState

__all__ = ["migrate_v1"]


def _space_and_costs(config: dict[str, Any]) -> tuple[Any, CostModel | None]:
    from ..constraints import Constraints
    from ..spaces import create_space

    space: Any = None
    model: CostModel | None = None
    try:
        options = dict(config.get("space") or {})
        name = options.pop("name")
        space = create_space(name, **options)
    except (FitnasError, KeyError, TypeError):
        space = None
    try:  # the cost model the run's stored constraints were checked with
        model = Constraints.from_config(config.get("constraints") or {}).cost_model
    except (FitnasError, TypeError):
        model = None
    return space, model


def _upgrade(space: Any, model: CostModel, encoding: Any, fingerprint: str,
             old: dict[str, Any]) -> tuple[str, Costs] | None:
    """The network JSON and Costs of one v1 trial, when they reproduce what was stored."""
    try:
        graph = space.decode(space.from_data(encoding))
    except FitnasError:
        return None
    if graph.fingerprint() != fingerprint:
        return None
    costs = model.costs(graph)
    if any(old.get(key) != value for key, value in costs.analytic().items()):
        return None
    if "latency_ms" in old:
        costs = replace(costs, latency_ms=float(old["latency_ms"]))
    return graph.to_json(), costs


def migrate_v1(db: sqlite3.Connection) -> None:
    """Upgrade an open version-1 database to version 2, in one transaction."""
    from .storage import graph_key

    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("ALTER TABLE trials ADD COLUMN graph TEXT")
        db.execute("CREATE TABLE IF NOT EXISTS graphs (key TEXT PRIMARY KEY, graph TEXT NOT NULL)")
        row = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        space, model = _space_and_costs(json.loads(row[0]) if row else {})
        rows = db.execute("SELECT number, encoding, fingerprint, costs, result FROM trials "
                          "ORDER BY number").fetchall()
        for number, encoding, fingerprint, costs_text, result_text in rows:
            result = json.loads(result_text)
            if "state" in result:
                result["state"] = TrialState.parse(result["state"]).value
            upgraded = None
            if space is not None and model is not None and fingerprint:
                upgraded = _upgrade(space, model, json.loads(encoding), fingerprint,
                                    json.loads(costs_text))
            if upgraded is None:
                db.execute("UPDATE trials SET result = ? WHERE number = ?",
                           (json.dumps(result), number))
                continue
            graph_json, costs = upgraded
            key = graph_key(graph_json)
            db.execute("INSERT OR IGNORE INTO graphs VALUES (?, ?)", (key, graph_json))
            db.execute("UPDATE trials SET result = ?, costs = ?, graph = ? WHERE number = ?",
                       (json.dumps(result), json.dumps(costs.to_dict()), key, number))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '2')")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
