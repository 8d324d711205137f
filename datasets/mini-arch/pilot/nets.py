"""A residual network that quantizes before its normalisation, for the mini-arch 2 pilot (PILOT.md).

The built-in `resnet` puts its first quantizer after the stem's BatchNorm, so the input's scale never
reaches Format A; this one is the VGG-style network's layout with residual blocks: every convolution's
output is quantized before its BatchNorm (the declared Conv2d site), as are the BatchNorm, ReLU, the
residual add and the mean pooling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Block(nn.Module):
    """conv → BN → ReLU → conv → BN, plus the input (a 1×1 conv where the width changes), → ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.shortcut = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNetPreNorm(nn.Module):
    """A stem convolution, one residual block per stage with 2×2 max pooling between stages, mean pooling and
    a linear head; `channels` lists each stage's width."""

    def __init__(self, classes: int, in_channels: int, channels: Sequence[int]) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False)
        self.stem_bn, self.stem_relu = nn.BatchNorm2d(channels[0]), nn.ReLU()
        stages: list[nn.Module] = []
        cin = channels[0]
        for cout in channels:
            stages += [Block(cin, cout), nn.MaxPool2d(2, ceil_mode=True)]
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem_relu(self.stem_bn(self.stem(x))))
        return self.head(h.mean((2, 3)))


def resnet_prenorm(classes: int, in_channels: int, channels: Sequence[int] = (8, 16, 32)) -> nn.Module:
    """The pilot's residual network (see the module's docstring)."""
    return ResNetPreNorm(classes, in_channels, channels)
