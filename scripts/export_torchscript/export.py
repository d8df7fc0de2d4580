"""The export pipeline: build, load weights, script, check, write DIR/model.pt and DIR/finetuner.json.

``export`` runs the image (CNN) pipeline here; text and CLIP specs bring their own (text.py, clip_export.py),
which share ``write``.
"""
import json
import os
import shutil
from typing import Callable, Dict, Optional

import torch

from . import metadata, weights
from .registry import ExportError, ModelSpec

MODEL_FILE = "model.pt"
METADATA_FILE = "finetuner.json"


def _trunk_channels(scripted: torch.jit.ScriptModule, spec: ModelSpec) -> int:
    """Runs the trunk children of the *scripted* model in order, as the C++ addon will, on a small image."""
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        for child in spec.trunk:
            x = getattr(scripted, child)(x)
    if x.dim() != 4:
        raise ExportError(f"{spec.name}: trunk output has shape {tuple(x.shape)}, expected N x C x H x W")
    return int(x.shape[1])


def export(spec: ModelSpec, out_dir: str, size: str, weights_file: Optional[str], random_init: bool,
           seed: int, progress: Callable[[str], None], tokenizer: Optional[str] = None,
           vocab_size: Optional[int] = None) -> dict:
    if spec.task in ("text-to-text", "text-to-image"):  # their own pipelines (text.py, clip_export.py)
        return spec.export(out_dir, size, weights_file, random_init, seed, progress, tokenizer, vocab_size)
    if tokenizer is not None or vocab_size is not None:
        raise ExportError(f"--tokenizer and --vocab-size apply to text models, not {spec.name}", exit_code=2)
    source = weights.resolve(spec, size, weights_file, random_init)
    out_dir = os.path.abspath(out_dir)

    # Seeded even when a checkpoint overwrites everything, so every export is reproducible.
    torch.manual_seed(seed)
    origin = f"random init, seed {seed}" if source.path is None else f"weights from {source.path}"
    progress(f"{spec.name}: building {size} model ({origin})")
    model = spec.build(size)
    if source.path is not None:
        progress(f"{spec.name}: loading {source.path}")
        weights.load_checkpoint(model, source.path, spec.name)
    model.eval()

    progress(f"{spec.name}: scripting")
    scripted = torch.jit.script(model)
    embedding_dim = spec.embedding_dim(model)
    channels = _trunk_channels(scripted, spec)
    if channels != embedding_dim:
        raise ExportError(f"{spec.name}: trunk {list(spec.trunk)} gives {channels} channels, "
                          f"but the head expects {embedding_dim}")
    meta = metadata.build(spec, size, source.label, model, embedding_dim, MODEL_FILE)
    write(out_dir, scripted, meta, spec.name, progress)
    progress(f"{spec.name}: done ({meta['parameters']['withHead']:,} parameters, embedding dim {embedding_dim})")
    return meta


def write(out_dir: str, scripted: torch.jit.ScriptModule, meta: dict, name: str, progress: Callable[[str], None],
          extra_files: Optional[Dict[str, Optional[str]]] = None) -> None:
    """Writes DIR/model.pt, then extra_files (name in DIR -> file to copy, or None: remove a stale one),
    then DIR/finetuner.json last."""
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, MODEL_FILE)
    meta_path = os.path.join(out_dir, METADATA_FILE)
    tmp_model = os.path.join(out_dir, f".{MODEL_FILE}.{os.getpid()}.tmp")
    tmp_meta = os.path.join(out_dir, f".{METADATA_FILE}.{os.getpid()}.tmp")
    extra_files = extra_files or {}
    tmp_extra = {n: os.path.join(out_dir, f".{n}.{os.getpid()}.tmp") for n, src in extra_files.items() if src}
    try:
        progress(f"{name}: writing {model_path}")
        scripted.save(tmp_model)
        for n, tmp in tmp_extra.items():
            shutil.copyfile(extra_files[n], tmp)
        with open(tmp_meta, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        # finetuner.json goes last: a directory whose finetuner.json exists holds a complete export. A
        # stale one from an earlier export goes first, so it never describes the new model.pt.
        if os.path.exists(meta_path):
            os.remove(meta_path)
        os.replace(tmp_model, model_path)
        for n in extra_files:
            if n in tmp_extra:
                os.replace(tmp_extra[n], os.path.join(out_dir, n))
            elif os.path.exists(os.path.join(out_dir, n)):
                os.remove(os.path.join(out_dir, n))
        os.replace(tmp_meta, meta_path)
    except OSError as e:
        raise ExportError(f"cannot write {out_dir}: {e}") from e
    finally:
        for tmp in (tmp_model, tmp_meta, *tmp_extra.values()):
            if os.path.exists(tmp):
                os.remove(tmp)
