"""The built-in networks, each with its quantizer sites placed in code by a stated rule (spec §2, §4).

Every built-in takes `copies`: that many independent networks side by side in one module, so that many
precision configurations of one task train in one pass. The input is (B, copies·channels, H, W) and the
logits (B, copies·classes); convolutional networks keep copies along the channels (a grouped
convolution's weights, each copy computed as a plain convolution, so that a copy computes what it does
alone, bit for bit), the MLP and the transformer put them first and use batched matrix products.
`side_by_side` fills a grouped network with copies of one network's weights.

Rules shared by all: Format B on the input and on the logits; Format A on the output of every
convolution and linear layer, of every activation function (after BatchNorm where there is one), and
on the head's output. Max pooling keeps values already on the grid, so it has no site.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .sites import Quant


class SideBySideConv2d(nn.Conv2d):
    """`groups` independent convolutions side by side (a grouped convolution's weights), each computed as a
    plain convolution of its own channels: a grouped kernel may sum in another order than the plain one a
    network of one copy runs (oneDNN does, for 3-channel inputs and for 1×1 weight gradients), and a
    configuration must train the same batched or alone. The price: a batched unit of 33 takes 1.4× (ResNet)
    to 1.6× (VGG) the grouped kernel's time on a CPU (`benchmarks/test_batching.py`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups == 1:
            return super().forward(x)
        biases = self.bias.chunk(self.groups) if self.bias is not None else [None] * self.groups
        return torch.cat(
            [
                F.conv2d(part, w, b, self.stride, self.padding, self.dilation)
                for part, w, b in zip(x.chunk(self.groups, 1), self.weight.chunk(self.groups), biases)
            ],
            1,
        )


class SideBySideLinear(nn.Module):
    """`copies` linear layers side by side on batch-first input (B, copies·in) → (B, copies·out), each computed
    as nn.Linear computes one (so a copy trains as it does alone); weights (copies·out, in), each copy
    initialised as nn.Linear initialises one."""

    def __init__(self, features_in: int, features_out: int, copies: int) -> None:
        super().__init__()
        layers = [nn.Linear(features_in, features_out) for _ in range(copies)]
        self.copies = copies
        self.weight = nn.Parameter(torch.cat([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.cat([layer.bias.detach() for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = zip(x.chunk(self.copies, 1), self.weight.chunk(self.copies), self.bias.chunk(self.copies))
        return torch.cat([F.linear(part, w, b) for part, w, b in parts], 1)


def _conv(cin: int, cout: int, kernel: int, stride: int, copies: int) -> nn.Conv2d:
    """A bias-free conv; with copies > 1, `copies` independent convs side by side."""
    return SideBySideConv2d(
        cin * copies, cout * copies, kernel, stride=stride, padding=kernel // 2, bias=False, groups=copies
    )


class GlobalAvgPool(nn.Module):
    """nn.AdaptiveAvgPool2d(1) as a mean over height and width: bit for bit the same on a CPU (tested), and
    its backward has a deterministic CUDA kernel, which adaptive pooling's lacks. A module, so the memory
    model counts its output as before."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((-2, -1), keepdim=True)


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
    """The paper's sites (spec §2): after conv1, BN1+ReLU, conv2, BN2, the shortcut and the block output.

    CIFAR-style ResNet: 3×3 stride-1 stem, no max-pool, four stages, adaptive average pool, linear head.

    `blocks=(2, 2, 2, 2), width=64` is the paper's ResNet-18; smaller ones serve CPU work. Format B
    quantizes the input and the logits; Format A every other site.

    copies > 1 builds that many independent networks side by side (side-by-side convolutions, per-copy
    BatchNorm channels, side-by-side linear heads): input (B, copies·in_channels, H, W), logits
    (B, copies·classes). It trains many precision configurations in one pass (`train.py`).
    """

    def __init__(
        self, classes: int, blocks: Sequence[int] = (2, 2, 2, 2), width: int = 64, in_channels: int = 3, copies: int = 1
    ) -> None:
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
            stage = [
                BasicBlock(cin if j == 0 else cout, cout, 2 if (i > 0 and j == 0) else 1, copies) for j in range(n)
            ]
            stages.append(nn.Sequential(*stage))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = GlobalAvgPool()
        self.linear: nn.Module = nn.Linear(cin, classes) if copies == 1 else SideBySideLinear(cin, classes, copies)
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
        out = self.linear(torch.flatten(self.pool(self.stages(out)), 1))
        return self.q_logits(self.q_head(out))


def resnet18(classes: int, in_channels: int = 3) -> ResNet:
    """The paper's network (spec §4): ResNet-18 with [2, 2, 2, 2] BasicBlocks, width 64."""
    return ResNet(classes, (2, 2, 2, 2), 64, in_channels)


@torch.no_grad()
def side_by_side(single: nn.Module, grouped: nn.Module, copies: int) -> nn.Module:
    """Fill `grouped` (built with `copies`) with `copies` copies of `single`'s weights and buffers."""
    source = dict(single.state_dict())
    for name, value in grouped.state_dict().items():
        src = source[name]
        if src.dim() == 0:  # BatchNorm's num_batches_tracked
            value.copy_(src)
        else:
            value.copy_(src.reshape(src.shape[0], *value.shape[1:]).repeat(copies, *([1] * (value.dim() - 1))))
    return grouped


class VGG(nn.Module):
    """A VGG-style CNN: stages of [3×3 conv → A → BatchNorm → ReLU → A] × `layers`, then 2×2 max pooling;
    global average pooling → A, a linear head → A, logits → B. `channels` lists each stage's width."""

    def __init__(
        self,
        classes: int,
        channels: Sequence[int] = (16, 32, 64),
        layers: int = 1,
        in_channels: int = 3,
        copies: int = 1,
    ) -> None:
        super().__init__()
        self.copies = copies
        self.q_input = Quant("B")
        body: list[nn.Module] = []
        cin = in_channels
        for cout in channels:
            for _ in range(layers):
                body += [
                    _conv(cin, cout, 3, 1, copies),
                    Quant("A"),
                    nn.BatchNorm2d(cout * copies),
                    nn.ReLU(),
                    Quant("A"),
                ]
                cin = cout
            body.append(nn.MaxPool2d(2, ceil_mode=True))
        self.body = nn.Sequential(*body)
        self.pool = GlobalAvgPool()
        self.q_pool = Quant("A")
        self.head = nn.Linear(cin, classes) if copies == 1 else SideBySideLinear(cin, classes, copies)
        self.q_head = Quant("A")
        self.q_logits = Quant("B")
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.q_pool(torch.flatten(self.pool(self.body(self.q_input(x))), 1))
        return self.q_logits(self.q_head(self.head(out)))


class CopiesLinear(nn.Module):
    """`copies` independent linear layers on copies-first input (copies, ..., in) → (copies, ..., out)."""

    def __init__(self, features_in: int, features_out: int, copies: int) -> None:
        super().__init__()
        bound = 1 / features_in**0.5  # torch.nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(copies, features_in, features_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(copies, 1, features_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        return torch.baddbmm(self.bias, flat, self.weight).view(*x.shape[:-1], self.weight.shape[-1])


class CopiesLayerNorm(nn.Module):
    """LayerNorm over the last dimension with each copy's own affine parameters (copies first)."""

    def __init__(self, features: int, copies: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(copies, 1, features))
        self.bias = nn.Parameter(torch.zeros(copies, 1, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = F.layer_norm(x, x.shape[-1:]).reshape(x.shape[0], -1, x.shape[-1])
        return torch.addcmul(self.bias, flat, self.weight).view(x.shape)


def _to_copies_first(x: torch.Tensor, copies: int) -> torch.Tensor:
    """(B, copies·C, ...) → (copies, B, C·...)."""
    return x.reshape(x.shape[0], copies, -1).transpose(0, 1).contiguous()


def _to_batch_first(x: torch.Tensor) -> torch.Tensor:
    """(copies, B, classes) → (B, copies·classes)."""
    return x.transpose(0, 1).reshape(x.shape[1], -1)


class MLP(nn.Module):
    """A multilayer perceptron on flattened images: [linear → A → ReLU → A] per hidden layer, a linear
    head → A, logits → B (copies first inside)."""

    def __init__(self, classes: int, hidden: Sequence[int] = (128, 64), in_features: int = 64, copies: int = 1) -> None:
        super().__init__()
        self.copies = copies
        self.q_input = Quant("B")
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [CopiesLinear(width, h, copies), Quant("A", 0), nn.ReLU(), Quant("A", 0)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = CopiesLinear(width, classes, copies)
        self.q_head = Quant("A", 0)
        self.q_logits = Quant("B")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(_to_copies_first(self.q_input(x), self.copies))
        return self.q_logits(_to_batch_first(self.q_head(self.head(out))))


class Attention(nn.Module):
    """Multi-head self-attention (copies first). Sites: the qkv projection → A, the scores q·kᵀ/√d → A
    (softmax's input), the softmax → A, the weighted values → A, the output projection → A."""

    def __init__(self, dim: int, heads: int, copies: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"the transformer's dim ({dim}) must be a multiple of its heads ({heads})")
        self.heads = heads
        self.qkv = CopiesLinear(dim, 3 * dim, copies)
        self.q_qkv = Quant("A", 0)
        self.q_scores = Quant("A", 0)
        self.softmax = nn.Softmax(dim=-1)
        self.q_softmax = Quant("A", 0)
        self.q_values = Quant("A", 0)
        self.proj = CopiesLinear(dim, dim, copies)
        self.q_proj = Quant("A", 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, b, t, d = x.shape
        qkv = self.q_qkv(self.qkv(x)).view(c, b, t, 3, self.heads, d // self.heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (copies, B, heads, T, d/heads)
        scores = self.q_scores(torch.matmul(q, k.transpose(-1, -2)) * (d // self.heads) ** -0.5)
        values = self.q_values(torch.matmul(self.q_softmax(self.softmax(scores)), v))
        return self.q_proj(self.proj(values.transpose(2, 3).reshape(c, b, t, d)))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(LN(x)) → A; x + MLP(LN(x)) → A; LayerNorm outputs and GELU → A."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, copies: int) -> None:
        super().__init__()
        self.norm1, self.q_norm1 = CopiesLayerNorm(dim, copies), Quant("A", 0)
        self.attention = Attention(dim, heads, copies)
        self.q_add1 = Quant("A", 0)
        self.norm2, self.q_norm2 = CopiesLayerNorm(dim, copies), Quant("A", 0)
        self.fc1, self.q_fc1 = CopiesLinear(dim, dim * mlp_ratio, copies), Quant("A", 0)
        self.gelu, self.q_gelu = nn.GELU(), Quant("A", 0)
        self.fc2, self.q_fc2 = CopiesLinear(dim * mlp_ratio, dim, copies), Quant("A", 0)
        self.q_add2 = Quant("A", 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q_add1(x + self.attention(self.q_norm1(self.norm1(x))))
        hidden = self.q_gelu(self.gelu(self.q_fc1(self.fc1(self.q_norm2(self.norm2(x))))))
        return self.q_add2(x + self.q_fc2(self.fc2(hidden)))


class VisionTransformer(nn.Module):
    """A small ViT: patch embedding (a strided conv) → A, + position embedding → A, `depth` blocks, a final
    LayerNorm → A, mean over tokens → A, a linear head → A, logits → B."""

    def __init__(
        self,
        classes: int,
        image: int,
        patch: int = 4,
        dim: int = 32,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: int = 2,
        in_channels: int = 3,
        copies: int = 1,
    ) -> None:
        super().__init__()
        if image % patch:
            raise ValueError(f"the image side ({image}) must be a multiple of the patch size ({patch})")
        self.copies = copies
        self.q_input = Quant("B")
        self.embed = SideBySideConv2d(in_channels * copies, dim * copies, patch, stride=patch, groups=copies)
        self.q_embed = Quant("A")
        self.position = nn.Parameter(torch.randn(copies, 1, (image // patch) ** 2, dim) * 0.02)
        self.q_position = Quant("A", 0)
        self.blocks = nn.Sequential(*(TransformerBlock(dim, heads, mlp_ratio, copies) for _ in range(depth)))
        self.norm, self.q_norm = CopiesLayerNorm(dim, copies), Quant("A", 0)
        self.q_pool = Quant("A", 0)
        self.head, self.q_head = CopiesLinear(dim, classes, copies), Quant("A", 0)
        self.q_logits = Quant("B")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.q_embed(self.embed(self.q_input(x)))  # (B, copies·dim, h, w)
        b, _, h, w = tokens.shape
        tokens = tokens.view(b, self.copies, -1, h * w).permute(1, 0, 3, 2)  # (copies, B, T, dim)
        tokens = self.blocks(self.q_position(tokens + self.position))
        pooled = self.q_pool(self.q_norm(self.norm(tokens)).mean(dim=2))
        return self.q_logits(_to_batch_first(self.q_head(self.head(pooled))))
