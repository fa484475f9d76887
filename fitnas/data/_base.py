"""Datasets as tensors in memory: :class:`Dataset`, the raw :class:`ImageArrays` loaders return.

A loader reads images into ``ImageArrays`` (uint8 or float, ``N x C x H x W``, with integer
labels), one for the training set and, when the source has one, one for the test set.
:func:`fitnas.data.splits.make_dataset` then makes the seeded train / validation / test split,
normalizes per channel with statistics of the training split only, and returns a
:class:`Dataset` whose splits are ``float32`` tensors ready to be batched by indexing
(DESIGN.md: the trainer keeps data in memory; no per-sample loader).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import FitnasError
from .preprocess import Preprocess

__all__ = ["Dataset", "DatasetError", "ImageArrays", "Split"]


class DatasetError(FitnasError):
    """A dataset name, folder or file is unusable (missing, malformed, truncated)."""


@dataclass(frozen=True)
class ImageArrays:
    """Images ``x`` (``N x C x H x W``) and integer labels ``y`` (``N``), as read from disk.

    ``value_range``: the ``(low, high)`` range the loader's pixel values lie in (digits:
    ``(0, 16)``); ``None``: ``(0, 255)`` for ``uint8`` images, and float images are taken as
    they are (no fixed range; ``make_dataset`` does not rescale them).
    """

    x: np.ndarray
    y: np.ndarray
    value_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise DatasetError(f"images must be N x C x H x W, got shape {self.x.shape}")
        if self.y.ndim != 1 or len(self.y) != len(self.x):
            raise DatasetError(
                f"{len(self.x)} images but labels of shape {self.y.shape}; they must match"
            )
        if self.value_range is not None and not (
                len(self.value_range) == 2 and self.value_range[0] < self.value_range[1]):
            raise DatasetError(f"value_range must be (low, high) with low < high, got "
                               f"{self.value_range!r}")

    @property
    def input_range(self) -> tuple[float, float] | None:
        """The range of the raw pixel values: ``value_range``, else ``(0, 255)`` for ``uint8``
        images, else ``None`` (float images as given)."""
        if self.value_range is not None:
            return (float(self.value_range[0]), float(self.value_range[1]))
        return (0.0, 255.0) if self.x.dtype == np.uint8 else None

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Split:
    """One split: normalized ``float32`` images ``x`` and ``int64`` labels ``y``."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))

    @staticmethod
    def concat(a: Split, b: Split) -> Split:
        return Split(torch.cat([a.x, b.x]), torch.cat([a.y, b.y]))


@dataclass(frozen=True)
class Dataset:
    """A dataset ready for training: three splits, the class count and how it was made.

    Attributes:
        name: the spec it was made from, e.g. ``"digits"`` or ``"cifar10:/data/cifar"``.
        source: where it was read from, in words.
        train, val, test: the splits (validation is carved from the training set).
        classes: the number of classes; labels are ``0 .. classes-1``.
        class_names: one name per class when the source has them.
        mean, std: the per-channel statistics used to normalize (of the training split),
            in the units of the images after scaling to 0..1 (see ``input_range``).
        augment: whether the trainer should augment training batches (pad-and-crop, flip,
            cutout, as paper 000 section 4 does on CIFAR-10).
        config: the options it was made with (seed, fractions, subset), for the run record.
        input_range: the range ``(low, high)`` of the raw pixel values the loader read (digits
            ``(0, 16)``, 8-bit images ``(0, 255)``); they were mapped to 0..1 by
            ``(x - low) / (high - low)`` before normalization. ``None``: float images taken as
            they were (no scaling).
    """

    name: str
    source: str
    train: Split
    val: Split
    test: Split
    classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool = False
    class_names: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    input_range: tuple[float, float] | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one image, ``(C, H, W)``."""
        return tuple(int(d) for d in self.train.x.shape[1:])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The input shape of a graph for this dataset: batch 1, e.g. ``(1, 1, 8, 8)``."""
        return (1, *self.sample_shape)

    def preprocess(self) -> Preprocess:
        """What a deployed model of this dataset expects of its input (``preprocess.json``):
        the normalization in raw pixel units, the input shape, layout and class names."""
        low, span = (0.0, 1.0) if self.input_range is None else (
            self.input_range[0], self.input_range[1] - self.input_range[0])
        return Preprocess(
            dataset=self.name, input_shape=self.input_shape, input_range=self.input_range,
            mean=tuple(low + m * span for m in self.mean), std=tuple(s * span for s in self.std),
            classes=self.classes, class_names=self.class_names)

    def summary(self) -> str:
        c, h, w = self.sample_shape
        return (f"{self.name}: {c}x{h}x{w}, {self.classes} classes, train {len(self.train)}, "
                f"val {len(self.val)}, test {len(self.test)} ({self.source})")
