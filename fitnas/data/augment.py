"""Batch augmentation for 32x32 images: pad and random crop, horizontal flip, cutout.

Paper 000 section 4 (MemNAS on CIFAR-10): "centrally padding the training images to 40x40
and randomly cropping them back to 32x32, randomly flipping them horizontally and cut-out".
The papers leave the cutout size open; 16x16 (DeVries & Taylor 2017, the CIFAR-10 setting)
is used, its centre drawn uniformly over the image and the square clipped at the borders.
Padding is with zeros, i.e. the channel mean after normalization.

Everything runs on a whole batch at once (one gather, no per-image Python loop) and draws
from the given ``torch.Generator``, so a seeded trainer augments identically every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Augment"]


@dataclass(frozen=True)
class Augment:
    """Pad-and-crop (``pad`` pixels a side), flip (probability 0.5), cutout (``cutout`` side)."""

    pad: int = 4
    flip: bool = True
    cutout: int = 16

    def __call__(self, x: Tensor, gen: torch.Generator) -> Tensor:
        n, _, h, w = x.shape
        dev = x.device
        if self.pad > 0:
            p = self.pad
            padded = F.pad(x, (p, p, p, p))
            oy = torch.randint(0, 2 * p + 1, (n,), generator=gen, device=gen.device).to(dev)
            ox = torch.randint(0, 2 * p + 1, (n,), generator=gen, device=gen.device).to(dev)
            rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
            cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]
            batch = torch.arange(n, device=dev)[:, None, None, None]
            chans = torch.arange(x.shape[1], device=dev)[None, :, None, None]
            x = padded[batch, chans, rows, cols]
        if self.flip:
            flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(dev)
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if self.cutout > 0:
            cy = torch.randint(0, h, (n,), generator=gen, device=gen.device).to(dev)
            cx = torch.randint(0, w, (n,), generator=gen, device=gen.device).to(dev)
            half = self.cutout // 2
            r = torch.arange(h, device=dev)[None, :]
            c = torch.arange(w, device=dev)[None, :]
            in_r = ((r >= cy[:, None] - half) & (r < cy[:, None] + self.cutout - half))
            in_c = ((c >= cx[:, None] - half) & (c < cx[:, None] + self.cutout - half))
            hole = in_r[:, :, None] & in_c[:, None, :]
            x = x.masked_fill(hole[:, None, :, :], 0.0)
        return x
