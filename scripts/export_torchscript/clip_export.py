"""CLIP backbones (task ``text-to-image``): the 32 CLIP rows of shared/backbones.csv, exported whole.

Names are ``ARCH::pretrained`` (open_clip's architecture and pretrained tag, e.g. ``ViT-B-32::openai``) and
the Hugging Face ports of OpenAI's ViTs (``openai/clip-vit-base-patch32``...). The architecture is
clip_configs' variant; its activation is that of the published weights (``pretrained_quick_gelu``: every
OpenAI checkpoint and a few early open_clip ones use QuickGELU whatever the architecture's name), recorded
as ``clip.quickGelu`` and in ``clip.variant`` (``ViT-B-32::openai`` is ``ViT-B-32-quickgelu``).

Weights (``--weights``, see clip_weights): an open_clip checkpoint file, an OpenAI TorchScript archive, or a
Hugging Face CLIP folder; without it, the Hugging Face hub cache for the openai/clip-vit-* names, else
``--random-init``. ``--size tiny`` is clip_configs.tiny(): the same towers, 32-dimensional embeddings.

model.pt (docs/DESIGN.md, "CLIP backbones"): the scripted CLIP in eval mode with
encode_image(images N x 3 x S x S) and encode_text(input_ids, attention_mask), both N x embeddingDim.
"""
import difflib
import os
from dataclasses import dataclass, replace
from typing import Callable, Dict, Optional, Tuple

import torch

from . import clip_weights, hf_checkpoint, metadata
from .clip_configs import (HF_VARIANTS, ClipConfig, HFTextConfig, build_from_config, config, count_towers,
                           pretrained_quick_gelu, variant_for_backbone)
from .export import MODEL_FILE, write
from .registry import ExportError, register, unknown_name_hint

TOKENIZER_FILE = hf_checkpoint.TOKENIZER_FILE

# The pretrained tags backbones.csv lists per open_clip architecture (open_clip's pretrained.py names them).
PRETRAINED: Dict[str, Tuple[str, ...]] = {
    "RN50": ("openai", "yfcc15m", "cc12m"),
    "RN50-quickgelu": ("openai", "yfcc15m", "cc12m"),
    "RN101": ("openai", "yfcc15m"),
    "RN101-quickgelu": ("openai", "yfcc15m"),
    "RN50x4": ("openai",),
    "RN50x16": ("openai",),
    "RN50x64": ("openai",),
    "ViT-B-32": ("openai", "laion400m_e31", "laion400m_e32", "laion2b_e16"),
    "ViT-B-32-quickgelu": ("openai", "laion400m_e31", "laion400m_e32"),
    "ViT-B-16": ("openai", "laion400m_e31", "laion400m_e32"),
    "ViT-B-16-plus-240": ("laion400m_e31", "laion400m_e32"),
    "ViT-L-14": ("openai",),
    "ViT-L-14-336": ("openai",),
    "xlm-roberta-base-ViT-B-32": ("laion5b_s13b_b90k",),
}
NAMES: Tuple[str, ...] = (tuple(f"{arch}::{tag}" for arch, tags in PRETRAINED.items() for tag in tags)
                          + tuple(HF_VARIANTS))

# OpenAI CLIP's image normalisation, which every checkpoint here was trained with.
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
CHECK_TOKENS = 77  # the output check runs at most this many tokens (XLM-R takes 512: slow at full size)


def _with_vocab(c: ClipConfig, vocab_size: int) -> ClipConfig:
    if isinstance(c.text, HFTextConfig):
        return replace(c, text=replace(c.text, config=replace(c.text.config, vocab_size=vocab_size)))
    return replace(c, text=replace(c.text, vocab_size=vocab_size))


def _vocab_size(c: ClipConfig) -> int:
    return c.text.config.vocab_size if isinstance(c.text, HFTextConfig) else c.text.vocab_size


def _check_vocab(tokenizer_vocab: int, model_vocab: int, tokenizer: str) -> None:
    if tokenizer_vocab > model_vocab:
        raise ExportError(f"tokenizer {tokenizer} has {tokenizer_vocab} tokens but the model's vocabulary has "
                          f"{model_vocab} (token ids would fall outside the embedding table)", exit_code=2)


def _weights_source(name: str, size: str, weights_path: Optional[str], random_init: bool
                    ) -> Tuple[Optional[str], Optional[str]]:
    """(Hugging Face folder, checkpoint file): at most one is set; neither means random init."""
    if weights_path is not None:
        if os.path.isdir(weights_path):
            return weights_path, None
        if os.path.isfile(weights_path):
            return None, os.path.abspath(weights_path)
        raise ExportError(f"--weights {weights_path}: no such file or directory (CLIP takes an open_clip checkpoint, "
                          "an OpenAI TorchScript archive or a Hugging Face CLIP folder)", exit_code=2)
    if random_init:
        return None, None
    cached = hf_checkpoint.hub_cache_folder(name) if size == "full" and name in HF_VARIANTS else None
    if cached is None:
        raise ExportError(f"no weights for {name} at size {size} and no network here: pass --weights with an "
                          "open_clip checkpoint file, an OpenAI TorchScript archive (RN50.pt, ViT-B-32.pt) or a "
                          "Hugging Face CLIP folder, or --random-init", exit_code=2)
    return cached, None


