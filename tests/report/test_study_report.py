"""``report.html`` (``fitnas.report.study_report``) shows the Pareto front's hypervolume next to
the front, over the report's objectives, with its reference point and where each value of it
comes from."""

from __future__ import annotations

import html
from pathlib import Path

from fitnas.constraints import Constraints, Limits
from fitnas.evaluators import TableEvaluator
from fitnas.report.study_report import write_report
from fitnas.spaces import create_space
from fitnas.strategies import create_strategy
from fitnas.study import Study, hypervolume

from ..tables import synthetic_nb201_table

#: A table in NAS-Bench-201's format written by the tests, so they run on every clone.
TABLE = synthetic_nb201_table()


def test_report_shows_the_hypervolume_and_its_reference(tmp_path: Path) -> None:
    space = create_space("nb201")
    limits = Limits(max_params=400_000)
    study = Study(space, create_strategy("random", space, seed=2),
                  TableEvaluator(TABLE, "cifar10_val", key_fn=space.format), Constraints(limits),
                  directory=tmp_path / "run")
    study.optimize(20)
    page = write_report(study.record).read_text()
    hv = hypervolume(study.trials(), ["params"], limits)
    assert hv.value > 0
    front = page.index("<h2>Pareto front</h2>")
    shown = page.index(f"Hypervolume: <b>{hv.value:.6g}</b>")
    assert front < shown < page.index("<table>", front)  # next to the front, before its table
    assert html.escape("accuracy 0; params 400000 (its limit)") in page
    # other objectives: peak memory has no limit, its reference is the largest feasible value
    page = write_report(study.record, tmp_path / "other",
                        objectives=["params", "peak_activation_bytes"]).read_text()
    hv = hypervolume(study.trials(), ["params", "peak_activation_bytes"], limits)
    peak = hv.reference["peak_activation_bytes"]
    assert peak is not None
    assert f"Hypervolume: <b>{hv.value:.6g}</b>" in page
    assert f"peak_activation_bytes {peak:.6g} (the largest among the feasible trials)" in page
    study.storage.close()
