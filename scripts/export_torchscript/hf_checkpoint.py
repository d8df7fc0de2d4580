"""Hugging Face model folders: config.json, the weights (model.safetensors or pytorch_model.bin, sharded
or not), tokenizer.json; finding them in the hub cache; and loading their state dict into our own
BERT/DistilBERT definitions (CLIP folders: clip_weights.py maps their names first).

Checkpoints differ in small ways that Hugging Face's loader smooths over, and so do we: a model prefix
(``bert.``, ``distilbert.``) when saved from a model with a task head, the heads themselves (``cls.*``,
``vocab_*``, ``qa_outputs``...), ``LayerNorm.gamma/beta`` in old BERT files, and position-id buffers.
"""
import json
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch

from . import safetensors
from .registry import ExportError
from .weights import first_keys, read_torch_save, state_dict_problems

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
# In order of preference; *.index.json are the indexes of sharded checkpoints.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
# Buffers some checkpoints carry that our models compute instead.
BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def _read_json(path: str, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportError(f"cannot read {what} {path}: {e}") from None
    if not isinstance(value, dict):
        raise ExportError(f"{what} {path} is not a JSON object")
    return value


@dataclass(frozen=True)
class HfFolder:
    path: str  # the folder holding config.json
    config: dict
    weights: str  # the weights file (or shard index) inside path
    tokenizer: Optional[str]  # path of tokenizer.json, None when the folder has none

    @property
    def label(self) -> str:
        """finetuner.json "weights": the folder's name and the weights file, e.g. bert-base-cased/model.safetensors."""
        return f"{os.path.basename(os.path.normpath(self.path))}/{os.path.basename(self.weights)}"

    def tokenizer_config(self) -> dict:
        path = os.path.join(self.path, TOKENIZER_CONFIG_FILE)
        return _read_json(path, "tokenizer config") if os.path.isfile(path) else {}


def read_folder(path: str) -> HfFolder:
    """Finds config.json, the weights and tokenizer.json in a Hugging Face (or sentence-transformers) folder."""
    if not os.path.isdir(path):
        raise ExportError(f"--weights {path}: no such directory (text models take a Hugging Face model folder "
                          f"with {CONFIG_FILE} and model.safetensors or pytorch_model.bin)", exit_code=2)
    folder = os.path.abspath(path)
    # Old sentence-transformers folders keep the transformer in 0_Transformer/.
    if not os.path.isfile(os.path.join(folder, CONFIG_FILE)) and os.path.isfile(os.path.join(folder, "0_Transformer", CONFIG_FILE)):
        folder = os.path.join(folder, "0_Transformer")
    config_path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise ExportError(f"{folder} has no {CONFIG_FILE}: a Hugging Face model folder holds {CONFIG_FILE} "
                          "beside its weights", exit_code=2)
    config = _read_json(config_path, "model config")
    weights = next((os.path.join(folder, f) for f in WEIGHT_FILES if os.path.isfile(os.path.join(folder, f))), None)
    if weights is None:
        raise ExportError(f"{folder} has no weights: expected model.safetensors or pytorch_model.bin "
                          f"(found: {', '.join(sorted(os.listdir(folder))) or 'nothing'})", exit_code=2)
    tokenizer = os.path.join(folder, TOKENIZER_FILE)
    return HfFolder(folder, config, weights, tokenizer if os.path.isfile(tokenizer) else None)


def hub_cache_folder(name: str) -> Optional[str]:
    """The snapshot of `name` in the Hugging Face hub cache, if someone put one there."""
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    hub = os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(hf_home, "hub")
    repo = os.path.join(hub, "models--" + name.replace("/", "--"))
    try:
        with open(os.path.join(repo, "refs", "main"), encoding="utf-8") as f:
            snapshot = os.path.join(repo, "snapshots", f.read().strip())
    except OSError:
        return None
    return snapshot if os.path.isdir(snapshot) else None


def _load_bin(path: str) -> Dict[str, torch.Tensor]:
    state = read_torch_save(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(f"checkpoint {path} is not a state_dict (a mapping of names to tensors)")
    return state


def _load_one(path: str) -> Dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        try:
            return safetensors.load_file(path)
        except safetensors.SafetensorsError as e:
            raise ExportError(str(e)) from None
        except OSError as e:
            raise ExportError(f"cannot read {path}: {e}") from None
    return _load_bin(path)


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Reads a weights file, or every shard named by a *.index.json."""
    if not path.endswith(".index.json"):
        return _load_one(path)
    index = _read_json(path, "checkpoint index")
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ExportError(f"checkpoint index {path} has no weight_map")
    state: Dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = os.path.join(os.path.dirname(path), str(shard))
        if not os.path.isfile(shard_path):
            raise ExportError(f"checkpoint index {path} names {shard}, which is not in {os.path.dirname(path)}")
        state.update(_load_one(shard_path))
    return state


def _rename(key: str) -> str:
    if key.endswith(".gamma"):
        return key[: -len(".gamma")] + ".weight"
    if key.endswith(".beta"):
        return key[: -len(".beta")] + ".bias"
    return key


def load_into(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str, name: str, prefix: str,
              optional: Sequence[str], progress: Callable[[str], None]) -> None:
    """Loads a Hugging Face state dict into model, strictly for every parameter the encoder uses.

    prefix ("bert.") is stripped where present; keys outside the model's own top-level children are task
    heads and are ignored (listed in the progress output); keys under ``optional`` (the BERT pooler, which
    the export keeps but never runs) may be missing.
    """
    expected = model.state_dict()
    children = {k.split(".", 1)[0] for k in expected}
    renamed: Dict[str, torch.Tensor] = {}
    ignored: List[str] = []
    for key, tensor in state.items():
        k = _rename(key)
        if k.startswith(prefix):
            k = k[len(prefix):]
        if k in BUFFERS:
            continue
        if k.split(".", 1)[0] not in children:
            ignored.append(key)
            continue
        renamed[k] = tensor

    missing = [k for k in expected if k not in renamed]
    problems = state_dict_problems(renamed, expected, "config.json", optional)
    if problems:
        raise ExportError(f"checkpoint {path} does not fit {name}: " + "; ".join(problems))
    if ignored:
        progress(f"{name}: ignoring {len(ignored)} keys outside the encoder (task heads): {first_keys(ignored)}")
    if missing:
        progress(f"{name}: note: the checkpoint has no {first_keys(missing)}; left at their random initialisation "
                 "(not used for token states)")
    # Checkpoints may be float16/bfloat16: load_state_dict copies into the float32 parameters.
    model.load_state_dict(renamed, strict=False)


def read_tokenizer(path: str) -> dict:
    """The facts finetuner.json records about a tokenizer.json: vocabulary size and lowercasing."""
    tok = _read_json(path, "tokenizer")
    model = tok.get("model")
    if not isinstance(model, dict) or "vocab" not in model:
        raise ExportError(f"tokenizer {path} has no model.vocab (is it a Hugging Face tokenizer.json?)")
    vocab = model["vocab"]
    if isinstance(vocab, dict):  # WordPiece, BPE: token -> id
        ids = [int(i) for i in vocab.values()]
    elif isinstance(vocab, list):  # Unigram: [token, score] in id order
        ids = list(range(len(vocab)))
    else:
        raise ExportError(f"tokenizer {path}: model.vocab is neither an object nor a list")
    ids += [int(t["id"]) for t in tok.get("added_tokens") or [] if isinstance(t, dict) and "id" in t]
    if not ids:
        raise ExportError(f"tokenizer {path} has an empty vocabulary")
    return {"vocabSize": max(ids) + 1, "lowercase": _lowercases(tok.get("normalizer"))}


def _lowercases(normalizer) -> bool:
    if not isinstance(normalizer, dict):
        return False
    kind = normalizer.get("type")
    if kind == "Lowercase":
        return True
    if kind == "BertNormalizer":
        return bool(normalizer.get("lowercase", True))
    if kind == "Sequence":
        return any(_lowercases(n) for n in normalizer.get("normalizers") or [])
    return False
