"""A compact BERT encoder whose parameter names are those of Hugging Face's BertModel.

Written with torch alone (no ``transformers`` on these machines) so that a Hugging Face checkpoint
(``bert.embeddings.word_embeddings.weight``, ...) loads by name once its prefix is stripped. Post-LayerNorm
Transformer with absolute position embeddings, as in BERT and its Hugging Face port. The module is meant
for ``torch.jit.script``: every sequence length up to ``max_position_embeddings`` works.

forward(input_ids, attention_mask, token_type_ids) -> last hidden state, N x L x hidden (float32). The
pooler is kept (same parameters as BertModel's) but not run: finetuner pools the token states itself.
"""
import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02

    @staticmethod
    def from_hf(config: Mapping[str, Any]) -> "BertConfig":
        """From a Hugging Face config.json (keys absent from old files take BertConfig's defaults)."""
        embedding_type = config.get("position_embedding_type", "absolute")
        if embedding_type != "absolute":
            raise ValueError(f"position_embedding_type {embedding_type!r} is not supported (only 'absolute')")
        fields = {k: config[k] for k in BertConfig.__dataclass_fields__ if k in config and config[k] is not None}
        if "vocab_size" not in fields:
            raise ValueError("config.json has no vocab_size")
        return BertConfig(**fields)


def activation(name: str) -> nn.Module:
    """Hugging Face's ACT2FN names for the activations we support; "gelu" is the exact (erf) GELU."""
    if name == "gelu":
        return nn.GELU()
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return nn.GELU(approximate="tanh")
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"activation {name!r} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)")


def mask_value(dtype: torch.dtype) -> float:
    """The most negative finite value of dtype (torch.finfo is not scriptable): masked scores get it."""
    if dtype == torch.float16:
        return -65504.0
    if dtype == torch.bfloat16:
        return -3.3895313892515355e38
    return -3.4028234663852886e38


def init_weights(module: nn.Module, std: float) -> None:
    """Hugging Face's initialisation of BERT-like models: N(0, std) weights, zero biases, LayerNorm 1/0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class BertEmbeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        positions = torch.arange(input_ids.size(1), dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        if c.hidden_size % c.num_attention_heads != 0:
            raise ValueError(f"hidden_size {c.hidden_size} is not a multiple of num_attention_heads {c.num_attention_heads}")
        self.num_heads = c.num_attention_heads
        self.head_size = c.hidden_size // c.num_attention_heads
        self.scale = 1.0 / math.sqrt(self.head_size)
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def _heads(self, x: Tensor) -> Tensor:  # N x L x H -> N x heads x L x head_size
        return x.view(x.size(0), x.size(1), self.num_heads, self.head_size).transpose(1, 2)

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        # padding: N x 1 x 1 x L, True where the key is a padding token.
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        scores = scores.masked_fill(padding, mask_value(scores.dtype))
        weights = self.dropout(torch.softmax(scores, dim=-1))
        context = torch.matmul(weights, v).transpose(1, 2).contiguous()
        return context.view(x.size(0), x.size(1), self.num_heads * self.head_size)


class BertSelfOutput(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        return self.output(self.self(x, padding), x)


class BertIntermediate(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.intermediate_act_fn = activation(c.hidden_act)

    def forward(self, x: Tensor) -> Tensor:
        return self.intermediate_act_fn(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertLayer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        a = self.attention(x, padding)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        for layer in self.layer:
            x = layer(x, padding)
        return x


class BertPooler(nn.Module):
    """BertModel's pooler (dense + tanh on the first token). Kept for the parameter names and count."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden: Tensor) -> Tensor:
        return self.activation(self.dense(hidden[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.max_length = c.max_position_embeddings
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)
        init_weights(self, c.initializer_range)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:
        if input_ids.size(1) > self.max_length:
            raise ValueError(f"sequence length {input_ids.size(1)} exceeds the model's maximum of {self.max_length} tokens")
        padding = (attention_mask == 0).unsqueeze(1).unsqueeze(2)
        return self.encoder(self.embeddings(input_ids, token_type_ids), padding)
