"""``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes).

It ships inside scikit-learn, so it needs no download: the default dataset everywhere. Pixel
values are 0..16, and the loader keeps them so (``value_range=(0, 16)``): the raw input a
deployed model's ``preprocess.json`` describes; ``make_dataset`` scales them to 0..1 before
normalization. It has no separate test set:
the test split is drawn with the seed (``test_fraction`` of the images).
"""

from __future__ import annotations

import numpy as np

from ._base import DatasetError, ImageArrays

__all__ = ["load_digits"]


def load_digits() -> ImageArrays:
    """All 1,797 digits as ``N x 1 x 8 x 8`` floats, raw pixel values in 0..16."""
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError:
        raise DatasetError("the digits dataset needs scikit-learn: "
                           "pip install scikit-learn") from None
    bunch = sk_load()
    x = np.asarray(bunch.images, dtype=np.float32)[:, None, :, :]
    return ImageArrays(x, np.asarray(bunch.target, dtype=np.int64), value_range=(0.0, 16.0))
