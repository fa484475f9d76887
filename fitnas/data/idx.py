"""MNIST and Fashion-MNIST from IDX files, gzipped or not.

The IDX format (LeCun's MNIST page): a 4-byte magic ``0x00 0x00 TYPE NDIM``, then ``NDIM``
big-endian 32-bit sizes, then the data. Images are ``TYPE = 0x08`` (unsigned byte), 3
dimensions; labels 1 dimension. A folder holds ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each
possibly with ``.gz`` (also the ``train-images.idx3-ubyte`` spelling of some mirrors).

Fashion-MNIST without a folder reads Debian's ``dataset-fashion-mnist`` package location,
:data:`DEBIAN_FASHION_MNIST`.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ._base import DatasetError, ImageArrays

__all__ = ["DEBIAN_FASHION_MNIST", "FASHION_CLASSES", "load_idx_folder", "read_idx"]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")

_TYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
                          0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """The array stored in one IDX file (``.gz`` is decompressed)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"cannot read IDX file {str(path)!r}: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DatasetError(f"{str(path)!r} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DatasetError(f"{str(path)!r} is not an IDX file (bad header)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_TYPES[raw[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header < need:
        raise DatasetError(f"{str(path)!r} is truncated: the header promises {need} bytes of data "
                           f"for shape {dims}, the file has {len(raw) - header}")
    return np.frombuffer(raw, dtype, int(np.prod(dims)), header).reshape(dims)


def _find(folder: Path, prefix: str, kind: str) -> Path:
    names = [f"{prefix}-{kind}", f"{prefix}-{kind.replace('-idx', '.idx')}"]
    for name in names:
        for suffix in ("", ".gz"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    raise DatasetError(f"{str(folder)!r} has no {names[0]} (or .gz); an IDX folder holds "
                       "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                       "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, gzipped or not")


def _pair(folder: Path, prefix: str) -> ImageArrays:
    x = read_idx(_find(folder, prefix, "images-idx3-ubyte"))
    y = read_idx(_find(folder, prefix, "labels-idx1-ubyte"))
    if x.ndim != 3 or y.ndim != 1:
        raise DatasetError(f"{str(folder)!r}: {prefix} images must be 3-D and labels 1-D IDX "
                           f"arrays, got {x.ndim}-D and {y.ndim}-D")
    if len(x) != len(y):
        raise DatasetError(f"{str(folder)!r}: {len(x)} {prefix} images but {len(y)} labels")
    return ImageArrays(x[:, None, :, :], y.astype(np.int64))


def load_idx_folder(folder: Path) -> tuple[ImageArrays, ImageArrays]:
    """(train, test) arrays of an MNIST-style IDX folder."""
    if not folder.is_dir():
        raise DatasetError(f"IDX folder {str(folder)!r} does not exist")
    return _pair(folder, "train"), _pair(folder, "t10k")
