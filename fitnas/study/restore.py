"""Restore a trained trial of a run: its stored network, built in its checked order, with the
weights the run saved (``trials/N.pt``, loaded with ``weights_only=True``: a weights file
never runs code). The one path by which ``export``, ``best/`` and ensembles get a model."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import torch

from ..arch import ArchGraph
from ..arch.builder import ArchModule, build
from ..states import TrialState
from .run import RunRecord
from .storage import StorageError

__all__ = ["load_weights", "restore_module", "restore_trial"]


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A saved state dict, on the CPU, read without unpickling arbitrary objects."""
    try:
        weights: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        # a truncated or foreign file: zip, pickle and torch each raise their own error
        raise StorageError(f"cannot read the weights {str(path)!r}: "
                           f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
                           ) from None
    return weights


def restore_module(graph: ArchGraph, order: Sequence[str] | None, weights: str | Path
                   ) -> ArchModule:
    """``graph`` built to run in ``order``, with the weights in the file ``weights``, in eval
    mode."""
    module = build(graph, order).eval()
    try:
        module.load_state_dict(load_weights(weights))
    except RuntimeError as err:
        raise StorageError(f"the weights {str(weights)!r} do not fit the stored network: "
                           f"{str(err).splitlines()[0]}") from None
    return module


def restore_trial(run: RunRecord, number: int) -> ArchModule:
    """The trained module of trial ``number`` of ``run``."""
    trial = run.trial(number)
    path = run.weights_path(number)
    if trial.state != TrialState.COMPLETE or path is None:
        raise StorageError(f"trial {number} of {run.name} is {trial.state} without trained "
                           "weights; only COMPLETE trials trained by this run can be restored")
    return restore_module(run.graph(number), run.order(number), path)
