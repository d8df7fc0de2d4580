"""Text-to-text backbones (BERT, DistilBERT): one config per variant, built with our own definitions.

Full-size configs are the published ones (config.json of bert-base-cased and of
sentence-transformers/msmarco-distilbert-base-v3), so random-init exports have the real architecture and
parameter count. ``--weights DIR`` takes a Hugging Face model folder and builds the model its config.json
describes (so other sizes of the same family load too), then loads its weights by name.

model.pt: forward(input_ids, attention_mask, token_type_ids) -> N x L x hidden token states (int64 inputs,
attention_mask 1 for tokens, 0 for padding). DistilBERT ignores token_type_ids.
"""
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch

from . import hf_checkpoint, metadata
from .bert import BertConfig, BertModel
from .distilbert import DistilBertConfig, DistilBertModel
from .export import MODEL_FILE, write
from .metadata import count_parameters
from .registry import ExportError, register

TOKENIZER_FILE = hf_checkpoint.TOKENIZER_FILE
TINY_VOCAB = 1000


@dataclass(frozen=True)
class TextFamily:
    model_type: str  # config.json "model_type"
    checkpoint_prefix: str  # prefix of the encoder's keys in checkpoints saved with a task head
    from_hf: Callable[[Mapping[str, Any]], Any]
    build: Callable[[Any], torch.nn.Module]
    trunk: Tuple[str, ...]
    head: Tuple[str, ...]  # children kept in model.pt but not run by forward
    layer_prefix: str
    inputs: Tuple[str, ...]  # inputs the model uses (forward always takes all three)
    hidden: Callable[[Any], int]
    layers: Callable[[Any], int]
    # --size tiny: these config.json fields replace the published ones (the vocabulary is set apart).
    tiny: Dict[str, Any]


FAMILIES = {
    "bert": TextFamily(
        model_type="bert",
        checkpoint_prefix="bert.",
        from_hf=BertConfig.from_hf,
        build=BertModel,
        trunk=("embeddings", "encoder"),
        head=("pooler",),
        layer_prefix="encoder.layer.",
        inputs=("input_ids", "attention_mask", "token_type_ids"),
        hidden=lambda c: c.hidden_size,
        layers=lambda c: c.num_hidden_layers,
        tiny=dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=128),
    ),
    "distilbert": TextFamily(
        model_type="distilbert",
        checkpoint_prefix="distilbert.",
        from_hf=DistilBertConfig.from_hf,
        build=DistilBertModel,
        trunk=("embeddings", "transformer"),
        head=(),
        layer_prefix="transformer.layer.",
        inputs=("input_ids", "attention_mask"),
        hidden=lambda c: c.dim,
        layers=lambda c: c.n_layers,
        tiny=dict(n_layers=2, dim=32, n_heads=2, hidden_dim=64, max_position_embeddings=128),
    ),
}


@dataclass(frozen=True)
class TextVariant:
    name: str
    family: str  # a key of FAMILIES
    config: Dict[str, Any]  # the published config.json (the fields our definitions read)
    lowercase: bool  # whether the published tokenizer lowercases


VARIANTS = [
    TextVariant(
        name="bert-base-cased",
        family="bert",
        config=dict(model_type="bert", vocab_size=28996, hidden_size=768, num_hidden_layers=12,
                    num_attention_heads=12, intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                    layer_norm_eps=1e-12, pad_token_id=0, initializer_range=0.02),
        lowercase=False,
    ),
    TextVariant(
        name="sentence-transformers/msmarco-distilbert-base-v3",
        family="distilbert",
        config=dict(model_type="distilbert", vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072,
                    activation="gelu", dropout=0.1, attention_dropout=0.1, max_position_embeddings=512,
                    pad_token_id=0, initializer_range=0.02, sinusoidal_pos_embds=False),
        lowercase=True,
    ),
]


