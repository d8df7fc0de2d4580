"""The CLIP architectures of shared/backbones.csv, one config per variant, and ``build_clip``.

Configs are open_clip's (src/open_clip/model_configs/NAME.json): ``embed_dim``, ``vision_cfg`` (an int
``layers`` is a ViT, a 4-tuple a ModifiedResNet) and ``text_cfg`` (CLIP's text transformer, or a Hugging
Face tower for xlm-roberta-base-ViT-B-32). Attention heads follow open_clip: ViT width // 64, ModifiedResNet
width * 32 // 64.

``quick_gelu`` is the activation of the architecture as open_clip names it (the ``-quickgelu`` configs).
Published weights may differ: OpenAI's checkpoints and some early open_clip ones were trained with
QuickGELU whatever the architecture's name; ``pretrained_quick_gelu`` says which. Parameter counts do not
depend on it.

Backbone names (``backbones.csv``): ``ARCH::pretrained`` for open_clip rows, ``openai/clip-vit-*`` for the
Hugging Face ports of OpenAI's ViTs; ``variant_for_backbone`` maps both to a key of ``CLIP_VARIANTS``.
"""
from dataclasses import dataclass, replace
from typing import Dict, Optional, Tuple, Union

import torch

from .bert import BertConfig
from .clip_resnet import ModifiedResNet
from .clip_text import CLIP
from .clip_vision import VisionTransformer
from .clip_xlmr import XLMRobertaCLIP

HEAD_WIDTH = 64  # open_clip's vision_cfg.head_width


@dataclass(frozen=True)
class VisionConfig:
    image_size: int
    layers: Union[int, Tuple[int, int, int, int]]  # ViT depth, or ModifiedResNet blocks per stage
    width: int  # ViT width, or the ModifiedResNet stem width (features are width * 32)
    patch_size: Optional[int] = None  # ViT only
    head_width: int = HEAD_WIDTH
    mlp_ratio: float = 4.0

    @property
    def is_resnet(self) -> bool:
        return not isinstance(self.layers, int)


@dataclass(frozen=True)
class TextConfig:
    """CLIP's own text transformer."""
    context_length: int = 77
    vocab_size: int = 49408
    width: int = 512
    heads: int = 8
    layers: int = 12


@dataclass(frozen=True)
class HFTextConfig:
    """A Hugging Face encoder as text tower (open_clip HFTextEncoder), mean pooling, 'mlp' projection."""
    hf_model_name: str
    config: BertConfig  # the fields of the model's config.json that our definition reads
    pooler_type: str = "mean_pooler"
    proj: str = "mlp"


@dataclass(frozen=True)
class ClipConfig:
    name: str
    embed_dim: int
    vision: VisionConfig
    text: Union[TextConfig, HFTextConfig]
    quick_gelu: bool = False


# xlm-roberta-base's config.json (the pooler is not built: open_clip's mean pooling leaves it out).
XLM_ROBERTA_BASE = BertConfig(
    vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, max_position_embeddings=514,
    type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, initializer_range=0.02)


def _vit(image_size: int, width: int, layers: int, patch_size: int) -> VisionConfig:
    return VisionConfig(image_size=image_size, layers=layers, width=width, patch_size=patch_size)


def _rn(image_size: int, width: int, layers: Tuple[int, int, int, int]) -> VisionConfig:
    return VisionConfig(image_size=image_size, layers=layers, width=width)


_BASE = [
    ClipConfig("RN50", 1024, _rn(224, 64, (3, 4, 6, 3)), TextConfig(width=512, heads=8)),
    ClipConfig("RN101", 512, _rn(224, 64, (3, 4, 23, 3)), TextConfig(width=512, heads=8)),
    ClipConfig("RN50x4", 640, _rn(288, 80, (4, 6, 10, 6)), TextConfig(width=640, heads=10)),
    ClipConfig("RN50x16", 768, _rn(384, 96, (6, 8, 18, 8)), TextConfig(width=768, heads=12)),
    ClipConfig("RN50x64", 1024, _rn(448, 128, (3, 15, 36, 10)), TextConfig(width=1024, heads=16)),
    ClipConfig("ViT-B-32", 512, _vit(224, 768, 12, 32), TextConfig(width=512, heads=8)),
    ClipConfig("ViT-B-16", 512, _vit(224, 768, 12, 16), TextConfig(width=512, heads=8)),
    ClipConfig("ViT-B-16-plus-240", 640, _vit(240, 896, 12, 16), TextConfig(width=640, heads=10)),
    ClipConfig("ViT-L-14", 768, _vit(224, 1024, 24, 14), TextConfig(width=768, heads=12)),
    ClipConfig("ViT-L-14-336", 768, _vit(336, 1024, 24, 14), TextConfig(width=768, heads=12)),
    ClipConfig("xlm-roberta-base-ViT-B-32", 512, _vit(224, 768, 12, 32),
               HFTextConfig("xlm-roberta-base", XLM_ROBERTA_BASE)),
]
_QUICKGELU = ("RN50", "RN101", "ViT-B-32")  # the -quickgelu configs backbones.csv uses

