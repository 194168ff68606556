"""A LeNet-5 for paper 004's Fig 1 ("LeNet-like" on FashionMNIST). The layers are assumed: paper
004 does not give them. This is the classic LeNet-5 as commonly adapted to 28x28 images (padding 2 on
the first convolution, ReLU, max-pooling), 61,706 parameters on 1x28x28 and 10 classes:

  Conv(C, 6, 5x5, padding 2) ReLU MaxPool(2)     28 -> 28 -> 14      156 = 6*25 + 6   (C = 1)
  Conv(6, 16, 5x5)           ReLU MaxPool(2)     14 -> 10 -> 5     2,416 = 6*16*25 + 16
  Linear(16*5*5, 120) ReLU                                         48,120 = 400*120 + 120
  Linear(120, 84) ReLU                                             10,164 = 120*84 + 84
  Linear(84, classes)                                                 850 = 84*10 + 10

The other candidate is swa_gaussian's ``lenet5`` (from the same group as Garipov's code):
Conv(1, 20, 5) ReLU MaxPool(2), Conv(20, 50, 5) ReLU MaxPool(2), Linear(800, 500) ReLU,
Linear(500, 10): 431,080 parameters. Which one paper 004 used is unknown.

Initialisation: PyTorch's default (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))).

Other image sizes: the classifier always sees 16x5x5 features, so every input size gives the same
parameters. Where the second convolution's output is not 5x5 after its pool, an adaptive average
pool to 5x5 comes before the classifier (at 28x28 there is none). The first MaxPool is left out where
it would leave less than the second convolution's 5x5 kernel, and the second where it would leave no
pixel: 8x8 digits go 8 -> 8 -> 4 -> 2 -> (adaptive) 5, 3x16x16 images 16 -> 8 -> 4 -> 2 -> 5.
Inputs under 5x5 are refused.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


def build(*, input_shape: tuple[int, ...], classes: int) -> nn.Module:
    """The layers by name (``conv1``, ``conv2``, ``fc1``..``fc3``), so that every input size gives the
    same state-dict keys."""
    channels, *sides = input_shape
    if min(sides) < 5:
        raise ValueError(f"LeNet-5 needs images of at least 5x5 (its 5x5 convolutions), got {tuple(input_shape)}")
    layers: dict[str, nn.Module] = {"conv1": nn.Conv2d(channels, 6, kernel_size=5, padding=2), "relu1": nn.ReLU()}
    if min(sides) // 2 >= 5:
        layers["pool1"] = nn.MaxPool2d(2)
        sides = [side // 2 for side in sides]
    layers.update(conv2=nn.Conv2d(6, 16, kernel_size=5), relu2=nn.ReLU())
    sides = [side - 4 for side in sides]
    if min(sides) >= 2:
        layers["pool2"] = nn.MaxPool2d(2)
        sides = [side // 2 for side in sides]
    if sides != [5, 5]:
        layers["resize"] = nn.AdaptiveAvgPool2d(5)
    layers.update(flatten=nn.Flatten(), fc1=nn.Linear(16 * 5 * 5, 120), relu3=nn.ReLU(), fc2=nn.Linear(120, 84),
                  relu4=nn.ReLU(), fc3=nn.Linear(84, classes))
    return nn.Sequential(OrderedDict(layers))