def _check_vocab(tokenizer_vocab: int, model_vocab: int, tokenizer: str) -> None:
    if tokenizer_vocab > model_vocab:
        raise ExportError(f"tokenizer {tokenizer} has {tokenizer_vocab} tokens but the model's vocabulary has "
                          f"{model_vocab} (token ids would fall outside the embedding table)", exit_code=2)


@dataclass(frozen=True)
class TextModelSpec:
    variant: TextVariant
    task: str = "text-to-text"
    architecture: str = "transformer"
    pooling: str = "mean"  # sentence-transformers' pooling for msmarco-distilbert-base-v3; used for BERT too

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def family(self) -> str:
        return self.variant.family

    def export(self, out_dir: str, size: str, weights_dir: Optional[str], random_init: bool, seed: int,
               progress: Callable[[str], None], tokenizer: Optional[str], vocab_size: Optional[int]) -> dict:
        name, family = self.name, FAMILIES[self.family]
        if vocab_size is not None and (size != "tiny" or weights_dir is not None):
            raise ExportError("--vocab-size applies to --random-init --size tiny only (other sizes take the "
                              "vocabulary of the published config or of DIR/config.json)", exit_code=2)
        if vocab_size is not None and vocab_size < 1:
            raise ExportError(f"--vocab-size must be >= 1, got {vocab_size}", exit_code=2)
        if tokenizer is not None and not os.path.isfile(tokenizer):
            raise ExportError(f"--tokenizer {tokenizer}: no such file", exit_code=2)

        # Where the architecture and weights come from.
        folder = None
        if weights_dir is not None:
            if size != "full":
                raise ExportError("--size tiny builds a random model; with --weights DIR the architecture comes "
                                  "from DIR/config.json", exit_code=2)
            folder = hf_checkpoint.read_folder(weights_dir)
        elif not random_init:
            if size == "full":
                cached = hf_checkpoint.hub_cache_folder(name)
                if cached is not None:
                    folder = hf_checkpoint.read_folder(cached)
            if folder is None:
                raise ExportError(f"no weights for {name} at size {size} and no network here: pass --weights DIR "
                                  "with a Hugging Face model folder (config.json, model.safetensors or "
                                  "pytorch_model.bin, tokenizer.json), or --random-init", exit_code=2)

        tok_info = hf_checkpoint.read_tokenizer(tokenizer) if tokenizer is not None else None
        if folder is not None:
            hf = dict(folder.config)
            model_type = hf.get("model_type")
            if model_type is not None and model_type != family.model_type:
                raise ExportError(f"{folder.path}/config.json is a {model_type!r} model, but {name} is "
                                  f"{family.model_type!r}", exit_code=2)
            self._note_differences(hf, progress)
        elif size == "full":
            hf = dict(self.variant.config)
        else:
            hf = {**self.variant.config, **family.tiny}
            if vocab_size is not None:
                hf["vocab_size"] = vocab_size
            elif tok_info is not None:
                hf["vocab_size"] = tok_info["vocabSize"]
            else:
                hf["vocab_size"] = TINY_VOCAB
        try:
            config = family.from_hf(hf)
        except (TypeError, ValueError) as e:
            where = f"{folder.path}/config.json" if folder is not None else name
            raise ExportError(f"{where}: {e}") from None

        # The tokenizer: --tokenizer FILE, else the folder's tokenizer.json, else none.
        tokenizer_src = tokenizer if tokenizer is not None else (folder.tokenizer if folder is not None else None)
        if tokenizer_src is not None and tok_info is None:
            tok_info = hf_checkpoint.read_tokenizer(tokenizer_src)
        if tok_info is not None:
            _check_vocab(tok_info["vocabSize"], config.vocab_size, tokenizer_src)
        if tokenizer_src is None:
            where = f" ({folder.path} has no {TOKENIZER_FILE})" if folder is not None else ""
            progress(f"{name}: note: no tokenizer{where}; finetuner.json records \"tokenizer\": null, so text "
                     "must be tokenized elsewhere (pass --tokenizer FILE to include one)")
        if tok_info is not None:
            lowercase = tok_info["lowercase"]
        elif folder is not None and "do_lower_case" in folder.tokenizer_config():
            lowercase = bool(folder.tokenizer_config()["do_lower_case"])
        else:
            lowercase = self.variant.lowercase

        # Seeded even when a checkpoint overwrites everything, so every export is reproducible.
        torch.manual_seed(seed)
        origin = f"random init, seed {seed}" if folder is None else f"weights from {folder.weights}"
        progress(f"{name}: building {size} model, {family.layers(config)} layers, hidden {family.hidden(config)} ({origin})")
        model = family.build(config)
        if folder is not None:
            progress(f"{name}: loading {folder.weights}")
            state = hf_checkpoint.load_state_dict(folder.weights)
            hf_checkpoint.load_into(model, state, folder.weights, name, family.checkpoint_prefix,
                                    optional=tuple(f"{h}." for h in family.head), progress=progress)
            del state
        model.eval()

        progress(f"{name}: scripting")
        scripted = torch.jit.script(model)
        hidden = family.hidden(config)
        _check_outputs(scripted, name, hidden, min(config.max_position_embeddings, 16))

        trunk_params = sum(count_parameters(getattr(model, c)) for c in family.trunk)
        meta = {
            "format": metadata.FORMAT,
            "formatVersion": metadata.FORMAT_VERSION,
            "name": name,
            "task": self.task,
            "architecture": self.architecture,
            "family": self.family,
            "size": size,
            "weights": folder.label if folder is not None else "random-init",
            "embeddingDim": hidden,
            "trunk": list(family.trunk),
            "head": list(family.head),
            "pooling": self.pooling,
            "text": {
                "tokenizer": TOKENIZER_FILE if tokenizer_src is not None else None,
                "maxLength": config.max_position_embeddings,
                "vocabSize": config.vocab_size,
                "numLayers": family.layers(config),
                "layerPrefix": family.layer_prefix,
                "inputs": list(family.inputs),
                "lowercase": lowercase,
                "padTokenId": config.pad_token_id,
            },
            "parameters": {"withHead": count_parameters(model), "withoutHead": trunk_params},
            "versions": metadata.versions(),
            "model": MODEL_FILE,
        }
        write(os.path.abspath(out_dir), scripted, meta, name, progress, extra_files={TOKENIZER_FILE: tokenizer_src})
        progress(f"{name}: done ({meta['parameters']['withHead']:,} parameters, embedding dim {hidden})")
        return meta

    def _note_differences(self, hf: Mapping[str, Any], progress: Callable[[str], None]) -> None:
        published = self.variant.config
        keys = [k for k in FAMILIES[self.family].tiny if k != "max_position_embeddings"] + ["vocab_size"]
        diffs = [f"{k} {hf.get(k)} vs {published[k]}" for k in keys if k in hf and hf[k] != published[k]]
        if diffs:
            progress(f"{self.name}: note: config.json differs from the published {self.name} ({', '.join(diffs)}); "
                     "exporting the architecture config.json describes")


def _check_outputs(scripted: torch.jit.ScriptModule, name: str, hidden: int, length: int) -> None:
    """Runs the scripted model as the C++ addon will, at two lengths, with padding in the batch."""
    for n in (length, max(1, length // 2)):
        ids = torch.ones(2, n, dtype=torch.long)
        mask = torch.ones(2, n, dtype=torch.long)
        mask[1, max(1, n // 2):] = 0
        with torch.no_grad():
            out = scripted(ids, mask, torch.zeros_like(ids))
        if tuple(out.shape) != (2, n, hidden) or out.dtype != torch.float32 or not bool(torch.isfinite(out).all()):
            raise ExportError(f"{name}: scripted model gives {out.dtype} {tuple(out.shape)} for 2 x {n} tokens, "
                              f"expected finite float32 (2, {n}, {hidden})")


for _variant in VARIANTS:
    register(TextModelSpec(_variant))
