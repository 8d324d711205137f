"""Networks with the paper's quantizer placement (spec §2, §4): the CIFAR-style ResNet and its small variants."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .quantize import QuantizeFn


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


def _conv(cin: int, cout: int, kernel: int, stride: int, copies: int) -> nn.Conv2d:
    """A bias-free conv; with copies > 1, `copies` independent convs side by side (grouped)."""
    return nn.Conv2d(cin * copies, cout * copies, kernel, stride=stride, padding=kernel // 2, bias=False, groups=copies)


class BasicBlock(nn.Module):
    """Residual block; Format A after conv1, BN1+ReLU, conv2, BN2, on the shortcut and on the output."""

    def __init__(self, cin: int, cout: int, stride: int, copies: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv(cin, cout, 3, stride, copies)
        self.q_conv1 = Quant("A")
        self.bn1 = nn.BatchNorm2d(cout * copies)
        self.relu1 = nn.ReLU()
        self.q_relu1 = Quant("A")
        self.conv2 = _conv(cout, cout, 3, 1, copies)
        self.q_conv2 = Quant("A")
        self.bn2 = nn.BatchNorm2d(cout * copies)
        self.q_bn2 = Quant("A")
        if stride != 1 or cin != cout:
            self.shortcut: nn.Module = nn.Sequential(
                _conv(cin, cout, 1, stride, copies), Quant("A"), nn.BatchNorm2d(cout * copies)
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

    copies > 1 builds that many independent networks side by side (grouped convolutions, per-copy
    BatchNorm channels, a grouped linear head): input (B, copies·in_channels, H, W), logits
    (B, copies·classes). It trains many precision configurations in one pass (`train.py`).
    """

    def __init__(self, classes: int, blocks: Sequence[int] = (2, 2, 2, 2), width: int = 64, in_channels: int = 3,
                 copies: int = 1) -> None:
        super().__init__()
        if classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {classes}")
        self.classes, self.copies = classes, copies
        self.q_input = Quant("B")
        self.conv = _conv(in_channels, width, 3, 1, copies)
        self.bn = nn.BatchNorm2d(width * copies)
        self.relu = nn.ReLU()
        self.q_stem = Quant("A")
        stages: list[nn.Module] = []
        cin = width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            stage = [BasicBlock(cin if j == 0 else cout, cout, 2 if (i > 0 and j == 0) else 1, copies) for j in range(n)]
            stages.append(nn.Sequential(*stage))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear: nn.Module = (nn.Linear(cin, classes) if copies == 1
                                  else nn.Conv1d(cin * copies, classes * copies, 1, groups=copies))
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
        if self.copies > 1:
            out = self.linear(out.unsqueeze(-1)).squeeze(-1)
        else:
            out = self.linear(out)
        return self.q_logits(self.q_head(out))

    @classmethod
    def side_by_side(cls, net: "ResNet", copies: int) -> "ResNet":
        """`copies` copies of `net` (same weights) as one grouped network."""
        blocks = tuple(len(stage) for stage in net.stages)
        width = net.conv.out_channels
        grouped = cls(net.classes, blocks, width, net.conv.in_channels, copies)
        single = dict(net.state_dict())
        for name, value in grouped.state_dict().items():
            src = single[name]
            if name == "linear.weight":
                src = src.unsqueeze(-1)
            if src.dim() == 0:  # BatchNorm's num_batches_tracked
                value.copy_(src)
            else:
                value.copy_(src.repeat(copies, *([1] * (src.dim() - 1))))
        return grouped


def resnet18(classes: int, in_channels: int = 3) -> ResNet:
    """The paper's network (spec §4): ResNet-18 with [2, 2, 2, 2] BasicBlocks, width 64."""
    return ResNet(classes, (2, 2, 2, 2), 64, in_channels)


DEFAULT_SITES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU)


def insert_quantizers(model: nn.Module, after: tuple[type[nn.Module], ...] = DEFAULT_SITES) -> nn.ModuleList:
    """Put a Format A quantization site after every module of the given types, with forward hooks.

    The network's own code is untouched, so any architecture works without a rewrite. Register the
    returned sites on a module that owns the network (as QuantizedNetwork does), so that `.to()`, the
    memory counter and the trainer see them.
    """
    targets = [m for m in model.modules() if isinstance(m, after)]
    if not targets:
        raise ValueError(f"the network has no module of types {[t.__name__ for t in after]} to quantize after")
    sites = [Quant("A") for _ in targets]
    for module, site in zip(targets, sites):
        module.register_forward_hook(lambda _m, _i, out, site=site: site(out))
    return nn.ModuleList(sites)


class QuantizedNetwork(nn.Module):
    """A user's network with Format B on its input and logits and Format A after chosen module types."""

    def __init__(self, net: nn.Module, after: tuple[type[nn.Module], ...] = DEFAULT_SITES) -> None:
        super().__init__()
        self.q_input = Quant("B")
        self.net = net
        self.quant_sites = insert_quantizers(net, after)
        self.q_logits = Quant("B")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q_logits(self.net(self.q_input(x)))
