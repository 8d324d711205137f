"""Networks with the paper's quantizer placement (spec §2, §4): the CIFAR-style ResNet and its small variants."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

QuantizeFn = Callable[[torch.Tensor], torch.Tensor]


class Quant(nn.Module):
    """A quantization site: Format `role` ("A" or "B") on the activation forward and its error backward.

    It is the identity until a trainer sets `fn` (an autograd-aware function); each site is its own
    module so that the memory counter sees every quantized copy once.
    """

    def __init__(self, role: str) -> None:
        super().__init__()
        if role not in ("A", "B"):
            raise ValueError(f"a quantization site is Format 'A' or 'B', got {role!r}")
        self.role = role
        self.fn: QuantizeFn | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.fn is None else self.fn(x)

    def extra_repr(self) -> str:
        return f"role={self.role}"


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Residual block; Format A after conv1, BN1+ReLU, conv2, BN2, on the shortcut and on the output."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.q_conv1 = Quant("A")
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.q_relu1 = Quant("A")
        self.conv2 = _conv3x3(cout, cout)
        self.q_conv2 = Quant("A")
        self.bn2 = nn.BatchNorm2d(cout)
        self.q_bn2 = Quant("A")
        if stride != 1 or cin != cout:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), Quant("A"), nn.BatchNorm2d(cout)
            )
        else:
            self.shortcut = nn.Identity()
        self.q_shortcut = Quant("A")
        self.relu_out = nn.ReLU()
        self.q_out = Quant("A")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.q_relu1(self.relu1(self.bn1(self.q_conv1(self.conv1(x)))))
        out = self.q_bn2(self.bn2(self.q_conv2(self.conv2(out))))
        return self.q_out(self.relu_out(out + self.q_shortcut(self.shortcut(x))))


class ResNet(nn.Module):
    """CIFAR-style ResNet: 3×3 stride-1 stem, no max-pool, four stages, adaptive average pool, linear head.

    `blocks=(2, 2, 2, 2), width=64` is the paper's ResNet-18; smaller ones serve CPU work. Format B
    quantizes the input and the logits; Format A every other site.
    """

    def __init__(self, classes: int, blocks: Sequence[int] = (2, 2, 2, 2), width: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        if classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {classes}")
        self.q_input = Quant("B")
        self.conv = _conv3x3(in_channels, width)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.q_stem = Quant("A")
        stages: list[nn.Module] = []
        cin = width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            stage = [BasicBlock(cin if j == 0 else cout, cout, 2 if (i > 0 and j == 0) else 1) for j in range(n)]
            stages.append(nn.Sequential(*stage))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(cin, classes)
        self.q_head = Quant("A")
        self.q_logits = Quant("B")
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.q_stem(self.relu(self.bn(self.conv(self.q_input(x)))))
        out = torch.flatten(self.pool(self.stages(out)), 1)
        return self.q_logits(self.q_head(self.linear(out)))


def resnet18(classes: int, in_channels: int = 3) -> ResNet:
    """The paper's network (spec §4): ResNet-18 with [2, 2, 2, 2] BasicBlocks, width 64."""
    return ResNet(classes, (2, 2, 2, 2), 64, in_channels)