@dataclass(frozen=True)
class ClipModelSpec:
    name: str
    task: str = "text-to-image"
    architecture: str = "transformer"  # backbones.csv's column, for the ResNet image towers too

    @property
    def variant(self) -> str:
        """The clip_configs architecture (``ViT-B-32``, ``RN50-quickgelu``...)."""
        return variant_for_backbone(self.name)

    @property
    def quick_gelu(self) -> bool:
        return pretrained_quick_gelu(self.name)

    @property
    def variant_label(self) -> str:
        """finetuner.json clip.variant: the open_clip name of the architecture with the exported activation."""
        v = self.variant
        return f"{v}-quickgelu" if self.quick_gelu and not v.endswith("-quickgelu") else v

    @property
    def xlm_roberta(self) -> bool:
        return isinstance(config(self.variant).text, HFTextConfig)

    @property
    def family(self) -> str:
        return "clip-xlm-roberta" if self.xlm_roberta else "clip"

    def architecture_config(self, size: str) -> ClipConfig:
        return replace(config(self.variant, size), quick_gelu=self.quick_gelu)

    def export(self, out_dir: str, size: str, weights_path: Optional[str], random_init: bool, seed: int,
               progress: Callable[[str], None], tokenizer: Optional[str], vocab_size: Optional[int]) -> dict:
        name = self.name
        if vocab_size is not None and size != "tiny":
            raise ExportError("--vocab-size applies to --size tiny only (full-size CLIPs have the published "
                              "vocabulary)", exit_code=2)
        if vocab_size is not None and vocab_size < (2 if self.xlm_roberta else 1):
            raise ExportError(f"--vocab-size must be >= {2 if self.xlm_roberta else 1} for {name}, got {vocab_size}",
                              exit_code=2)
        if tokenizer is not None and not os.path.isfile(tokenizer):
            raise ExportError(f"--tokenizer {tokenizer}: no such file", exit_code=2)

        folder_path, file_path = _weights_source(name, size, weights_path, random_init)
        if folder_path is not None:
            clip_weights.check_folder_fits(self.architecture_config(size), folder_path, name)
        tok_info = hf_checkpoint.read_tokenizer(tokenizer) if tokenizer is not None else None
        folder = hf_checkpoint.read_folder(folder_path) if folder_path is not None else None

        # The architecture. At size tiny the vocabulary is free: --vocab-size, else the tokenizer's, else that
        # of the folder's config.json, else tiny()'s.
        c = self.architecture_config(size)
        if size == "tiny":
            vocab = vocab_size or (tok_info["vocabSize"] if tok_info is not None else None)
            if vocab is None and folder is not None:
                vocab = clip_weights.hf_text_vocab_size(folder.config)
            if vocab is not None:
                c = _with_vocab(c, vocab)
        if self.xlm_roberta and _vocab_size(c) <= c.text.config.pad_token_id:
            raise ExportError(f"{name}: a vocabulary of {_vocab_size(c)} has no padding token "
                              f"(id {c.text.config.pad_token_id})", exit_code=2)

        # The weights, under open_clip's names.
        state = None
        if folder is not None:
            state = clip_weights.read_hf_folder(folder, c, name)
            source, label = folder.weights, folder.label
        elif file_path is not None:
            state, kind = clip_weights.read_checkpoint_file(file_path)
            progress(f"{name}: {file_path} is {kind}")
            source, label = file_path, os.path.basename(file_path)
        else:
            source, label = None, "random-init"

        # The tokenizer: --tokenizer FILE, else the folder's tokenizer.json, else none.
        tokenizer_src = tokenizer if tokenizer is not None else (folder.tokenizer if folder is not None else None)
        if tokenizer_src is not None and tok_info is None:
            tok_info = hf_checkpoint.read_tokenizer(tokenizer_src)
        if tok_info is not None:
            _check_vocab(tok_info["vocabSize"], _vocab_size(c), tokenizer_src)
        else:
            progress(f"{name}: note: no tokenizer; finetuner.json records \"tokenizer\": null, so text must be "
                     "tokenized elsewhere (pass --tokenizer FILE to include one)")

        # Seeded even when a checkpoint overwrites everything, so every export is reproducible.
        torch.manual_seed(seed)
        origin = f"random init, seed {seed}" if source is None else f"weights from {source}"
        progress(f"{name}: building {size} {self.variant_label} ({origin})")
        model = build_from_config(c)
        if state is not None:
            progress(f"{name}: loading {source}")
            clip_weights.load_strict(model, state, source, name, progress)
            del state
        model.eval()

        progress(f"{name}: scripting")
        scripted = torch.jit.script(model)
        max_length = int(model.context_length)
        pad_id = c.text.config.pad_token_id if self.xlm_roberta else 0
        _check_outputs(scripted, name, c.embed_dim, c.vision.image_size, min(max_length, CHECK_TOKENS),
                       _vocab_size(c), pad_id)

        meta = self._metadata(model, c, size, label, tokenizer_src, tok_info, max_length, pad_id)
        write(os.path.abspath(out_dir), scripted, meta, name, progress, extra_files={TOKENIZER_FILE: tokenizer_src})
        progress(f"{name}: done ({meta['parameters']['withHead']:,} parameters, embedding dim {c.embed_dim})")
        return meta

    def _metadata(self, model: torch.nn.Module, c: ClipConfig, size: str, weights_label: str,
                  tokenizer_src: Optional[str], tok_info: Optional[dict], max_length: int, pad_id: int) -> dict:
        counts = count_towers(model)
        if self.xlm_roberta:
            layers, layer_prefix, pooling = c.text.config.num_hidden_layers, "text.transformer.encoder.layer.", "mean"
            lowercase = False  # XLM-R's SentencePiece keeps case
        else:
            layers, layer_prefix, pooling = c.text.layers, "transformer.resblocks.", "eot"
            lowercase = True  # CLIP's BPE tokenizer lowercases
        if tok_info is not None:
            lowercase = tok_info["lowercase"]
        image = c.vision.image_size
        return {
            "format": metadata.FORMAT,
            "formatVersion": metadata.FORMAT_VERSION,
            "name": self.name,
            "task": self.task,
            "architecture": self.architecture,
            "family": self.family,
            "size": size,
            "weights": weights_label,
            "embeddingDim": c.embed_dim,
            # Every top-level module belongs to one of the towers; logit_scale is a bare parameter.
            "trunk": [n for n, _ in model.named_children()],
            "head": [],
            "preprocessing": {"resize": image, "crop": image, "interpolation": "bicubic", "mean": MEAN, "std": STD},
            "text": {
                "tokenizer": TOKENIZER_FILE if tokenizer_src is not None else None,
                "maxLength": max_length,
                "vocabSize": _vocab_size(c),
                "numLayers": layers,
                "layerPrefix": layer_prefix,
                "inputs": ["input_ids", "attention_mask"],
                "lowercase": lowercase,
                "padTokenId": pad_id,
            },
            "clip": {
                "variant": self.variant_label,
                "imageTower": "visual",
                "textPooling": pooling,
                "quickGelu": self.quick_gelu,
                "logitScale": float(model.logit_scale.detach()),
                "imageParameters": counts["image"],
                "textParameters": counts["text"],
            },
            "parameters": {"withHead": counts["total"], "withoutHead": counts["total"]},
            "versions": metadata.versions(),
            "model": MODEL_FILE,
        }


