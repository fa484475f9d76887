"""``Preprocess``: what a deployed model expects of its input (``preprocess.json``).

A model fitnas trains sees images normalized per channel with the training split's statistics
(:mod:`fitnas.data.splits`: paper 000 section 4 and paper 002 section 4, "subtract the channel
mean, divide by the channel std"). A deployed model needs the same transform, so it travels
with the run (the evaluator's configuration in ``study.db``, made when the Study is built) and
with every exported model: ``preprocess.json`` beside ``arch.json`` and the ONNX metadata key
``fitnas.preprocess`` (:data:`METADATA_KEY`), both this object's :meth:`Preprocess.to_dict`.

The statistics are stated in the units of the **raw** input, as the dataset's loader reads it
(``input_range``: digits ``[0, 16]``, 8-bit images ``[0, 255]``; ``null`` for float images taken
as they are), so one formula maps a raw image to the model's input::

    model_input[:, c] = (x[:, c] - mean[c]) / std[c]        # x: N x C x H x W, float32

``in_model`` says whether the model already does it (``fitnas export --include-normalization``
bakes it in as a first layer): then raw images go straight in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import FitnasError

__all__ = ["FORMAT", "METADATA_KEY", "Preprocess", "PreprocessError"]

#: The ``format`` value of a ``preprocess.json``.
FORMAT = "fitnas.Preprocess"
#: The ONNX ``metadata_props`` key holding :meth:`Preprocess.to_json`.
METADATA_KEY = "fitnas.preprocess"
_VERSION = 1
_FORMULA = "model_input[:, c] = (x[:, c] - mean[c]) / std[c]"


class PreprocessError(FitnasError):
    """A recorded input normalization is malformed."""


@dataclass(frozen=True)
class Preprocess:
    """The input a model expects (all JSON-able).

    Attributes:
        dataset: the dataset spec the statistics come from (e.g. ``"digits"``).
        input_shape: the model's input shape, batch first (``(1, C, H, W)``).
        mean, std: per channel, in raw input units (see the module docstring).
        input_range: ``(low, high)`` of raw pixel values, or ``None`` (float input as given).
        classes: the number of outputs; ``class_names`` one name per class where known.
        layout: always ``"NCHW"`` (batch, channel, height, width).
        in_model: the model applies the normalization itself (feed raw images).
    """

    dataset: str
    input_shape: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_range: tuple[float, float] | None = None
    classes: int = 0
    class_names: tuple[str, ...] = ()
    layout: str = "NCHW"
    in_model: bool = False

    @property
    def channels(self) -> int:
        return len(self.mean)

    def included(self) -> Preprocess:
        """The same record for a model that normalizes its input itself."""
        return replace(self, in_model=True)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Raw images ``x`` (``N x C x H x W``) as the model's input (``float32``)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise PreprocessError(f"expected raw images N x {self.channels} x H x W, got shape "
                                  f"{x.shape}")
        mean = np.asarray(self.mean, dtype=np.float32)[None, :, None, None]
        std = np.asarray(self.std, dtype=np.float32)[None, :, None, None]
        return ((x - mean) / std).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": _VERSION, "dataset": self.dataset,
            "layout": self.layout, "input_shape": list(self.input_shape), "dtype": "float32",
            "input_range": None if self.input_range is None else list(self.input_range),
            "mean": list(self.mean), "std": list(self.std), "formula": _FORMULA,
            "in_model": self.in_model, "classes": self.classes,
            "class_names": list(self.class_names),
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocess:
        """Read :meth:`to_dict` output back, every field checked (one-line errors)."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise PreprocessError(f"not a {FORMAT} object (its 'format' must be {FORMAT!r})")
        if data.get("version") != _VERSION:
            raise PreprocessError(f"{FORMAT} version {data.get('version')!r} is not supported "
                                  f"(only {_VERSION})")
        shape = _ints(data.get("input_shape"), "input_shape")
        mean = _floats(data.get("mean"), "mean")
        std = _floats(data.get("std"), "std")
        if len(shape) != 4 or len(mean) != shape[1] or len(std) != shape[1]:
            raise PreprocessError(f"input_shape must be N x C x H x W with one mean and std per "
                                  f"channel, got {list(shape)}, {len(mean)} means, {len(std)} stds")
        if any(s <= 0 for s in std):
            raise PreprocessError(f"every std must be positive, got {list(std)}")
        raw = data.get("input_range")
        input_range = None
        if raw is not None:
            pair = _floats(raw, "input_range")
            if len(pair) != 2 or not pair[0] < pair[1]:
                raise PreprocessError(f"input_range must be [low, high] with low < high, got {raw!r}")
            input_range = (pair[0], pair[1])
        names = data.get("class_names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PreprocessError("class_names must be a list of strings")
        classes = data.get("classes", 0)
        if type(classes) is not int or classes < 0:
            raise PreprocessError(f"classes must be a non-negative int, got {classes!r}")
        if data.get("layout", "NCHW") != "NCHW":
            raise PreprocessError(f"layout {data.get('layout')!r} is not supported (only NCHW)")
        dataset = data.get("dataset", "")
        in_model = data.get("in_model", False)
        if not isinstance(dataset, str) or not isinstance(in_model, bool):
            raise PreprocessError("dataset must be a string and in_model a bool")
        return cls(dataset=dataset, input_shape=shape, mean=mean, std=std,
                   input_range=input_range, classes=classes, class_names=tuple(names),
                   in_model=in_model)


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(
            type(v) is int and v > 0 for v in value):
        raise PreprocessError(f"{what} must be a list of positive ints, got {value!r}")
    return tuple(value)


def _floats(value: Any, what: str) -> tuple[float, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value):
        raise PreprocessError(f"{what} must be a list of finite numbers, got {value!r}")
    return tuple(float(v) for v in value)
