"""``SearchSettings``: everything ``fitnas search`` was asked, and how it becomes a Study.

The settings are stored in the run's database, so ``fitnas resume DIR`` rebuilds the very same
space, strategy, evaluator and constraints (DESIGN.md, convention 5: configurations round-trip
and are saved with every run).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FitnasError

if TYPE_CHECKING:
    from ..data import Dataset
    from .study import Study

__all__ = ["DEFAULT_DEVICE", "SearchSettings", "build_study", "dataset_of", "load_settings",
           "parse_options"]

#: The profile the default search targets (a Cortex-M7 board, see ``fitnas devices``).
DEFAULT_DEVICE = "stm32f746-disco"


def parse_options(text: str, what: str) -> dict[str, Any]:
    """``"filters=16,stages=2"`` -> ``{"filters": 16, "stages": 2}`` (ints, floats, bools, str)."""
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise FitnasError(f"bad {what} option {item!r}: expected KEY=VALUE[,KEY=VALUE...]")
        out[key.strip()] = _value(raw.strip())
    return out


def _value(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


@dataclass(frozen=True)
class SearchSettings:
    """The settings of one search run (the ``fitnas search`` flags)."""

    data: str = "digits"
    space: str = "chain"
    space_options: dict[str, Any] = field(default_factory=dict)
    strategy: str = "random"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    device: str | None = DEFAULT_DEVICE
    #: The limits in force (the device profile's, overridden by flags), as ``Limits.to_dict()``.
    limits: dict[str, Any] = field(default_factory=dict)
    #: The device's latency, energy and power model (``ComputeProfile.to_dict()``), stored so
    #: the run reopens without the profile file; ``None``: no device model.
    device_model: dict[str, Any] | None = None
    #: Where latency comes from: ``"measure"`` (this host) or ``"model"``; ``None``: the
    #: default of ``fitnas.costs.model.CostModel``.
    latency: str | None = None
    #: The costs of the Pareto front besides accuracy (``None``: the limited ones).
    objectives: list[str] | None = None
    #: The compute profiles (``ComputeProfile.to_dict()``) of the devices the objectives name
    #: (``latency@DEVICE``), stored so the run reopens without the profile files.
    objective_devices: list[dict[str, Any]] = field(default_factory=list)
    epochs: float = 8.0
    #: Epochs of the ``early`` (paper 002 sec. 3.4) and ``finetune`` (paper 000 sec. 4)
    #: budgets strategies may ask for; ``None``: a quarter and a third of ``epochs``.
    early_epochs: float | None = None
    finetune_epochs: float | None = None
    subset: float | int | None = None
    table: str | None = None
    metric: str = "cifar10_val"
    seed: int = 0
    budget: dict[str, Any] = field(default_factory=lambda: {"trials": None, "seconds": 180.0})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def load_settings(folder: str | Path) -> SearchSettings:
    """The settings stored in the run folder ``folder`` by ``fitnas search``."""
    from .storage import Storage

    path = Path(folder)
    if not (path / "study.db").exists():
        raise FitnasError(f"{str(folder)!r} holds no fitnas run (no study.db)")
    storage = Storage(path / "study.db")
    try:
        stored = storage.get_meta("settings")
    finally:
        storage.close()
    if stored is None:
        raise FitnasError(f"{str(folder)!r} was not made by `fitnas search`; open it from Python")
    return SearchSettings.from_dict(stored)


def dataset_of(settings: SearchSettings) -> Dataset:
    """The dataset a search with these settings trained on (its splits rebuilt from the seed)."""
    from ..data import create_dataset

    return create_dataset(settings.data, seed=settings.seed, subset=settings.subset)


def build_study(settings: SearchSettings, directory: str | Path | None, resume: bool = False,
                lock: Any = None) -> Study:
    """The Study these settings describe, in ``directory`` (to search, or to resume);
    ``lock``: the folder's held ``RunLock``, handed to the Study (default: it takes one)."""
    from ..constraints import Constraints, Limits
    from ..evaluators import Evaluator, TableEvaluator, TrainerEvaluator
    from ..spaces import create_space
    from ..strategies import create_strategy
    from ..train import TrainConfig
    from .study import Study

    limits = Limits.from_dict(settings.limits)
    if settings.table:
        space = create_space(settings.space, **settings.space_options)
        evaluator: Evaluator = TableEvaluator(settings.table, settings.metric, key_fn=space.format,
                                              test_column="auto")  # the holdout's test column
    else:
        dataset = dataset_of(settings)
        space = create_space(settings.space, input_shape=dataset.input_shape,
                             classes=dataset.classes, **settings.space_options)
        from ..train import Budget

        config = TrainConfig(epochs=settings.epochs, seed=settings.seed)
        budgets = {name: Budget(epochs=value) for name, value in
                   (("early", settings.early_epochs), ("finetune", settings.finetune_epochs))
                   if value is not None}
        evaluator = TrainerEvaluator(dataset, config, decode=space.decode, budgets=budgets)
    options = dict(settings.strategy_options)
    trials = (settings.budget or {}).get("trials")
    if not resume and "budget" not in options and trials is not None:
        # the strategy's phases follow the planned trials; stored with the settings, so a
        # resumed run (even with a new budget) replays with the value it started with
        options["budget"] = int(trials)
        settings = replace(settings, strategy_options=options)
    strategy = create_strategy(settings.strategy, space, seed=settings.seed, **options)
    constraints = Constraints(limits, device=settings.device_model, latency=settings.latency,
                              devices=settings.objective_devices)
    study = Study(space, strategy, evaluator, constraints, directory, resume=resume,
                  objectives=settings.objectives, lock=lock)
    study.storage.set_meta("settings", settings.to_dict())
    return study
