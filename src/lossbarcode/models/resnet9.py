"""The ResNet-like network of paper 002 §5 (Appendix G Table 5): the authors' ``resnet9``
(gsotnikov/BarcodesDNN, ``resnet.py``), 195,210 parameters on 3x32x32 images and 10 classes.

3x3 convolutions with padding 1 and a bias, ReLU, residual blocks without normalisation, four
stages of widths 16, 32, 64, 64, each closed by MaxPool(2); a stage opens with a convolution and
ReLU where the width changes; one BatchNorm before global average pooling and the linear layer:

  conv(C, 16) ReLU  block(16)  MaxPool(2)
  conv(16, 32) ReLU block(32)  MaxPool(2)
  conv(32, 64) ReLU block(64)  MaxPool(2)
                    block(64)  MaxPool(2)
  BatchNorm(64)  global average pool  Linear(64, classes)

  block(w): relu(x + conv(w, w)(relu(conv(w, w)(x))))

The authors write the blocks as one ``nn.Sequential`` with a shared stateful ``Identity`` that
remembers its input where the feature size changes and returns ``relu(x + remembered)`` where it
does not; on 3x32x32 and 1x28x28 images that is exactly the blocks above (checked against their
code), and the parameters come in the same order, so a flat parameter vector means the same weights
in both. Their count, on 3x32x32 and 10
classes:

  stem conv(3, 16)                     448 = 3*16*9 + 16
  block(16)                          4,640 = 2 * (16*16*9 + 16)
  conv(16, 32)                       4,640 = 16*32*9 + 32
  block(32)                         18,496 = 2 * (32*32*9 + 32)
  conv(32, 64)                      18,496 = 32*64*9 + 64
  two blocks(64)                   147,712 = 4 * (64*64*9 + 64)
  BatchNorm(64)                        128
  Linear(64, 10)                       650
  total                            195,210

Initialisation as theirs: Kaiming-normal weights (fan in, gain sqrt 2) and biases 0.01 for every
convolution and the linear layer; BatchNorm weight 1, bias 0. Input channels come from the data.
A MaxPool that would leave no pixel is left out: 8x8 digits reach 1x1 after three stages and skip
the fourth pool, where the authors' code would fail (on 32x32 and 28x28 all four pools run).
"""

from __future__ import annotations

import torch
from torch import nn

WIDTHS = (16, 32, 64, 64)


def conv3x3(channels: int, width: int) -> nn.Conv2d:
    return nn.Conv2d(channels, width, kernel_size=3, padding=1)


class Residual(nn.Module):
    """``relu(x + conv2(relu(conv1(x))))``: two 3x3 convolutions of one width, no normalisation."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = conv3x3(width, width)
        self.conv2 = conv3x3(width, width)

    def forward(self, x):
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


def build(*, input_shape: tuple[int, ...], classes: int) -> nn.Module:
    channels, *sides = input_shape
    side = min(sides)
    layers: list[nn.Module] = []
    for stage, width in enumerate(WIDTHS):
        if stage == 0 or width != channels:
            layers += [conv3x3(channels, width), nn.ReLU()]
        layers.append(Residual(width))
        if side >= 2:
            layers.append(nn.MaxPool2d(2))
            side //= 2
        channels = width
    model = nn.Sequential(*layers, nn.BatchNorm2d(channels), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(channels, classes))
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)
            nn.init.constant_(module.bias, 0.01)
    return model
