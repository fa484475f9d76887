"""``synthetic``: generated images, for tests and speed benchmarks (no file is read).

Each class has a fixed template: a random colour (one offset per channel) plus a smooth
stripe pattern (a sinusoid of random frequency, direction and phase). An image is its class
template plus per-pixel Gaussian noise (``noise``, default 1.0), so a small convolutional
network learns it well above chance, also under crop-and-flip augmentation. The
spec is ``synthetic`` or ``synthetic:CxHxW`` with optional ``,classes=K,n=N,test=M,noise=S``,
e.g. ``synthetic:3x32x32,classes=10,n=2000``. Everything derives from the seed.
"""

from __future__ import annotations

import numpy as np

from ._base import DatasetError, ImageArrays

__all__ = ["SyntheticSpec", "load_synthetic", "parse_synthetic"]

SyntheticSpec = dict[str, float]

_DEFAULTS: SyntheticSpec = {"c": 3, "h": 32, "w": 32, "classes": 10, "n": 2000, "test": 500,
                            "noise": 1.0}


def parse_synthetic(text: str) -> SyntheticSpec:
    """Parse the text after ``synthetic:`` (may be empty) into its options."""
    spec = dict(_DEFAULTS)
    parts = [p.strip() for p in text.split(",") if p.strip()] if text else []
    usage = ("synthetic[:CxHxW][,classes=K][,n=N][,test=M][,noise=S], "
             "e.g. synthetic:3x32x32,classes=10")
    for part in parts:
        key, eq, value = part.partition("=")
        try:
            if not eq:
                dims = [int(d) for d in part.lower().split("x")]
                if len(dims) != 3 or min(dims) < 1:
                    raise ValueError(part)
                spec["c"], spec["h"], spec["w"] = dims
            elif key in ("classes", "n", "test"):
                spec[key] = int(value)
            elif key == "noise":
                spec[key] = float(value)
            else:
                raise ValueError(part)
        except ValueError:
            raise DatasetError(f"bad synthetic option {part!r}; use {usage}") from None
    if spec["classes"] < 2 or spec["n"] < spec["classes"] or spec["test"] < 1:
        raise DatasetError(f"synthetic needs classes >= 2, n >= classes and test >= 1, got "
                           f"classes={spec['classes']:g}, n={spec['n']:g}, test={spec['test']:g}")
    return spec


def load_synthetic(spec: SyntheticSpec, seed: int) -> tuple[ImageArrays, ImageArrays]:
    """(train, test) arrays of a synthetic dataset."""
    rng = np.random.default_rng(seed + 12345)
    c, h, w, k = int(spec["c"]), int(spec["h"]), int(spec["w"]), int(spec["classes"])
    colours = rng.normal(scale=0.5, size=(k, c, 1, 1))
    fy, fx = rng.integers(1, 4, size=(2, k, 1, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(k, c, 1, 1))
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    stripes = np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
    templates = (colours + 0.5 * stripes).astype(np.float32)

    def draw(n: int) -> ImageArrays:
        y = np.arange(n, dtype=np.int64) % k
        rng.shuffle(y)
        noise = rng.normal(scale=spec["noise"], size=(n, c, h, w)).astype(np.float32)
        return ImageArrays(templates[y] + noise, y)

    return draw(int(spec["n"])), draw(int(spec["test"]))
