"""torchvision CNNs (ResNet, EfficientNet): one config per variant, built with torchvision's own code.

Full-size models come from torchvision's builders, so parameter names match the published checkpoints
(resnet50-0676ba61.pth, ...) and those load by name. Tiny models keep the same classes, child names and
block types at a width and depth small enough to train in seconds on 32x32..64x64 images in tests.
"""
from dataclasses import dataclass
from typing import Callable, Sequence

from torch import nn
from torchvision import models
from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
from torchvision.models.resnet import Bottleneck, ResNet

from .registry import ModelSpec, register

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# Tiny models are meant for small test images, so their recorded preprocessing is sized for those.
TINY_IMAGE_SIZE = 64


class NarrowResNet(ResNet):
    """torchvision's ResNet with stage widths other than (64, 128, 256, 512).

    torchvision hard-codes those widths in ResNet.__init__, and even a [1, 1, 1, 1] Bottleneck ResNet
    has 5.5M parameters at full width. This repeats that constructor with the widths as a parameter;
    forward() and the child names (conv1 ... layer4, avgpool, fc) are torchvision's.
    """

    def __init__(self, block, layers: Sequence[int], widths: Sequence[int], num_classes: int = 1000):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for m in self.modules():  # the same initialisation as torchvision's ResNet
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def tiny_efficientnet(width_mult: float, depth_mult: float, dropout: float) -> EfficientNet:
    settings, last_channel = _efficientnet_conf("efficientnet_b0", width_mult=width_mult, depth_mult=depth_mult)
    return EfficientNet(settings, dropout, last_channel=last_channel)


@dataclass(frozen=True)
class CnnVariant:
    name: str
    family: str  # a key of FAMILIES
    full: Callable[[], nn.Module]
    tiny: Callable[[], nn.Module]
    resize: int
    crop: int
    interpolation: str
    checkpoint_url: str


@dataclass(frozen=True)
class CnnFamily:
    trunk: Sequence[str]
    head: Sequence[str]
    embedding_dim: Callable[[nn.Module], int]


FAMILIES = {
    "resnet": CnnFamily(
        trunk=("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"),
        head=("avgpool", "fc"),
        embedding_dim=lambda m: m.fc.in_features,
    ),
    "efficientnet": CnnFamily(
        trunk=("features",),
        head=("avgpool", "classifier"),
        embedding_dim=lambda m: m.classifier[-1].in_features,
    ),
}

# Preprocessing and checkpoint names are those of torchvision's IMAGENET1K_V1 weights.
VARIANTS = [
    CnnVariant(
        name="resnet50",
        family="resnet",
        full=lambda: models.resnet50(weights=None),
        tiny=lambda: NarrowResNet(Bottleneck, [1, 1, 1, 1], widths=(16, 32, 64, 128)),
        resize=256, crop=224, interpolation="bilinear",
        checkpoint_url=models.ResNet50_Weights.IMAGENET1K_V1.url,
    ),
    CnnVariant(
        name="resnet152",
        family="resnet",
        full=lambda: models.resnet152(weights=None),
        tiny=lambda: NarrowResNet(Bottleneck, [1, 1, 2, 1], widths=(16, 32, 64, 128)),
        resize=256, crop=224, interpolation="bilinear",
        checkpoint_url=models.ResNet152_Weights.IMAGENET1K_V1.url,
    ),
    CnnVariant(
        name="efficientnet_b0",
        family="efficientnet",
        full=lambda: models.efficientnet_b0(weights=None),
        tiny=lambda: tiny_efficientnet(width_mult=0.25, depth_mult=0.1, dropout=0.2),
        resize=256, crop=224, interpolation="bicubic",
        checkpoint_url=models.EfficientNet_B0_Weights.IMAGENET1K_V1.url,
    ),
    CnnVariant(
        name="efficientnet_b4",
        family="efficientnet",
        full=lambda: models.efficientnet_b4(weights=None),
        # b4 is b0 scaled by width 1.4: keep that ratio at tiny size.
        tiny=lambda: tiny_efficientnet(width_mult=0.35, depth_mult=0.1, dropout=0.4),
        resize=384, crop=380, interpolation="bicubic",
        checkpoint_url=models.EfficientNet_B4_Weights.IMAGENET1K_V1.url,
    ),
]


def _spec(v: CnnVariant) -> ModelSpec:
    family = FAMILIES[v.family]
    norm = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return ModelSpec(
        name=v.name,
        task="image-to-image",
        architecture="cnn",
        family=v.family,
        build=lambda size: v.full() if size == "full" else v.tiny(),
        trunk=tuple(family.trunk),
        head=tuple(family.head),
        pooling="avg",
        embedding_dim=family.embedding_dim,
        preprocessing={
            "full": {"resize": v.resize, "crop": v.crop, "interpolation": v.interpolation, **norm},
            "tiny": {"resize": TINY_IMAGE_SIZE, "crop": TINY_IMAGE_SIZE, "interpolation": v.interpolation, **norm},
        },
        checkpoint_url=v.checkpoint_url,
    )


for _variant in VARIANTS:
    register(_spec(_variant))
