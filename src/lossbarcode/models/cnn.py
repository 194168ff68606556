"""Convolutional networks of paper 002 §4.2 (Appendix G): 5x5 convolutions with padding 2, ReLU,
max-pooling down to 4x4, then one linear layer; with ``bn``, BatchNorm before each activation.

  CNN-1-C: conv(3, C), MaxPool(8)
  CNN-2-C: conv(3, C), MaxPool(2), conv(C, C), MaxPool(4)
  CNN-3-C: conv(3, C), MaxPool(2), conv(C, C), MaxPool(2), conv(C, C), MaxPool(2)
"""

from __future__ import annotations

from torch import nn

POOLS = {1: (8,), 2: (2, 4), 3: (2, 2, 2)}


def build(*, input_shape: tuple[int, ...], classes: int, depth: int, width: int, bn: int = 0) -> nn.Module:
    channels, height, _ = input_shape
    layers: list[nn.Module] = []
    for pool in POOLS[depth]:
        layers.append(nn.Conv2d(channels, width, kernel_size=5, padding=2))
        if bn:
            layers.append(nn.BatchNorm2d(width))
        layers += [nn.ReLU(), nn.MaxPool2d(pool)]
        channels, height = width, height // pool
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * height * height, classes))
