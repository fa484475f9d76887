"""Each dataset loader on real files in the real formats (written here), plus digits and
Fashion-MNIST from their installed locations."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from fitnas.data import DatasetError, create_dataset, list_datasets
from fitnas.data.idx import DEBIAN_FASHION_MNIST, read_idx


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def write_idx_folder(folder: Path, n_train: int, n_test: int, gz: bool, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", x, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y, gz)
        arrays[prefix] = (x, y)
    return arrays


def write_cifar10(folder: Path, per_batch: int = 20, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        labels[:2] = [0, 9]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [b"x.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = (data, labels)
    meta = {b"label_names": [n.encode() for n in ("airplane", "automobile", "bird", "cat",
                                                  "deer", "dog", "frog", "horse", "ship",
                                                  "truck")]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


def test_registry_lists_every_loader() -> None:
    assert list_datasets() == ["digits", "fashion-mnist", "mnist", "cifar10", "cifar100",
                               "imagefolder", "synthetic"]
    with pytest.raises(DatasetError, match="valid: digits, fashion-mnist"):
        create_dataset("svhn")


def test_digits_real() -> None:
    d = create_dataset("digits")
    assert d.sample_shape == (1, 8, 8) and d.classes == 10
    assert len(d.train) + len(d.val) + len(d.test) == 1797
    assert abs(float(d.train.x.mean())) < 1e-4 and abs(float(d.train.x.std()) - 1) < 1e-3
    assert d.augment is False


@pytest.mark.parametrize("gz", [False, True])
def test_idx_loader_reads_real_format(tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_folder(tmp_path / "mn", 50, 20, gz)
    assert np.array_equal(read_idx(tmp_path / "mn" / f"train-images-idx3-ubyte{'.gz' * gz}"),
                          arrays["train"][0])
    d = create_dataset(f"mnist:{tmp_path / 'mn'}", val_fraction=0.2)
    assert d.sample_shape == (1, 28, 28) and d.classes == 10
    assert (len(d.train), len(d.val), len(d.test)) == (40, 10, 20)
    # the test split is the t10k file, in order, normalized with the training statistics
    x_test = arrays["t10k"][0].astype(np.float32) / 255.0
    expect = (x_test - d.mean[0]) / d.std[0]
    assert np.allclose(d.test.x[:, 0].numpy(), expect, atol=1e-5)
    assert d.test.y.tolist() == arrays["t10k"][1].tolist()
    d2 = create_dataset(f"fashion-mnist:{tmp_path / 'mn'}")
    assert d2.class_names[0] == "T-shirt/top"


def test_idx_truncated_and_wrong_format(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "mn", 30, 10, gz=False)
    path = tmp_path / "mn" / "train-images-idx3-ubyte"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match="truncated"):
        create_dataset(f"mnist:{tmp_path / 'mn'}")
    path.write_bytes(b"PNG not an idx file at all")
    with pytest.raises(DatasetError, match="not an IDX file"):
        create_dataset(f"mnist:{tmp_path / 'mn'}")
    gz = tmp_path / "mn" / "train-images-idx3-ubyte.gz"
    path.unlink()
    gz.write_bytes(gzip.compress(raw)[:40])
    with pytest.raises(DatasetError, match="cannot read IDX"):
        create_dataset(f"mnist:{tmp_path / 'mn'}")


def test_missing_folders(tmp_path: Path) -> None:
    for spec in (f"mnist:{tmp_path}/nope", f"cifar10:{tmp_path}/nope",
                 f"imagefolder:{tmp_path}/nope", f"fashion-mnist:{tmp_path}/nope"):
        with pytest.raises(DatasetError, match="does not exist"):
            create_dataset(spec)
    with pytest.raises(DatasetError, match="needs a folder"):
        create_dataset("mnist")
    with pytest.raises(DatasetError, match="no train-images-idx3-ubyte"):
        create_dataset(f"mnist:{tmp_path}")


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(),
                    reason=f"Fashion-MNIST is not installed at {DEBIAN_FASHION_MNIST} "
                    "(apt-get install dataset-fashion-mnist; CI installs it)")
def test_fashion_mnist_installed() -> None:
    d = create_dataset("fashion-mnist", subset=1000)
    assert d.sample_shape == (1, 28, 28) and d.classes == 10
    assert len(d.train) == 1000 and len(d.val) == 6000 and len(d.test) == 10000
    assert sorted(set(d.test.y.tolist())) == list(range(10))
    assert np.bincount(d.test.y.numpy()).tolist() == [1000] * 10


def test_cifar10_python_format(tmp_path: Path) -> None:
    batches = write_cifar10(tmp_path / "cifar-10-batches-py")
    d = create_dataset(f"cifar10:{tmp_path}", val_fraction=0.1)  # the parent folder works
    assert d.sample_shape == (3, 32, 32) and d.classes == 10 and d.augment is True
    assert (len(d.train), len(d.val), len(d.test)) == (90, 10, 20)
    assert d.class_names[-1] == "truck"
    data, labels = batches["test_batch"]
    img = data[3].reshape(3, 32, 32).astype(np.float32) / 255.0
    expect = (img - np.array(d.mean)[:, None, None]) / np.array(d.std)[:, None, None]
    assert np.allclose(d.test.x[3].numpy(), expect, atol=1e-5)
    assert d.test.y.tolist() == labels


def test_cifar100_python_format(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train", 30), ("test", 10)):
        labels = [int(v) for v in rng.integers(0, 100, size=n)]
        labels[0] = 99
        batch = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 b"fine_labels": labels, b"coarse_labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    d = create_dataset(f"cifar100:{folder}")
    assert d.classes == 100 and len(d.test) == 10


def test_cifar_truncated_and_wrong_format(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    raw = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(DatasetError, match=r"data_batch_2.*truncated or damaged"):
        create_dataset(f"cifar10:{folder}")
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8),
                                                        b"labels": [0, 1]}))
    with pytest.raises(DatasetError, match="N x 3072"):
        create_dataset(f"cifar10:{folder}")
    with pytest.raises(DatasetError, match="not a CIFAR-10 python-format folder"):
        create_dataset(f"cifar10:{tmp_path}/..")


def write_pngs(root: Path, classes: dict[str, int], size: tuple[int, int] = (12, 10),
               mode: str = "RGB") -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
            arr[0, 0] = label  # a known pixel to check the read
            Image.fromarray(arr, mode=mode).save(root / name / f"{k}.png")


def test_imagefolder_pngs(tmp_path: Path) -> None:
    write_pngs(tmp_path / "imgs", {"cat": 6, "dog": 5, "eel": 4})
    d = create_dataset(f"imagefolder:{tmp_path / 'imgs'}", val_fraction=0.0, test_fraction=0.0)
    assert d.class_names == ("cat", "dog", "eel") and d.classes == 3
    assert d.sample_shape == (3, 10, 12) and len(d.train) == 15
    raw = d.train.x[:, 0, 0, 0] * d.std[0] + d.mean[0]
    assert np.allclose((raw * 255).round().numpy(), d.train.y.numpy())
    write_pngs(tmp_path / "split" / "train", {"a": 4, "b": 4}, mode="L")
    write_pngs(tmp_path / "split" / "test", {"a": 2, "b": 2}, mode="L")
    d = create_dataset(f"imagefolder:{tmp_path / 'split'}", image_size=8)
    assert d.sample_shape == (1, 8, 8) and len(d.test) == 4


def test_imagefolder_bad(tmp_path: Path) -> None:
    write_pngs(tmp_path / "one", {"only": 3})
    with pytest.raises(DatasetError, match="at least two"):
        create_dataset(f"imagefolder:{tmp_path / 'one'}")
    write_pngs(tmp_path / "mixed", {"a": 2, "b": 2})
    write_pngs(tmp_path / "mixed", {"c": 2}, size=(5, 5))
    with pytest.raises(DatasetError, match="image-size"):
        create_dataset(f"imagefolder:{tmp_path / 'mixed'}")
    (tmp_path / "mixed" / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DatasetError, match="cannot read image"):
        create_dataset(f"imagefolder:{tmp_path / 'mixed'}", image_size=5)


def test_synthetic() -> None:
    d = create_dataset("synthetic:1x6x6,classes=3,n=60,test=9")
    assert d.sample_shape == (1, 6, 6) and d.classes == 3 and len(d.test) == 9
    with pytest.raises(DatasetError, match="bad synthetic option"):
        create_dataset("synthetic:3x32")