CLIP_VARIANTS: Dict[str, ClipConfig] = {c.name: c for c in _BASE}
CLIP_VARIANTS.update({f"{n}-quickgelu": replace(CLIP_VARIANTS[n], name=f"{n}-quickgelu", quick_gelu=True)
                      for n in _QUICKGELU})

# Hugging Face ports of OpenAI's CLIP ViTs (same architecture, other parameter names).
HF_VARIANTS = {
    "openai/clip-vit-base-patch32": "ViT-B-32",
    "openai/clip-vit-base-patch16": "ViT-B-16",
    "openai/clip-vit-large-patch14": "ViT-L-14",
    "openai/clip-vit-large-patch14-336": "ViT-L-14-336",
}

# Published open_clip checkpoints trained with QuickGELU although their architecture name lacks
# "-quickgelu" (their file names say so: rn50-quickgelu-yfcc15m, vit_b_32-quickgelu-laion400m_e31, ...);
# every OpenAI checkpoint uses QuickGELU too.
_QUICKGELU_CHECKPOINTS = {("RN50", "yfcc15m"), ("RN50", "cc12m"), ("RN101", "yfcc15m"),
                          ("ViT-B-32", "laion400m_e31"), ("ViT-B-32", "laion400m_e32")}


def variant_for_backbone(name: str) -> str:
    """The CLIP_VARIANTS key of a backbones.csv name (``ARCH::pretrained`` or ``openai/clip-vit-*``)."""
    if name in HF_VARIANTS:
        return HF_VARIANTS[name]
    arch = name.split("::", 1)[0]
    if arch not in CLIP_VARIANTS:
        raise KeyError(f"no CLIP variant for {name!r}; known: {', '.join(sorted(CLIP_VARIANTS))}")
    return arch


def pretrained_quick_gelu(name: str) -> bool:
    """Whether the published weights of a backbones.csv name were trained with QuickGELU."""
    variant = variant_for_backbone(name)
    if name in HF_VARIANTS or CLIP_VARIANTS[variant].quick_gelu:
        return True
    arch, _, tag = name.partition("::")
    return tag == "openai" or (arch, tag) in _QUICKGELU_CHECKPOINTS


# size "tiny": the same family, small enough to train in seconds.
TINY_EMBED_DIM = 32
TINY_TEXT = TextConfig(context_length=16, vocab_size=1000, width=32, heads=2, layers=2)
TINY_HF = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=16 + 2)  # RoBERTa positions start at pad + 1


def tiny(c: ClipConfig) -> ClipConfig:
    v = c.vision
    if v.is_resnet:
        vision = VisionConfig(image_size=64, layers=(1, 1, 1, 1), width=8)
    else:
        patch = v.patch_size
        vision = VisionConfig(image_size=64 if 64 % patch == 0 else 4 * patch, layers=2, width=32,
                              patch_size=patch, head_width=16)
    if isinstance(c.text, HFTextConfig):
        text: Union[TextConfig, HFTextConfig] = replace(c.text, config=replace(c.text.config, **TINY_HF))
    else:
        text = TINY_TEXT
    return replace(c, embed_dim=TINY_EMBED_DIM, vision=vision, text=text)


def config(variant_name: str, size: str = "full") -> ClipConfig:
    if variant_name not in CLIP_VARIANTS:
        raise KeyError(f"unknown CLIP variant {variant_name!r}; known: {', '.join(sorted(CLIP_VARIANTS))}")
    if size not in ("full", "tiny"):
        raise ValueError(f"size must be 'full' or 'tiny', got {size!r}")
    c = CLIP_VARIANTS[variant_name]
    return tiny(c) if size == "tiny" else c


def build_visual(c: ClipConfig, device=None) -> torch.nn.Module:
    v = c.vision
    if v.is_resnet:
        return ModifiedResNet(v.layers, c.embed_dim, v.width * 32 // v.head_width, v.image_size, v.width, device)
    return VisionTransformer(v.image_size, v.patch_size, v.width, v.layers, v.width // v.head_width, c.embed_dim,
                             v.mlp_ratio, c.quick_gelu, device)


def build_from_config(c: ClipConfig, device=None) -> torch.nn.Module:
    visual = build_visual(c, device)
    t = c.text
    if isinstance(t, HFTextConfig):
        return XLMRobertaCLIP(visual, t.config, c.embed_dim, device)
    return CLIP(visual, c.embed_dim, t.context_length, t.vocab_size, t.width, t.heads, t.layers, c.quick_gelu,
                device)


def build_clip(variant_name: str, size: str = "full", device: Optional[torch.device] = None) -> torch.nn.Module:
    """A freshly initialised CLIP (global torch RNG). ``device=torch.device('meta')`` allocates nothing
    (for counting parameters of the large variants)."""
    return build_from_config(config(variant_name, size), device)


def image_size(model: torch.nn.Module) -> int:
    return int(model.visual.image_size)


def count_towers(model: torch.nn.Module) -> Dict[str, int]:
    """Parameters as open_clip's model profile counts them: image = visual.*, text = all but visual.* and
    logit_scale, total = all."""
    total = image = 0
    for name, p in model.named_parameters():
        total += p.numel()
        if name.startswith("visual."):
            image += p.numel()
    return {"total": total, "image": image, "text": total - image - model.logit_scale.numel()}
