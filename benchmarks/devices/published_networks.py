"""The networks of published microcontroller and single-board-computer measurements, rebuilt
layer by layer for ``fitnas estimate MODEL --device NAME`` (``benchmarks/device_models.py``).

Each factory returns a ``torch.nn.Module`` with an ``input_shape`` attribute (batch first,
NCHW). The layers follow the int8 model files the measurements ran (batch norm folded into the
convolutions there, kept here as ``BatchNorm`` so fitnas folds it as the converters do):

* ``resnet8``: MLPerf Tiny image classification (CIFAR-10), ``resnet_v1_eembc`` with 16/32/64
  filters as benchmarked in MLPerf Tiny v0.5-v1.x (mlcommons/tiny_results_v0.5
  closed/reference/code/training/image_classification/keras_model.py and the shipped
  ``pretrainedResnet_quant.tflite``): 12,501,632 MACs.
* ``ds_cnn``: MLPerf Tiny keyword spotting, DS-CNN with 64 filters on 49x10 MFCCs
  (``kws_ref_model.tflite``): 2,656,768 MACs.
* ``mobilenet_v1_vww``: MLPerf Tiny visual wake words, MobileNetV1 0.25 at 96x96 RGB with ReLU
  (``vww_96_int8.tflite``): 7,489,664 MACs.
* ``person_detection``: TensorFlow Lite Micro's person detection example (MobileNetV1 0.25,
  96x96 grayscale, ReLU6, a 1x1-convolution head; espressif/esp-tflite-micro
  examples/person_detection): 7,157,888 MACs.
* ``fc_autoencoder``: MLPerf Tiny anomaly detection, the fully connected autoencoder on 640
  inputs (``ad01_int8.tflite``): 264,192 MACs.
* ``tflm_hello_world``: TensorFlow Lite Micro's hello-world sine model (1-16-16-1 fully
  connected, 288 MACs), the model of quietcricket/tflite-micro-benchmark.

TensorFlow's "same" padding of a stride-2 convolution pads one more row at the bottom; the
paddings below give the same output sizes, so the MACs and activation sizes are the same.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


def _cbr(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
         padding: int | tuple[int, int] = 1, groups: int = 1, act: type[nn.Module] = nn.ReLU
         ) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups),
            nn.BatchNorm2d(c_out), act()]


class _Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_cbr(c_in, c_out, 3, stride, 1),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else \
            nn.Conv2d(c_in, c_out, 1, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _with_input(module: nn.Module, shape: tuple[int, ...]) -> nn.Module:
    module.input_shape = shape  # type: ignore[assignment]
    return module.eval()


def resnet8() -> nn.Module:
    """MLPerf Tiny's ResNet-8 (CIFAR-10, 3x32x32)."""
    return _with_input(nn.Sequential(
        *_cbr(3, 16, 3), _Residual(16, 16, 1), _Residual(16, 32, 2), _Residual(32, 64, 2),
        nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, 10)), (1, 3, 32, 32))


def ds_cnn() -> nn.Module:
    """MLPerf Tiny's DS-CNN keyword spotter (1x49x10 MFCCs, 12 classes)."""
    layers: list[nn.Module] = _cbr(1, 64, (10, 4), 2, (5, 1))
    for _ in range(4):
        layers += [*_cbr(64, 64, 3, 1, 1, groups=64), *_cbr(64, 64, 1, 1, 0)]
    layers += [nn.AvgPool2d((25, 5)), nn.Flatten(), nn.Linear(64, 12)]
    return _with_input(nn.Sequential(*layers), (1, 1, 49, 10))


_MOBILENET_BLOCKS = ((1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128), (1, 128), (1, 128),
                     (1, 128), (1, 128), (1, 128), (2, 256), (1, 256))


def _mobilenet_body(c_in: int, act: type[nn.Module]) -> list[nn.Module]:
    layers = _cbr(c_in, 8, 3, 2, 1, act=act)
    channels = 8
    for stride, c_out in _MOBILENET_BLOCKS:
        layers += _cbr(channels, channels, 3, stride, 1, groups=channels, act=act)
        layers += _cbr(channels, c_out, 1, 1, 0, act=act)
        channels = c_out
    return layers


def mobilenet_v1_vww() -> nn.Module:
    """MLPerf Tiny's visual wake words MobileNetV1 0.25 (3x96x96, ReLU, 2 classes)."""
    layers = [*_mobilenet_body(3, nn.ReLU), nn.AvgPool2d(3), nn.Flatten(), nn.Linear(256, 2)]
    return _with_input(nn.Sequential(*layers), (1, 3, 96, 96))


def person_detection() -> nn.Module:
    """TensorFlow Lite Micro's person detection model (1x96x96 grayscale, ReLU6)."""
    layers = [*_mobilenet_body(1, nn.ReLU6), nn.AvgPool2d(3, 2), nn.Conv2d(256, 2, 1),
              nn.Flatten()]
    return _with_input(nn.Sequential(*layers), (1, 1, 96, 96))


def fc_autoencoder() -> nn.Module:
    """MLPerf Tiny's anomaly detection autoencoder (640 inputs)."""
    sizes = (640, 128, 128, 128, 128, 8, 128, 128, 128, 128)
    layers: list[nn.Module] = []
    for a, b in pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(128, 640))
    return _with_input(nn.Sequential(*layers), (1, 640))


def tflm_hello_world() -> nn.Module:
    """TensorFlow Lite Micro's hello-world model (1-16-16-1 fully connected, ReLU)."""
    return _with_input(nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                                     nn.Linear(16, 1)), (1, 1))
