"""Training of candidate architectures (DESIGN.md, ``fitnas/train/``).

:class:`Trainer` trains any ArchGraph on an in-memory :class:`fitnas.data.Dataset` with SGD,
a cosine or SGDR schedule, budgets in epochs, steps or seconds (early assessment, paper 002
section 3.4), weight inheritance from a parent (paper 000 section 4) and final training on
train plus validation.
"""

from __future__ import annotations

from .config import PRESETS, SCHEDULES, Budget, TrainConfig, TrainError, default_threads
from .inherit import InheritReport, inherit_weights
from .schedule import learning_rate
from .trainer import CurvePoint, Progress, Trainer, TrainResult, check_fits, failure_reason

__all__ = [
    "PRESETS",
    "SCHEDULES",
    "Budget",
    "CurvePoint",
    "InheritReport",
    "Progress",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "Trainer",
    "check_fits",
    "default_threads",
    "failure_reason",
    "inherit_weights",
    "learning_rate",
]
