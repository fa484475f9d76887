"""``imagefolder:DIR``: images in one sub-folder per class (torchvision's ImageFolder layout).

``DIR/CLASS/*.png`` (also ``.jpg``, ``.jpeg``, ``.bmp``, ``.gif``, ``.webp``); classes are the
sub-folder names in sorted order. When ``DIR`` holds ``train/`` and ``test/``, each laid out
that way, they are the training and test sets; otherwise the test set is split off with the
seed. Images are read with Pillow: all grayscale gives one channel, otherwise RGB. They must
share one size unless ``image_size`` is given, which resizes every image to a square of that
side (bilinear).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import DatasetError, ImageArrays

__all__ = ["IMAGE_SUFFIXES", "load_imagefolder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _listing(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                files.append((path, label))
    return classes, files


def _read(files: list[tuple[Path, int]], image_size: int | None) -> ImageArrays:
    from PIL import Image, UnidentifiedImageError

    images: list[np.ndarray] = []
    modes: list[str] = []
    loaded = []
    for path, _ in files:
        try:
            with Image.open(path) as im:
                im.load()
                loaded.append(im.copy())
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise DatasetError(f"cannot read image {str(path)!r}: {err}") from None
        modes.append(loaded[-1].mode)
    gray = all(m in ("L", "1", "I", "I;16", "F") for m in modes)
    size0 = loaded[0].size
    for (path, _), im in zip(files, loaded, strict=True):
        im = im.convert("L" if gray else "RGB")
        if image_size is not None:
            im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
        elif im.size != size0:
            raise DatasetError(f"image {str(path)!r} is {im.size[0]}x{im.size[1]} but "
                               f"{str(files[0][0])!r} is {size0[0]}x{size0[1]}; give an image "
                               "size (--image-size N) to resize all images to NxN")
        arr = np.asarray(im, dtype=np.uint8)
        images.append(arr[None] if gray else arr.transpose(2, 0, 1))
    return ImageArrays(np.stack(images), np.array([label for _, label in files], dtype=np.int64))


def load_imagefolder(
    folder: Path, image_size: int | None = None
) -> tuple[ImageArrays, ImageArrays | None, tuple[str, ...]]:
    """(train, test or None, class names) of an image folder."""
    if not folder.is_dir():
        raise DatasetError(f"image folder {str(folder)!r} does not exist")
    if image_size is not None and image_size < 1:
        raise DatasetError(f"image size must be a positive integer, got {image_size}")
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        classes, train_files = _listing(folder / "train")
        test_classes, test_files = _listing(folder / "test")
        if test_classes != classes:
            raise DatasetError(f"{str(folder)!r}: train/ has classes {classes} but test/ has "
                               f"{test_classes}; they must match")
    else:
        classes, train_files = _listing(folder)
        test_files = []
    if len(classes) < 2:
        raise DatasetError(f"image folder {str(folder)!r} has {len(classes)} class folder(s) "
                           f"{classes}; it needs one sub-folder per class and at least two")
    counts = np.bincount([lab for _, lab in train_files], minlength=len(classes))
    empty = [c for c, n in zip(classes, counts, strict=True) if n == 0]
    if empty:
        raise DatasetError(f"image folder {str(folder)!r}: class folder(s) {empty} hold no "
                           f"images ({', '.join(IMAGE_SUFFIXES)})")
    train = _read(train_files, image_size)
    test = _read(test_files, image_size) if test_files else None
    if test is not None and test.x.shape[1:] != train.x.shape[1:]:
        raise DatasetError(f"{str(folder)!r}: test images are {test.x.shape[1:]} but training "
                           f"images {train.x.shape[1:]}; give an image size to resize both")
    return train, test, tuple(classes)
