"""A compact DistilBERT encoder whose parameter names are those of Hugging Face's DistilBertModel.

Same conventions as bert.py: torch alone, scriptable, any sequence length up to max_position_embeddings.
forward(input_ids, attention_mask, token_type_ids) -> last hidden state, N x L x dim; token_type_ids is
accepted and ignored (DistilBERT has no segment embeddings) so every text backbone is called alike.
"""
import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from .bert import activation, init_weights, mask_value

# Hard-coded in Hugging Face's DistilBERT (not in its config).
LAYER_NORM_EPS = 1e-12


@dataclass(frozen=True)
class DistilBertConfig:
    vocab_size: int
    dim: int = 768
    n_layers: int = 6
    n_heads: int = 12
    hidden_dim: int = 3072
    activation: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    pad_token_id: int = 0
    initializer_range: float = 0.02
    sinusoidal_pos_embds: bool = False

    @staticmethod
    def from_hf(config: Mapping[str, Any]) -> "DistilBertConfig":
        fields = {k: config[k] for k in DistilBertConfig.__dataclass_fields__ if k in config and config[k] is not None}
        if "vocab_size" not in fields:
            raise ValueError("config.json has no vocab_size")
        return DistilBertConfig(**fields)


class Embeddings(nn.Module):
    def __init__(self, c: DistilBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.dim, padding_idx=c.pad_token_id)
        # With sinusoidal_pos_embds the table holds fixed sinusoids; loaded from the checkpoint all the same.
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.dim)
        self.LayerNorm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, input_ids: Tensor) -> Tensor:
        positions = torch.arange(input_ids.size(1), dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, c: DistilBertConfig):
        super().__init__()
        if c.dim % c.n_heads != 0:
            raise ValueError(f"dim {c.dim} is not a multiple of n_heads {c.n_heads}")
        self.n_heads = c.n_heads
        self.head_size = c.dim // c.n_heads
        self.scale = 1.0 / math.sqrt(self.head_size)
        self.dropout = nn.Dropout(c.attention_dropout)
        self.q_lin = nn.Linear(c.dim, c.dim)
        self.k_lin = nn.Linear(c.dim, c.dim)
        self.v_lin = nn.Linear(c.dim, c.dim)
        self.out_lin = nn.Linear(c.dim, c.dim)

    def _heads(self, x: Tensor) -> Tensor:
        return x.view(x.size(0), x.size(1), self.n_heads, self.head_size).transpose(1, 2)

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        q = self._heads(self.q_lin(x)) * self.scale  # scaled before the product, as in Hugging Face's code
        k, v = self._heads(self.k_lin(x)), self._heads(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(-1, -2)).masked_fill(padding, mask_value(q.dtype))
        weights = self.dropout(torch.softmax(scores, dim=-1))
        context = torch.matmul(weights, v).transpose(1, 2).contiguous()
        return self.out_lin(context.view(x.size(0), x.size(1), self.n_heads * self.head_size))


class FFN(nn.Module):
    def __init__(self, c: DistilBertConfig):
        super().__init__()
        self.dropout = nn.Dropout(c.dropout)
        self.lin1 = nn.Linear(c.dim, c.hidden_dim)
        self.lin2 = nn.Linear(c.hidden_dim, c.dim)
        self.activation = activation(c.activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.lin2(self.activation(self.lin1(x))))


class TransformerBlock(nn.Module):
    def __init__(self, c: DistilBertConfig):
        super().__init__()
        self.attention = MultiHeadSelfAttention(c)
        self.sa_layer_norm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)
        self.ffn = FFN(c)
        self.output_layer_norm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        a = self.sa_layer_norm(self.attention(x, padding) + x)
        return self.output_layer_norm(self.ffn(a) + a)


class Transformer(nn.Module):
    def __init__(self, c: DistilBertConfig):
        super().__init__()
        self.layer = nn.ModuleList([TransformerBlock(c) for _ in range(c.n_layers)])

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        for layer in self.layer:
            x = layer(x, padding)
        return x


class DistilBertModel(nn.Module):
    def __init__(self, c: DistilBertConfig):
        super().__init__()
        self.max_length = c.max_position_embeddings
        self.embeddings = Embeddings(c)
        self.transformer = Transformer(c)
        init_weights(self, c.initializer_range)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:
        if input_ids.size(1) > self.max_length:
            raise ValueError(f"sequence length {input_ids.size(1)} exceeds the model's maximum of {self.max_length} tokens")
        padding = (attention_mask == 0).unsqueeze(1).unsqueeze(2)
        return self.transformer(self.embeddings(input_ids), padding)
