"""finetuner.json for an exported backbone (schema: docs/DESIGN.md, "Exported backbone directory")."""
import platform

import torch
import torchvision

from .registry import ModelSpec

FORMAT = "finetuner-backbone"
FORMAT_VERSION = 1


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build(spec: ModelSpec, size: str, weights_label: str, model: torch.nn.Module, embedding_dim: int,
          model_file: str) -> dict:
    trunk_params = sum(count_parameters(getattr(model, child)) for child in spec.trunk)
    return {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "name": spec.name,
        "task": spec.task,
        "architecture": spec.architecture,
        "family": spec.family,
        "size": size,
        "weights": weights_label,
        "embeddingDim": embedding_dim,
        "trunk": list(spec.trunk),
        "head": list(spec.head),
        "pooling": spec.pooling,
        "preprocessing": dict(spec.preprocessing[size]),
        "parameters": {"withHead": count_parameters(model), "withoutHead": trunk_params},
        "versions": versions(),
        "model": model_file,
    }


def versions() -> dict:
    """The Python stack that exported the model (finetuner.json "versions")."""
    return {
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
    }
