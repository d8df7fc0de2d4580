"""CLIP's modified ResNet image tower (OpenAI CLIP / open_clip ``ModifiedResNet``): RN50, RN101, RN50x4/16/64.

Differences from torchvision's ResNet: a three-convolution stem with an average pool instead of a max pool;
anti-aliased strided blocks (the stride is an average pool before the last 1x1 convolution, and before the
downsampling convolution); the global average pool is replaced by attention pooling: one query (the mean
of the feature map) attends over the flattened, position-embedded map, and its output is projected to the
shared embedding.

Parameter names are open_clip's under ``visual.``: conv1/bn1/conv2/bn2/conv3/bn3, layer1..4.{i}.conv1..bn3,
.downsample.0 (conv) / .downsample.1 (bn) (``downsample.-1`` is the parameter-free average pool),
attnpool.positional_embedding, attnpool.q_proj / k_proj / v_proj / c_proj.

forward(images: N x 3 x S x S) -> N x output_dim, S the configured image size (a multiple of 32).
"""
from collections import OrderedDict
from typing import List, Sequence

import torch
from torch import Tensor, nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, device=None):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False, device=device)
        self.bn1 = nn.BatchNorm2d(planes, device=device)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False, device=device)
        self.bn2 = nn.BatchNorm2d(planes, device=device)
        self.act2 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False, device=device)
        self.bn3 = nn.BatchNorm2d(out, device=device)
        self.act3 = nn.ReLU(inplace=True)
        self.has_downsample = stride > 1 or inplanes != out
        if self.has_downsample:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, out, 1, stride=1, bias=False, device=device)),
                ("1", nn.BatchNorm2d(out, device=device)),
            ]))
        else:
            self.downsample = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.act2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.avgpool(y)))
        return self.act3(y + self.downsample(x))


class AttentionPool2d(nn.Module):
    def __init__(self, spatial_dim: int, embed_dim: int, num_heads: int, output_dim: int, device=None):
        super().__init__()
        self.positional_embedding = nn.Parameter(
            torch.randn(spatial_dim * spatial_dim + 1, embed_dim, device=device) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim, device=device)
        self.q_proj = nn.Linear(embed_dim, embed_dim, device=device)
        self.v_proj = nn.Linear(embed_dim, embed_dim, device=device)
        self.c_proj = nn.Linear(embed_dim, output_dim, device=device)
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.size(0), x.size(1)
        x = x.flatten(2).transpose(1, 2)  # N x HW x C
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding.to(x.dtype)
        heads = (n, -1, self.num_heads, self.head_dim)
        q = self.q_proj(x[:, :1]).view(heads).transpose(1, 2)  # N x heads x 1 x head_dim
        k = self.k_proj(x).view(heads).transpose(1, 2)
        v = self.v_proj(x).view(heads).transpose(1, 2)
        weights = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.head_dim ** -0.5, dim=-1)
        return self.c_proj(torch.matmul(weights, v).reshape(n, c))


class ModifiedResNet(nn.Module):
    def __init__(self, layers: Sequence[int], output_dim: int, heads: int, image_size: int = 224, width: int = 64,
                 device=None):
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ModifiedResNet takes 4 stages, got {list(layers)}")
        if image_size % 32 != 0:
            raise ValueError(f"image size {image_size} is not a multiple of 32")
        self.image_size = image_size
        self.output_dim = output_dim
        half = width // 2
        self.conv1 = nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False, device=device)
        self.bn1 = nn.BatchNorm2d(half, device=device)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, bias=False, device=device)
        self.bn2 = nn.BatchNorm2d(half, device=device)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(half, width, 3, padding=1, bias=False, device=device)
        self.bn3 = nn.BatchNorm2d(width, device=device)
        self.act3 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(2)

        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0], 1, device)
        self.layer2 = self._make_layer(width * 2, layers[1], 2, device)
        self.layer3 = self._make_layer(width * 4, layers[2], 2, device)
        self.layer4 = self._make_layer(width * 8, layers[3], 2, device)
        embed_dim = width * 32  # the ResNet feature width
        self.attnpool = AttentionPool2d(image_size // 32, embed_dim, heads, output_dim, device)
        self.init_parameters()

    def _make_layer(self, planes: int, blocks: int, stride: int, device) -> nn.Sequential:
        layers: List[nn.Module] = [Bottleneck(self._inplanes, planes, stride, device)]
        self._inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self._inplanes, planes, 1, device) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def init_parameters(self) -> None:
        """open_clip's: N(0, 1/sqrt(C)) attention-pool projections, zero last BN gamma in each block."""
        std = self.attnpool.c_proj.in_features ** -0.5
        for lin in (self.attnpool.q_proj, self.attnpool.k_proj, self.attnpool.v_proj, self.attnpool.c_proj):
            nn.init.normal_(lin.weight, std=std)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in stage:
                nn.init.zeros_(block.bn3.weight)

    def forward(self, x: Tensor) -> Tensor:
        if x.size(-1) != self.image_size or x.size(-2) != self.image_size:
            raise ValueError(f"expected {self.image_size}x{self.image_size} images, got {x.size(-2)}x{x.size(-1)}")
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.avgpool(self.act3(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)
