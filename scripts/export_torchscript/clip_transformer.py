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


class SelfAttention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameters (in_proj_weight / in_proj_bias
    for q, k, v stacked, out_proj), so checkpoints load by the same names.

    Written out instead of nn.MultiheadAttention because the latter's inference fast path
    (torch._native_multi_head_attention, taken when no gradient is needed) ignores autocast in
    TorchScript and fails on bf16 inputs with float32 weights; here every matmul goes through autocast.
    """

    def __init__(self, width: int, heads: int, device=None):
        super().__init__()
        if width % heads != 0:
            raise ValueError(f"width {width} is not a multiple of {heads} heads")
        self.heads = heads
        self.head_dim = width // heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width, device=device))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width, device=device))
        self.out_proj = nn.Linear(width, width, device=device)
        # nn.MultiheadAttention's initialisation.
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor, attn_mask: Optional[Tensor]) -> Tensor:
        n, length, width = x.shape
        qkv = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.view(n, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # N x heads x L x head_dim
        scores = torch.matmul(q, k.transpose(-2, -1)) * (self.head_dim ** -0.5)
        if attn_mask is not None:
            scores = scores + attn_mask.to(scores.dtype)
        weights = torch.softmax(scores, dim=-1)
        out = torch.matmul(weights.to(v.dtype), v).transpose(1, 2).reshape(n, length, width)
        return self.out_proj(out)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float, quick_gelu: bool, device=None):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = nn.LayerNorm(width, device=device)
        self.attn = SelfAttention(width, heads, device=device)
        self.ln_2 = nn.LayerNorm(width, device=device)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden, device=device)),
            ("gelu", gelu(quick_gelu)),
            ("c_proj", nn.Linear(hidden, width, device=device)),
        ]))

    def forward(self, x: Tensor, attn_mask: Optional[Tensor]) -> Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, attn_mask)
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
