"""The dataset registry: ``list_datasets()``, ``dataset_info()`` and ``create_dataset(spec)``.

A spec is ``NAME`` or ``NAME:ARG`` (a folder for file-based sets, options for ``synthetic``).
An unknown name raises an error listing the valid ones (DESIGN.md, convention 4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._base import Dataset, DatasetError, ImageArrays
from .splits import make_dataset

__all__ = ["DatasetInfo", "create_dataset", "dataset_info", "list_datasets"]

Loaded = tuple[str, ImageArrays, "ImageArrays | None", tuple[str, ...]]


@dataclass(frozen=True)
class DatasetInfo:
    """What ``fitnas datasets`` shows: the spec form, where it reads from, what it is."""

    name: str
    form: str
    reads_from: str
    description: str
    needs_arg: bool


def _digits(arg: str, seed: int, image_size: int | None) -> Loaded:
    from .digits import load_digits

    return "scikit-learn's bundled digits (sklearn.datasets.load_digits)", load_digits(), None, \
        tuple(str(d) for d in range(10))


def _fashion(arg: str, seed: int, image_size: int | None) -> Loaded:
    from .idx import DEBIAN_FASHION_MNIST, FASHION_CLASSES, load_idx_folder

    if not arg:
        if not DEBIAN_FASHION_MNIST.is_dir():
            raise DatasetError(
                f"Fashion-MNIST is not installed at {DEBIAN_FASHION_MNIST}; install it with "
                "'sudo apt-get install dataset-fashion-mnist' (Debian/Ubuntu) or give the folder "
                "of the IDX files: fashion-mnist:DIR")
        folder = DEBIAN_FASHION_MNIST
    else:
        folder = Path(arg).expanduser()
    train, test = load_idx_folder(folder)
    return f"IDX files in {folder}", train, test, FASHION_CLASSES


def _mnist(arg: str, seed: int, image_size: int | None) -> Loaded:
    from .idx import load_idx_folder

    folder = Path(arg).expanduser()
    train, test = load_idx_folder(folder)
    return f"IDX files in {folder}", train, test, tuple(str(d) for d in range(10))


def _cifar(classes: int) -> Callable[[str, int, int | None], Loaded]:
    def load(arg: str, seed: int, image_size: int | None) -> Loaded:
        from .cifar import load_cifar

        folder = Path(arg).expanduser()
        train, test, names = load_cifar(folder, classes)
        return f"python-format batches in {folder}", train, test, names

    return load


def _imagefolder(arg: str, seed: int, image_size: int | None) -> Loaded:
    from .imagefolder import load_imagefolder

    folder = Path(arg).expanduser()
    train, test, names = load_imagefolder(folder, image_size)
    return f"class sub-folders of {folder}", train, test, names


def _synthetic(arg: str, seed: int, image_size: int | None) -> Loaded:
    from .synthetic import load_synthetic, parse_synthetic

    train, test = load_synthetic(parse_synthetic(arg), seed)
    return "generated from the seed (for tests)", train, test, ()


_REGISTRY: dict[str, tuple[DatasetInfo, Callable[[str, int, int | None], Loaded]]] = {
    "digits": (DatasetInfo("digits", "digits", "scikit-learn's bundled copy (no download)",
                           "8x8 handwritten digits, 1,797 images, 10 classes; the default",
                           False), _digits),
    "fashion-mnist": (DatasetInfo("fashion-mnist", "fashion-mnist[:DIR]",
                                  "/usr/share/datasets/fashion-mnist/ (Debian package "
                                  "dataset-fashion-mnist) or DIR; IDX files, gzipped or not",
                                  "28x28 grayscale clothing, 60,000 + 10,000, 10 classes",
                                  False), _fashion),
    "mnist": (DatasetInfo("mnist", "mnist:DIR", "DIR: IDX files, gzipped or not",
                          "28x28 handwritten digits, 60,000 + 10,000, 10 classes", True),
              _mnist),
    "cifar10": (DatasetInfo("cifar10", "cifar10:DIR",
                            "DIR: cifar-10-batches-py (python-format batches) or its parent",
                            "32x32 colour images, 50,000 + 10,000, 10 classes", True),
                _cifar(10)),
    "cifar100": (DatasetInfo("cifar100", "cifar100:DIR",
                             "DIR: cifar-100-python (python-format) or its parent",
                             "32x32 colour images, 50,000 + 10,000, 100 classes", True),
                 _cifar(100)),
    "imagefolder": (DatasetInfo("imagefolder", "imagefolder:DIR",
                                "DIR/CLASS/*.png|jpg (optionally DIR/train and DIR/test)",
                                "your own images, one sub-folder per class", True),
                    _imagefolder),
    "synthetic": (DatasetInfo("synthetic", "synthetic[:CxHxW,classes=K,n=N]",
                              "nothing: generated from the seed",
                              "class templates plus noise, for tests and benchmarks", False),
                  _synthetic),
}


def list_datasets() -> list[str]:
    """The registered dataset names."""
    return list(_REGISTRY)


def dataset_info(name: str) -> DatasetInfo:
    """How dataset ``name`` is written and where it reads from."""
    return _entry(name)[0]


def _entry(name: str) -> tuple[DatasetInfo, Callable[[str, int, int | None], Loaded]]:
    if name not in _REGISTRY:
        forms = ", ".join(info.form for info, _ in _REGISTRY.values())
        raise DatasetError(f"unknown dataset {name!r}; valid: {forms}")
    return _REGISTRY[name]


def create_dataset(
    spec: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    subset: float | int | None = None,
    augment: bool | None = None,
    image_size: int | None = None,
) -> Dataset:
    """Load dataset ``spec`` (``NAME`` or ``NAME:ARG``) with seeded splits, normalized.

    Args:
        spec: e.g. ``"digits"``, ``"fashion-mnist"``, ``"cifar10:/data/cifar"``.
        seed: seeds the validation split, the test split where the source has none, the
            subset and synthetic data.
        val_fraction: part of the training images held out for validation.
        test_fraction: part of all images held out for test when the source has no test set.
        subset: keep this many (int) or this fraction (float) of the training split.
        augment: augment training batches; ``None``: yes for 32x32 images.
        image_size: resize imagefolder images to this square side.
    """
    name, _, arg = spec.partition(":")
    info, load = _entry(name.strip().lower())
    if info.needs_arg and not arg:
        raise DatasetError(f"dataset {name!r} needs a folder: {info.form} ({info.reads_from})")
    if arg and ":" not in info.form:
        raise DatasetError(f"dataset {name!r} takes no argument, got {spec!r}; write {info.form}")
    source, train, test, names = load(arg, seed, image_size)
    return make_dataset(spec, source, train, test, seed=seed, val_fraction=val_fraction,
                        test_fraction=test_fraction, subset=subset, augment=augment,
                        class_names=names)
