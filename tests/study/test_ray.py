"""The Ray backend on a real local Ray instance: a search completes, a killed worker's trial
is retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_study import TABLE, make_study

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


def test_search_on_ray_matches_local(local_ray: None, tmp_path: Path) -> None:
    local = make_study(tmp_path / "local")
    local.optimize(12)
    remote = make_study(tmp_path / "ray")
    remote.optimize(12, workers=2, backend="ray")
    assert sorted((t.number, t.fingerprint, t.accuracy) for t in remote.trials()) == sorted(
        (t.number, t.fingerprint, t.accuracy) for t in local.trials())


def test_killed_ray_worker_is_retried(local_ray: None, tmp_path: Path) -> None:
    from fitnas.evaluators import TableEvaluator
    from fitnas.spaces import create_space

    from .dying import DyingTableEvaluator

    space = create_space("nb201")
    plan = make_study(None, evaluator=TableEvaluator(TABLE, "cifar10_val", key_fn=space.format))
    plan.optimize(4)
    keys = [space.format(space.from_data(t.encoding)) for t in plan.trials()]
    markers = tmp_path / "markers"
    markers.mkdir()
    evaluator = DyingTableEvaluator(TABLE, "cifar10_val", key_fn=space.format,
                                    markers=str(markers), die_once=[keys[2]], die_always=[])
    study = make_study(tmp_path / "run", evaluator=evaluator)
    study.optimize(4, workers=2, backend="ray")
    trial = study.storage.trial(2)
    assert (trial.state, trial.attempts) == ("COMPLETE", 2)
    assert list(markers.iterdir())  # the worker really died once

