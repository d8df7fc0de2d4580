"""Reading CLIP weights in the three published formats, as state dicts with open_clip's names.

- An open_clip checkpoint file: a state dict saved with torch.save (``.pt``, ``.bin``, ``.pth``; training
  checkpoints wrap it under ``"state_dict"`` with ``module.`` prefixes from DistributedDataParallel) or a
  ``.safetensors`` file. Its names are ours already.
- An OpenAI TorchScript archive (``RN50.pt``, ``ViT-B-32.pt``, as OpenAI's ``clip`` package downloads them):
  loaded with torch.jit.load; its state dict has open_clip's names too, plus three int buffers
  (input_resolution, context_length, vocab_size) that describe the model and are dropped.
- A Hugging Face CLIP folder (``openai/clip-vit-*``: config.json with model_type "clip", model.safetensors or
  pytorch_model.bin): config.json must describe the architecture being exported (each field is checked and
  named when it differs), and its names are mapped to ours by ``hf_to_open_clip``.

``load_strict`` then loads a state dict strictly: missing, unexpected or wrongly shaped keys are one
ExportError naming a few of them.
"""
import os
import re
import zipfile
from typing import Callable, Dict, List, Mapping, Tuple

import torch

from . import hf_checkpoint, safetensors
from .clip_configs import ClipConfig, HFTextConfig
from .registry import ExportError
from .weights import first_keys, read_torch_save, state_dict_problems

# Buffers that describe a model rather than parameterise it: OpenAI's archives carry the first three; older
# checkpoints may hold the causal mask, and XLM-R towers Hugging Face's ``*.position_ids``. Our models compute
# all of them.
DESCRIPTIVE_BUFFERS = ("input_resolution", "context_length", "vocab_size", "attn_mask")
# open_clip's XLM-R tower pools by the mean and never runs Hugging Face's pooler; checkpoints saved before
# open_clip dropped it still hold its weights.
UNUSED_PREFIXES = ("text.transformer.pooler.",)
# BatchNorm's step counter (unused in eval mode): checkpoints written by code older than torch 0.4.1, such
# as OpenAI's ResNets, lack it, and torch fills it in.
OPTIONAL_SUFFIXES = ("num_batches_tracked",)


