"""Fully connected networks of paper 002 §4.1: ``depth`` hidden layers of equal ``width``, ReLU."""

from __future__ import annotations

import math

from torch import nn


def build(*, input_shape: tuple[int, ...], classes: int, depth: int, width: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    features = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    layers.append(nn.Linear(features, classes))
    return nn.Sequential(*layers)
