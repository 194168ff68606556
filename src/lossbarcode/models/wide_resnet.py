"""WideResNet-depth-k as Garipov et al. build it (timgaripov/dnn-mode-connectivity,
``models/wide_resnet.py``), the network of paper 002 §8 (WRN-16-10 on CIFAR-100, "about 17.1M").

n = (depth - 4) / 6 pre-activation blocks per stage, widths 16 (stem), 16k, 32k, 64k, strides
1, 2, 2; every convolution has a bias:

  conv3x3(C, 16)
  n blocks of width 16k, n of 32k (first stride 2), n of 64k (first stride 2)
  BatchNorm(64k) ReLU  global average pool  Linear(64k, classes)

  block: out = dropout(conv3x3(relu(bn1(x))))
         out = conv3x3(relu(bn2(out)), stride) + shortcut(x)
  shortcut: a 1x1 convolution with the block's stride where the stride or the width changes,
            else the identity

The head's BatchNorm has momentum 0.9 as in his code (PyTorch's convention: its running
statistics follow the latest batches); the library re-estimates BN statistics before it measures
a point, so this only matters to a model used outside a landscape. His ``avg_pool2d(out, 8)`` is
the global average on 32x32 images; here it is global on any size (8x8 digits end at 2x2).
Initialisation: his code sets none, so it is PyTorch's default: convolution and linear weights
Kaiming-uniform with a = sqrt(5), that is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases from the same
interval, BatchNorm weight 1, bias 0.

WRN-16-10 (n = 2) on 3x32x32 images, 17,179,940 parameters at 100 classes:

  stem conv(3, 16)                                      448
  stage 16k = 160:  256,832 + 461,760               718,592
  stage 32k = 320:  1,435,520 + 1,845,120         3,280,640
  stage 64k = 640:  5,738,240 + 7,376,640        13,114,880
  head BatchNorm(640)                                 1,280
  Linear(640, 100)                                   64,100
  total                                          17,179,940

where a first block from width a to b is 2a + (9ab + b) + 2b + (9b^2 + b) + (ab + b) (its 1x1
shortcut last) and a later block 2 * (2b + 9b^2 + b); at 10 classes the linear layer has 6,410
and the total is 17,122,250.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(channels: int, width: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels, width, kernel_size=3, stride=stride, padding=1)


class WideBlock(nn.Module):
    """A pre-activation block: ``conv2(relu(bn2(dropout(conv1(relu(bn1(x))))))) + shortcut(x)``,
    the stride on ``conv2`` and the shortcut."""

    def __init__(self, channels: int, width: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv1 = conv3x3(channels, width)
        self.dropout = nn.Dropout(dropout)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        changes = stride != 1 or channels != width
        self.shortcut = nn.Conv2d(channels, width, kernel_size=1, stride=stride) if changes else nn.Identity()

    def forward(self, x):
        out = self.dropout(self.conv1(torch.relu(self.bn1(x))))
        return self.conv2(torch.relu(self.bn2(out))) + self.shortcut(x)


def build(*, input_shape: tuple[int, ...], classes: int, depth: int, k: int, dropout: float = 0.0) -> nn.Module:
    blocks = (depth - 4) // 6  # depth 6n+4: lossbarcode.models.build checks it (WRN_DEPTH)
    channels = 16
    layers: list[nn.Module] = [conv3x3(input_shape[0], channels)]
    for width, stride in ((16 * k, 1), (32 * k, 2), (64 * k, 2)):
        for block in range(blocks):
            layers.append(WideBlock(channels, width, stride if block == 0 else 1, dropout))
            channels = width
    return nn.Sequential(*layers, nn.BatchNorm2d(channels, momentum=0.9), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(channels, classes))
