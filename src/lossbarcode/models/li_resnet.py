"""The CIFAR-10 ResNets of Li et al. (2018, "Visualizing the Loss Landscape of Neural Nets"), the
networks of paper 002 §6 (Fig 7, Table 8) and paper 004 Table 1a: ResNet-20/56/110, their
no-shortcut twins ("-NS"), and WideResNet-56-k, as the authors' ``loss-landscape`` code builds them
(``cifar10/models/resnet.py``: ``ResNet_cifar``, ``WResNet_cifar``, ``BasicBlock``,
``BasicBlock_noshortcut``; initialisation ``init_params`` in ``cifar10/main.py``).

n = (depth - 2) / 6 post-activation basic blocks per stage; every convolution is 3x3 without a bias
except the 1x1 projections; k widens every layer, the stem too (k = 1: the plain ResNets):

  conv3x3(C, 16k) BatchNorm ReLU
  n blocks of width 16k, n of 32k (first stride 2), n of 64k (first stride 2)
  global average pool  Linear(64k, classes)

  block:    relu(bn2(conv2(relu(bn1(conv1(x, stride))))) + shortcut(x))
  shortcut: conv1x1(stride) + BatchNorm where the stride or the width changes, else the identity
  no-shortcut block ("-NS"): relu(bn2(conv2(relu(bn1(conv1(x, stride)))))), no projection either

The modules carry the authors' attribute names (``conv1``, ``bn1``, ``layer1``..``layer3``,
``linear``; in a block ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``shortcut.0``, ``shortcut.1``), so the
state dict has their keys and the parameters come in their order. Their ``avg_pool2d(out, 8)`` is the
global average on 32x32 images; here it is global on any size, so 8x8 digits (2x2 at the end) and
28x28 images run too. Input channels come from the data.

Initialisation as their ``init_params``: convolutions ``kaiming_normal_(mode='fan_in')``, that is
normal with std sqrt(2 / fan_in); BatchNorm weight 1, bias 0; the linear layer normal(0, 1e-3) with
bias 0.

Counts on 3x32x32 images and 10 classes, with a = the width in, b = the width out of a block:

  stem                   9 * 3 * 16k + 2 * 16k
  first block a -> b     9ab + 2b + 9b^2 + 2b + (ab + 2b)   (the last term: the projection, where
                                                             the width changes; 16k -> 16k has none)
  later block            2 * (9b^2 + 2b)
  head                   64k * classes + classes

  ResNet-20    272,474   (NS 269,722: less 16*32 + 64 and 32*64 + 128, the two projections)
  ResNet-56    855,770   (NS 853,018)
  ResNet-110 1,730,714   (NS 1,727,962)
  WRN-56-2   3,412,394   (NS 3,401,770: less 32*64 + 128 and 64*128 + 256)

ResNet-20 in full: stem 464; stage 16: 3 * 4,672 = 14,016; stage 32: 14,528 + 2 * 18,560 = 51,648;
stage 64: 57,728 + 2 * 73,984 = 205,696; Linear(64, 10) 650.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(channels: int, width: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels, width, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """A post-activation block, with the shortcut (a projection where the stride or the width
    changes) or, for the "-NS" networks, without any."""

    def __init__(self, channels: int, width: int, stride: int, shortcut: bool):
        super().__init__()
        self.conv1 = conv3x3(channels, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut: nn.Module | None = None
        if shortcut:
            self.shortcut = nn.Identity()
            if stride != 1 or channels != width:
                self.shortcut = nn.Sequential(nn.Conv2d(channels, width, kernel_size=1, stride=stride, bias=False),
                                              nn.BatchNorm2d(width))

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return torch.relu(out)


class LiResNet(nn.Module):
    def __init__(self, channels: int, classes: int, blocks: int, k: int, shortcut: bool):
        super().__init__()
        width = 16 * k
        self.conv1 = conv3x3(channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        stages = []
        for planes, stride in ((16 * k, 1), (32 * k, 2), (64 * k, 2)):
            stage = []
            for block in range(blocks):
                stage.append(BasicBlock(width, planes, stride if block == 0 else 1, shortcut))
                width = planes
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(width, classes)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(torch.flatten(self.pool(out), 1))


def build(*, input_shape: tuple[int, ...], classes: int, depth: int, k: int, shortcut: int) -> nn.Module:
    blocks = (depth - 2) // 6  # depth 6n+2: lossbarcode.models.build checks it (LI_DEPTH)
    model = LiResNet(input_shape[0], classes, blocks, k, bool(shortcut))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=1e-3)
            nn.init.zeros_(module.bias)
    return model
