"""CIFAR-10 and CIFAR-100 from the standard python-format batch folder.

The folder is the one the official archives unpack to (``cifar-10-batches-py`` with
``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``;
``cifar-100-python`` with ``train``, ``test`` and ``meta``), or its parent. Each file is a
pickled dict with ``b"data"`` (``N x 3072`` uint8, channel-major 32x32) and ``b"labels"``
(CIFAR-10) or ``b"fine_labels"`` (CIFAR-100).

Pickle files can run code when loaded; read only archives you trust (the official ones are).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ._base import DatasetError, ImageArrays

__all__ = ["load_cifar"]

_LAYOUT = {
    10: ("cifar-10-batches-py", [f"data_batch_{k}" for k in range(1, 6)], "test_batch",
         b"labels", "batches.meta", b"label_names"),
    100: ("cifar-100-python", ["train"], "test", b"fine_labels", "meta", b"fine_label_names"),
}


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        with path.open("rb") as f:
            data = pickle.load(f, encoding="bytes")
    except FileNotFoundError:
        raise DatasetError(f"CIFAR batch file {str(path)!r} is missing") from None
    except Exception as err:  # pickle raises many kinds on a damaged file
        raise DatasetError(f"{str(path)!r} is not a CIFAR python-format batch (truncated or "
                           f"damaged): {type(err).__name__}: {err}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{str(path)!r} is not a CIFAR batch: it holds a "
                           f"{type(data).__name__}, not a dict")
    return data


def _batch(path: Path, label_key: bytes) -> ImageArrays:
    data = _unpickle(path)
    if b"data" not in data or label_key not in data:
        raise DatasetError(f"{str(path)!r} is not a CIFAR batch: it lacks b'data' or "
                           f"{label_key!r} (keys: {sorted(map(str, data))[:6]})")
    x = np.asarray(data[b"data"])
    y = np.asarray(data[label_key], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{str(path)!r}: b'data' must be N x 3072 uint8, got "
                           f"{x.shape} {x.dtype}")
    if len(x) != len(y):
        raise DatasetError(f"{str(path)!r}: {len(x)} images but {len(y)} labels")
    return ImageArrays(x.reshape(-1, 3, 32, 32), y)


def load_cifar(folder: Path, classes: int) -> tuple[ImageArrays, ImageArrays, tuple[str, ...]]:
    """(train, test, class names) of a CIFAR-``classes`` python-format folder."""
    sub, train_files, test_file, label_key, meta_file, names_key = _LAYOUT[classes]
    if not folder.is_dir():
        raise DatasetError(f"CIFAR-{classes} folder {str(folder)!r} does not exist")
    if (folder / sub).is_dir():
        folder = folder / sub
    if not (folder / test_file).is_file():
        raise DatasetError(f"{str(folder)!r} is not a CIFAR-{classes} python-format folder: no "
                           f"{test_file!r}; expected {', '.join([*train_files, test_file])} "
                           f"(as unpacked from the official {sub} archive)")
    parts = [_batch(folder / name, label_key) for name in train_files]
    train = ImageArrays(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))
    test = _batch(folder / test_file, label_key)
    names: tuple[str, ...] = ()
    if (folder / meta_file).is_file():
        meta = _unpickle(folder / meta_file)
        names = tuple(n.decode() if isinstance(n, bytes) else str(n)
                      for n in meta.get(names_key, ()))
    return train, test, names