def _check_outputs(scripted: torch.jit.ScriptModule, name: str, dim: int, image_size: int, length: int,
                   vocab_size: int, pad_id: int) -> None:
    """Runs both methods of the scripted model as the C++ addon will: two lengths, padding in the batch."""
    generator = torch.Generator().manual_seed(0)  # leaves the global RNG (and so the export) untouched
    images = torch.randn(2, 3, image_size, image_size, generator=generator)
    results = []
    with torch.no_grad():
        results.append(("images", scripted.encode_image(images)))
        for n in (length, max(1, length // 2)):
            ids = torch.randint(0, vocab_size, (2, n), generator=generator)
            mask = torch.ones(2, n, dtype=torch.long)
            mask[1, max(1, n // 2):] = 0
            ids[mask == 0] = pad_id
            results.append((f"2 x {n} tokens", scripted.encode_text(ids, mask)))
    for what, out in results:
        if tuple(out.shape) != (2, dim) or out.dtype != torch.float32 or not bool(torch.isfinite(out).all()):
            raise ExportError(f"{name}: scripted model gives {out.dtype} {tuple(out.shape)} for 2 {what}, "
                              f"expected finite float32 (2, {dim})")


def _unknown_name(name: str) -> Optional[str]:
    """Explains names that look like ours: an unknown pretrained tag, a missing tag, a near miss."""
    arch, sep, tag = name.partition("::")
    if arch in PRETRAINED:
        known = ", ".join(sorted(PRETRAINED[arch]))
        if sep:
            return f"{arch} has no pretrained tag {tag!r}; known: {known}"
        return f"{arch} needs a pretrained tag ({arch}::TAG); known: {known}"
    close = difflib.get_close_matches(name, NAMES, n=3, cutoff=0.8)
    if sep or name.startswith("openai/clip") or close:
        guess = f"did you mean {' or '.join(close)}? " if close else ""
        return f"unknown CLIP model {name!r}; {guess}known CLIP models: {', '.join(sorted(NAMES))}"
    return None


for _name in NAMES:
    register(ClipModelSpec(_name), listed=False)
unknown_name_hint(_unknown_name)
