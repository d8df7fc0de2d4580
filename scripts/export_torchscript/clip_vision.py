"""CLIP's Vision Transformer image tower (OpenAI CLIP / open_clip ``VisionTransformer``).

Patchify with a bias-free strided convolution, prepend the class token, add learned positions, pre-LN
Transformer, LayerNorm of the class token, linear projection (a bare matrix, ``proj``) to the shared
embedding. Parameter names are open_clip's under ``visual.``: conv1, class_embedding,
positional_embedding, ln_pre, transformer.resblocks.{i}..., ln_post, proj.

forward(images: N x 3 x S x S, float) -> N x output_dim. S must be the configured image size.
"""
import torch
from torch import Tensor, nn

from .clip_transformer import Transformer


class VisionTransformer(nn.Module):
    def __init__(self, image_size: int, patch_size: int, width: int, layers: int, heads: int, output_dim: int,
                 mlp_ratio: float = 4.0, quick_gelu: bool = False, device=None):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"image size {image_size} is not a multiple of patch size {patch_size}")
        self.image_size = image_size
        self.output_dim = output_dim
        grid = image_size // patch_size
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False, device=device)
        self.class_embedding = nn.Parameter(scale * torch.randn(width, device=device))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width, device=device))
        self.ln_pre = nn.LayerNorm(width, device=device)
        self.transformer = Transformer(width, layers, heads, mlp_ratio, quick_gelu, device)
        self.ln_post = nn.LayerNorm(width, device=device)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim, device=device))

    def forward(self, x: Tensor) -> Tensor:
        if x.size(-1) != self.image_size or x.size(-2) != self.image_size:
            raise ValueError(f"expected {self.image_size}x{self.image_size} images, got {x.size(-2)}x{x.size(-1)}")
        x = self.conv1(x)  # N x width x grid x grid
        x = x.flatten(2).transpose(1, 2)  # N x grid^2 x width
        cls = self.class_embedding.to(x.dtype).expand(x.size(0), 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj
