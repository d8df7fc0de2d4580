"""CLIP with OpenAI's text tower: the whole model as open_clip's ``CLIP`` lays it out.

The text tower's parameters sit at the top level, as in OpenAI's checkpoints and open_clip's state dicts:
token_embedding, positional_embedding, transformer.resblocks.{i}..., ln_final, text_projection; the image
tower is ``visual`` (clip_vision.VisionTransformer or clip_resnet.ModifiedResNet) and ``logit_scale`` the
learned temperature (log(1 / 0.07) at init).

Text: token + learned position embeddings, pre-LN Transformer with a causal mask, final LayerNorm, the
state at the last attended token, projected by ``text_projection``. The tokenizer always ends a text with
the end-of-text token, so that is open_clip's ``argmax`` (end-of-text has the largest id) without relying
on the ids; the causal mask already keeps the padding after it out of every earlier state.

encode_image(images: float N x 3 x S x S) -> N x embed_dim
encode_text(input_ids: int64 N x L, attention_mask: int64 N x L, 1 on tokens, right-padded; L <= context_length)
    -> N x embed_dim
forward(images, input_ids, attention_mask) -> (image features, text features) L2-normalised, and exp(logit_scale).
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .clip_transformer import Transformer


class CLIP(nn.Module):
    def __init__(self, visual: nn.Module, embed_dim: int, context_length: int, vocab_size: int, width: int,
                 heads: int, layers: int, quick_gelu: bool = False, device=None):
        super().__init__()
        self.embed_dim = embed_dim
        self.context_length = context_length
        self.visual = visual
        self.token_embedding = nn.Embedding(vocab_size, width, device=device)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width, device=device))
        self.transformer = Transformer(width, layers, heads, 4.0, quick_gelu, device)
        self.ln_final = nn.LayerNorm(width, device=device)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim, device=device))
        causal = torch.full((context_length, context_length), float("-inf"), device=device).triu(1)
        self.register_buffer("attn_mask", causal, persistent=False)
        self.logit_scale = nn.Parameter(torch.full([], math.log(1 / 0.07), device=device))

        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        self.transformer.init_parameters()
        nn.init.normal_(self.text_projection, std=width ** -0.5)

    @torch.jit.export
    def encode_image(self, images: Tensor) -> Tensor:
        return self.visual(images)

    @torch.jit.export
    def encode_text(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        length = input_ids.size(1)
        if length > self.context_length:
            raise ValueError(f"{length} tokens exceed the context length of {self.context_length}")
        x = self.token_embedding(input_ids) + self.positional_embedding[:length].to(self.ln_final.weight.dtype)
        x = self.transformer(x, self.attn_mask[:length, :length])
        x = self.ln_final(x)
        # An all-padding row (no tokens) pools at position 0 rather than indexing from the end.
        last = (attention_mask.long().sum(dim=-1) - 1).clamp(min=0)
        return x[torch.arange(x.size(0), device=x.device), last] @ self.text_projection

    def forward(self, images: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        image_features = F.normalize(self.encode_image(images), dim=-1)
        text_features = F.normalize(self.encode_text(input_ids, attention_mask), dim=-1)
        return image_features, text_features, self.logit_scale.exp()
