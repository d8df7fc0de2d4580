"""The pre-LayerNorm Transformer shared by CLIP's ViT image tower and its text tower.

Parameter names are OpenAI CLIP's / open_clip's (``resblocks.{i}.ln_1``, ``.attn.in_proj_weight``,
``.attn.out_proj``, ``.ln_2``, ``.mlp.c_fc``, ``.mlp.c_proj``), so their checkpoints load by name. Tokens are
batch-first (N x L x width); open_clip's sequence-first layout changes no parameter.

Every module takes ``device``: built on ``torch.device("meta")`` it allocates nothing, which is how the
tests count the parameters of the largest variants.
"""
from collections import OrderedDict
from typing import Optional

import torch
from torch import Tensor, nn


class QuickGELU(nn.Module):
    """OpenAI CLIP's activation: x * sigmoid(1.702 x)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


def gelu(quick: bool) -> nn.Module:
    return QuickGELU() if quick else nn.GELU()


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float, quick_gelu: bool, device=None):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = nn.LayerNorm(width, device=device)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True, device=device)
        self.ln_2 = nn.LayerNorm(width, device=device)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden, device=device)),
            ("gelu", gelu(quick_gelu)),
            ("c_proj", nn.Linear(hidden, width, device=device)),
        ]))

    def forward(self, x: Tensor, attn_mask: Optional[Tensor]) -> Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float = 4.0, quick_gelu: bool = False,
                 device=None):
        super().__init__()
        self.width = width
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, mlp_ratio, quick_gelu, device)
                                        for _ in range(layers)])

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None) -> Tensor:
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x

    def init_parameters(self) -> None:
        """open_clip's initialisation of the text transformer (CLIP.init_parameters)."""
        attn_std = self.width ** -0.5
        proj_std = attn_std * (2 * len(self.resblocks)) ** -0.5
        fc_std = (2 * self.width) ** -0.5
        for block in self.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
