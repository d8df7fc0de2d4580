"""CLIP with a Hugging Face XLM-RoBERTa text tower (open_clip ``CustomTextCLIP`` + ``HFTextEncoder``).

Used by xlm-roberta-base-ViT-B-32. Parameter names are open_clip's: ``visual.*`` (the ViT image tower),
``text.transformer.*`` (Hugging Face XLMRobertaModel names without its pooler, which open_clip leaves out
for mean pooling: embeddings.word_embeddings, embeddings.position_embeddings, ...,
encoder.layer.{i}.attention.self.query, ...), ``text.proj.0.weight`` / ``text.proj.2.weight`` (the 'mlp'
projection: Linear(d, (d + embed) // 2, bias=False), GELU, Linear(..., embed, bias=False)) and
``logit_scale``.

The encoder layers are BERT's (bert.py, same names and post-LN layout as XLMRobertaLayer); only the
embeddings differ: RoBERTa numbers positions from pad_token_id + 1 and skips padding, and has a single
token type.

encode_text(input_ids: int64 N x L, attention_mask: int64 N x L, 1 on tokens) -> N x embed_dim: the mean of the
token states over the mask, through the projection. (open_clip derives the mask from input_ids != pad_token_id;
a tokenizer's mask is the same for right-padded input.) Positions come from input_ids as in Hugging Face's
RoBERTa, so padding should carry pad_token_id (1).
forward(images, input_ids, attention_mask) -> (image features, text features) L2-normalised, and exp(logit_scale).
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bert import BertConfig, BertEncoder, init_weights


class XLMRobertaEmbeddings(nn.Module):
    def __init__(self, c: BertConfig, device=None):
        super().__init__()
        self.padding_idx = c.pad_token_id
        self.max_positions = c.max_position_embeddings
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id, device=device)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size,
                                                padding_idx=c.pad_token_id, device=device)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size, device=device)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, device=device)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids: Tensor) -> Tensor:
        if input_ids.size(1) > self.max_positions - self.padding_idx - 1:
            raise ValueError(f"{input_ids.size(1)} tokens exceed the model's maximum of "
                             f"{self.max_positions - self.padding_idx - 1}")
        # Hugging Face's create_position_ids_from_input_ids: padding keeps position padding_idx.
        tokens = input_ids.ne(self.padding_idx).long()
        positions = torch.cumsum(tokens, dim=1) * tokens + self.padding_idx
        types = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(types) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))


class XLMRobertaModel(nn.Module):
    """Hugging Face's XLMRobertaModel(add_pooling_layer=False): N x L ids and mask -> N x L x hidden."""

    def __init__(self, c: BertConfig, device=None):
        super().__init__()
        self.embeddings = XLMRobertaEmbeddings(c, device)
        # bert.py's layers take no device: built on the CPU (a few hundred MB at full size), then moved.
        self.encoder = BertEncoder(c).to(device) if device is not None else BertEncoder(c)
        init_weights(self, c.initializer_range)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        padding = (attention_mask == 0).unsqueeze(1).unsqueeze(2)
        return self.encoder(self.embeddings(input_ids), padding)


class HFTextEncoder(nn.Module):
    """open_clip's HFTextEncoder with pooler_type 'mean_pooler' and proj 'mlp'."""

    def __init__(self, c: BertConfig, embed_dim: int, device=None):
        super().__init__()
        self.pad_token_id = c.pad_token_id
        self.transformer = XLMRobertaModel(c, device)
        hidden = (c.hidden_size + embed_dim) // 2
        self.proj = nn.Sequential(
            nn.Linear(c.hidden_size, hidden, bias=False, device=device),
            nn.GELU(),
            nn.Linear(hidden, embed_dim, bias=False, device=device),
        )

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        mask = attention_mask.long()
        x = self.transformer(input_ids, mask)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return self.proj(pooled)


class XLMRobertaCLIP(nn.Module):
    def __init__(self, visual: nn.Module, text: BertConfig, embed_dim: int, device=None):
        super().__init__()
        self.embed_dim = embed_dim
        self.context_length = text.max_position_embeddings - text.pad_token_id - 1
        self.visual = visual
        self.text = HFTextEncoder(text, embed_dim, device)
        self.logit_scale = nn.Parameter(torch.full([], math.log(1 / 0.07), device=device))

    @torch.jit.export
    def encode_image(self, images: Tensor) -> Tensor:
        return self.visual(images)

    @torch.jit.export
    def encode_text(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.text(input_ids, attention_mask)

    def forward(self, images: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        image_features = F.normalize(self.encode_image(images), dim=-1)
        text_features = F.normalize(self.encode_text(input_ids, attention_mask), dim=-1)
        return image_features, text_features, self.logit_scale.exp()
