"""Datasets held as tensors in memory, with seeded splits (DESIGN.md, ``fitnas/data/``).

``create_dataset("digits")`` (the default: bundled with scikit-learn), ``fashion-mnist[:DIR]``,
``mnist:DIR``, ``cifar10:DIR``, ``cifar100:DIR``, ``imagefolder:DIR``, ``synthetic``.
"""

from __future__ import annotations

from ._base import Dataset, DatasetError, ImageArrays, Split
from .augment import Augment
from .preprocess import Preprocess, PreprocessError
from .registry import DatasetInfo, create_dataset, dataset_info, list_datasets
from .splits import make_dataset

__all__ = [
    "Augment",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "ImageArrays",
    "Preprocess",
    "PreprocessError",
    "Split",
    "create_dataset",
    "dataset_info",
    "list_datasets",
    "make_dataset",
]
