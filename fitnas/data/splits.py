"""Seeded train / validation / test splits and per-channel normalization.

Choices where the papers are silent (paper 000 section 4 and paper 002 section 4 only say
"standard pre-processing: subtract the channel mean, divide by the channel std"):

* The validation set is carved from the training set (``val_fraction``, default 0.1) by a
  seeded permutation, so a given seed always gives the same split. Sources without a test
  set (digits, an imagefolder without ``test/``) give ``test_fraction`` (default 0.2) of all
  images to the test set first.
* ``subset`` keeps part of the training split (a count, or a fraction in (0, 1]); validation
  and test are untouched, so accuracies stay comparable.
* Raw pixel values are first mapped to 0..1 from the loader's range (``ImageArrays.value_range``:
  digits 0..16, 8-bit images 0..255; float images without a range are taken as they are).
* Mean and std are computed on the training split only (after the subset) and applied to all
  three splits; a channel with zero spread is divided by 1. The range and the statistics are
  kept (``Dataset.input_range``, ``mean``, ``std``) so a deployed model gets the same
  transform (``Dataset.preprocess()``, :mod:`fitnas.data.preprocess`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._base import Dataset, DatasetError, ImageArrays, Split

__all__ = ["make_dataset", "split_indices"]


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of ``range(n)`` into (kept, taken) with ``round(n * fraction)`` taken."""
    if not 0.0 <= fraction < 1.0:
        raise DatasetError(f"a split fraction must be in [0, 1), got {fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    taken = round(n * fraction)
    return np.sort(perm[taken:]), np.sort(perm[:taken])


def make_dataset(
    name: str,
    source: str,
    train: ImageArrays,
    test: ImageArrays | None = None,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    subset: float | int | None = None,
    augment: bool | None = None,
    class_names: tuple[str, ...] = (),
) -> Dataset:
    """Split, normalize and wrap arrays read by a loader into a :class:`Dataset`.

    ``augment=None`` turns augmentation on for 32x32 images (the CIFAR recipe of paper 000
    section 4) and off otherwise.
    """
    if len(train) == 0:
        raise DatasetError(f"dataset {name!r} has no training images")
    labels = np.concatenate([train.y, test.y]) if test is not None else train.y
    if labels.min() < 0:
        raise DatasetError(f"dataset {name!r} has a negative label ({labels.min()})")
    classes = int(labels.max()) + 1
    if classes < 2:
        raise DatasetError(f"dataset {name!r} has only one class; a classifier needs two or more")
    if test is None:
        keep, held = split_indices(len(train), test_fraction, seed + 1)
        train, test = (ImageArrays(train.x[keep], train.y[keep], train.value_range),
                       ImageArrays(train.x[held], train.y[held], train.value_range))
    if test.value_range is None and train.value_range is not None:
        test = ImageArrays(test.x, test.y, train.value_range)
    if train.x.shape[1:] != test.x.shape[1:]:
        raise DatasetError(f"dataset {name!r}: training images are {train.x.shape[1:]} but test "
                           f"images are {test.x.shape[1:]}")
    keep, held = split_indices(len(train), val_fraction, seed)
    tr, va = keep, held
    if subset is not None:
        tr = _subset(tr, subset, seed)
    input_range = train.input_range
    low, scale = (0.0, 1.0) if input_range is None else (input_range[0],
                                                         input_range[1] - input_range[0])
    x_train = (torch.from_numpy(train.x[tr].astype(np.float32)) - low) / scale
    dims = (0, 2, 3)
    mean = x_train.mean(dims)
    std = x_train.std(dims)
    std = torch.where(std > 0, std, torch.ones_like(std))

    def norm(x: np.ndarray) -> torch.Tensor:
        t = (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) - low) / scale
        return ((t - mean[None, :, None, None]) / std[None, :, None, None]).contiguous()

    def lab(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.int64))

    h, w = train.x.shape[2:]
    config: dict[str, Any] = {"seed": seed, "val_fraction": val_fraction,
                              "test_fraction": test_fraction, "subset": subset}
    return Dataset(
        name=name,
        source=source,
        train=Split(((x_train - mean[None, :, None, None]) / std[None, :, None, None])
                    .contiguous(), lab(train.y[tr])),
        val=Split(norm(train.x[va]), lab(train.y[va])),
        test=Split(norm(test.x), lab(test.y)),
        classes=classes,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        augment=(h == 32 and w == 32) if augment is None else bool(augment),
        class_names=class_names,
        config=config,
        input_range=input_range,
    )


def _subset(indices: np.ndarray, subset: float | int, seed: int) -> np.ndarray:
    n = len(indices)
    if isinstance(subset, bool) or subset <= 0:
        raise DatasetError(f"subset must be a positive count or a fraction in (0, 1], got {subset}")
    if isinstance(subset, float) and subset <= 1.0:
        count = max(1, round(n * subset))
    elif float(subset).is_integer():
        count = int(subset)
    else:
        raise DatasetError(f"subset must be a positive count or a fraction in (0, 1], got {subset}")
    if count > n:
        raise DatasetError(f"subset {count} is larger than the training split ({n} images)")
    perm = np.random.default_rng(seed + 2).permutation(n)
    return np.sort(indices[perm[:count]])