def _is_torchscript_archive(path: str) -> bool:
    """TorchScript archives are zip files with code/ and constants.pkl; torch.save's zip files have neither."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())


def _torchscript_state_dict(path: str) -> Dict[str, torch.Tensor]:
    try:
        archive = torch.jit.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unreadable archive gets the same one-line error
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"cannot read TorchScript archive {path} ({type(e).__name__}: {detail})") from None
    return dict(archive.state_dict())


def read_checkpoint_file(path: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """An open_clip or OpenAI checkpoint file as a state dict with open_clip's names, and what it was
    ("an OpenAI TorchScript archive", ...)."""
    if path.endswith(".safetensors"):
        try:
            state, kind = safetensors.load_file(path), "a safetensors file"
        except safetensors.SafetensorsError as e:
            raise ExportError(str(e)) from None
        except OSError as e:
            raise ExportError(f"cannot read {path}: {e}") from None
    elif _is_torchscript_archive(path):
        state, kind = _torchscript_state_dict(path), "an OpenAI TorchScript archive"
    else:
        state, kind = read_torch_save(path), "a torch.save checkpoint"
        # open_clip's training checkpoints: {"epoch", "name", "state_dict", "optimizer", ...}
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(f"checkpoint {path} is not a state_dict (a mapping of names to tensors), nor an "
                          "open_clip training checkpoint holding one under \"state_dict\"")
    # Saved from a DistributedDataParallel wrapper.
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}, kind


# ---- Hugging Face CLIP ----------------------------------------------------------------------------------

# Hugging Face's defaults for fields a config.json leaves out (CLIPTextConfig, CLIPVisionConfig, CLIPConfig).
_HF_TEXT_DEFAULTS = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu")
_HF_VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=32, hidden_act="quick_gelu")
_HF_DEFAULTS = dict(projection_dim=512)


def _sub_config(config: Mapping, key: str) -> Mapping:
    # Older files keep the non-default fields in text_config_dict / vision_config_dict.
    for k in (key, f"{key}_dict"):
        if isinstance(config.get(k), dict):
            return config[k]
    return {}


def check_hf_config(config: Mapping, c: ClipConfig, path: str, name: str) -> None:
    """Fails naming the first config.json field that does not describe the architecture ``c``."""
    where = os.path.join(path, hf_checkpoint.CONFIG_FILE)
    if config.get("model_type") != "clip":
        raise ExportError(f"{where} has model_type {config.get('model_type')!r}, expected 'clip' (a Hugging Face "
                          "CLIP folder such as openai/clip-vit-base-patch32)", exit_code=2)
    t, v = c.text, c.vision
    act = "quick_gelu" if c.quick_gelu else "gelu"
    expected = [
        ("", config, _HF_DEFAULTS, dict(projection_dim=c.embed_dim)),
        ("text_config.", _sub_config(config, "text_config"), _HF_TEXT_DEFAULTS, dict(
            vocab_size=t.vocab_size, hidden_size=t.width, intermediate_size=4 * t.width, num_hidden_layers=t.layers,
            num_attention_heads=t.heads, max_position_embeddings=t.context_length, hidden_act=act)),
        ("vision_config.", _sub_config(config, "vision_config"), _HF_VISION_DEFAULTS, dict(
            hidden_size=v.width, intermediate_size=int(v.width * v.mlp_ratio), num_hidden_layers=v.layers,
            num_attention_heads=v.width // v.head_width, image_size=v.image_size, patch_size=v.patch_size,
            hidden_act=act)),
    ]
    for prefix, section, defaults, fields in expected:
        for field, want in fields.items():
            got = section.get(field, defaults[field])
            if got != want:
                raise ExportError(f"{where}: {prefix}{field} is {got!r}, but {name} has {want!r}", exit_code=2)


_HF_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
             "self_attn.out_proj": "attn.out_proj"}
_HF_FIXED = {
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
    "vision_model.embeddings.class_embedding": "visual.class_embedding",
    "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
    "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
    "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",  # sic: Hugging Face's spelling
    "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
    "vision_model.post_layernorm.weight": "visual.ln_post.weight",
    "vision_model.post_layernorm.bias": "visual.ln_post.bias",
    "logit_scale": "logit_scale",
}
# Hugging Face's Linear weights are out x in; open_clip's projections are bare in x out matrices.
_HF_TRANSPOSED = {"text_projection.weight": "text_projection", "visual_projection.weight": "visual.proj"}
_HF_BLOCK = re.compile(r"^(text|vision)_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_TOWER = {"text": "transformer.resblocks", "vision": "visual.transformer.resblocks"}


def hf_to_open_clip(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Hugging Face CLIPModel names -> open_clip's. q/k/v projections are concatenated into MultiheadAttention's
    in_proj; position-id buffers are dropped; names that do not map are kept as they are, so a strict load
    reports them as unexpected."""
    out: Dict[str, torch.Tensor] = {}
    # (block prefix, weight|bias) -> {"q" | "k" | "v": (Hugging Face name, tensor)}
    qkv: Dict[Tuple[str, str], Dict[str, Tuple[str, torch.Tensor]]] = {}
    for key, tensor in state.items():
        if key.endswith("embeddings.position_ids"):
            continue
        if key in _HF_FIXED:
            out[_HF_FIXED[key]] = tensor
            continue
        if key in _HF_TRANSPOSED:
            out[_HF_TRANSPOSED[key]] = tensor.t().contiguous()
            continue
        m = _HF_BLOCK.match(key)
        if m is None:
            out[key] = tensor
            continue
        tower, layer, module, kind = m.groups()
        block = f"{_TOWER[tower]}.{layer}"
        if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
            qkv.setdefault((block, kind), {})[module[len("self_attn.")]] = (key, tensor)
        elif module in _HF_LAYER:
            out[f"{block}.{_HF_LAYER[module]}.{kind}"] = tensor
        else:
            out[key] = tensor
    for (block, kind), parts in qkv.items():
        if set(parts) == {"q", "k", "v"}:
            out[f"{block}.attn.in_proj_{kind}"] = torch.cat([parts[p][1] for p in ("q", "k", "v")], dim=0)
        else:  # incomplete: keep Hugging Face's names, reported as unexpected beside the missing in_proj
            out.update(dict(parts.values()))
    return out


def hf_text_vocab_size(config: Mapping) -> int:
    return int(_sub_config(config, "text_config").get("vocab_size", _HF_TEXT_DEFAULTS["vocab_size"]))


def check_folder_fits(c: ClipConfig, path: str, name: str) -> None:
    if c.vision.is_resnet or isinstance(c.text, HFTextConfig):
        raise ExportError(f"--weights {path} is a folder, but Hugging Face CLIP folders hold ViT CLIPs with "
                          f"OpenAI's text tower; {name} takes an open_clip checkpoint file", exit_code=2)


def read_hf_folder(folder: hf_checkpoint.HfFolder, c: ClipConfig, name: str) -> Dict[str, torch.Tensor]:
    """The weights of a Hugging Face CLIP folder checked against ``c``, under open_clip's names."""
    check_hf_config(folder.config, c, folder.path, name)
    return hf_to_open_clip(hf_checkpoint.load_state_dict(folder.weights))


# ---- loading --------------------------------------------------------------------------------------------

def load_strict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str, name: str,
                progress: Callable[[str], None]) -> None:
    """Loads ``state`` (open_clip names) into ``model``: every parameter must be there with its shape, and
    nothing else may be, except the descriptive buffers and unused weights above."""
    expected = model.state_dict()
    kept: Dict[str, torch.Tensor] = {}
    unused: List[str] = []
    for key, tensor in state.items():
        if key in DESCRIPTIVE_BUFFERS or key.endswith(".position_ids"):
            continue
        if key.startswith(UNUSED_PREFIXES):
            unused.append(key)
            continue
        kept[key] = tensor
    optional = [k for k in expected if k.endswith(OPTIONAL_SUFFIXES) and k not in kept]
    problems = state_dict_problems(kept, {k: v for k, v in expected.items() if k not in optional}, "model")
    if problems:
        raise ExportError(f"checkpoint {path} does not fit {name}: " + "; ".join(problems))
    if unused:
        progress(f"{name}: ignoring {len(unused)} weights the model does not use: {first_keys(unused)}")
    # Published weights may be float16 (OpenAI's): load_state_dict copies them into the float32 parameters.
    model.load_state_dict(kept, strict=False)
