"""Seeded splits, subsets, normalization and batch augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fitnas.data import Augment, DatasetError, ImageArrays, create_dataset, make_dataset


def test_splits_are_seeded_and_disjoint() -> None:
    a = create_dataset("digits", seed=3)
    b = create_dataset("digits", seed=3)
    c = create_dataset("digits", seed=4)
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.train.y, b.train.y)
    assert not torch.equal(a.val.x, c.val.x)
    rows = {tuple(r.tolist()) for split in (a.train, a.val, a.test) for r in split.x.flatten(1)}
    assert len(rows) >= 1797 - 30  # digits has a few duplicate images, no split overlaps


def test_subset_and_normalization() -> None:
    x = np.arange(200 * 2 * 4 * 4, dtype=np.float32).reshape(200, 2, 4, 4) % 7
    y = np.arange(200) % 4
    d = make_dataset("toy", "memory", ImageArrays(x, y), seed=0, val_fraction=0.25,
                     test_fraction=0.2, subset=0.5)
    assert (len(d.train), len(d.val), len(d.test)) == (60, 40, 40)
    assert torch.allclose(d.train.x.mean((0, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(d.train.x.std((0, 2, 3)), torch.ones(2), atol=1e-4)
    assert len(make_dataset("toy", "memory", ImageArrays(x, y), subset=17).train) == 17
    with pytest.raises(DatasetError, match="larger than the training split"):
        make_dataset("toy", "memory", ImageArrays(x, y), subset=1000)
    with pytest.raises(DatasetError, match="only one class"):
        make_dataset("toy", "memory", ImageArrays(x, np.zeros(200, dtype=np.int64)))


def test_augment_is_seeded_and_does_what_it_says() -> None:
    x = torch.randn(64, 3, 32, 32)
    out1 = Augment()(x, torch.Generator().manual_seed(0))
    out2 = Augment()(x, torch.Generator().manual_seed(0))
    assert torch.equal(out1, out2) and out1.shape == x.shape
    # flip only: every image is itself or its mirror, both occur
    flipped = Augment(pad=0, cutout=0)(x, torch.Generator().manual_seed(1))
    same = [(torch.equal(f, i), torch.equal(f, i.flip(2))) for f, i in zip(flipped, x,
                                                                         strict=True)]
    assert all(s or m for s, m in same) and any(s for s, _ in same) and any(m for _, m in same)
    # cutout only: a square of at most 16x16 (clipped at borders) is zeroed, the rest unchanged
    cut = Augment(pad=0, flip=False, cutout=16)(x, torch.Generator().manual_seed(2))
    zeroed = (cut == 0) & (x != 0)
    per_image = zeroed[:, 0].flatten(1).sum(1)
    assert per_image.max() == 256 and per_image.min() > 0
    assert torch.equal(cut[~zeroed], x[~zeroed])
    # crop only: each image is a shifted window of the zero-padded original
    crop = Augment(flip=False, cutout=0)(x, torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for k in range(8):
        assert any(torch.equal(crop[k], padded[k, :, i:i + 32, j:j + 32])
                   for i in range(9) for j in range(9))
