"""The exporters, keyed by model name.

Each model family module (cnn.py, text.py; CLIP exporters later) describes its variants as data and
calls ``register``. The CLI and the export pipeline only ever see a ``ModelSpec``, or for text models a
``text.TextModelSpec`` (same name/task/architecture/family fields, plus its own ``export`` pipeline).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple

import torch


class ExportError(Exception):
    """A failure reported as one line on stderr. exit_code 2: bad usage; 1: the export itself failed."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # "image-to-image", later "text-to-text", "text-to-image"
    architecture: str  # "cnn" | "transformer"
    family: str
    # size ("full" | "tiny") -> freshly initialised eager model (uses the global torch RNG).
    build: Callable[[str], torch.nn.Module]
    # Direct children of the model, run in order by the C++ addon to get the N x C x H x W feature map.
    trunk: Tuple[str, ...]
    # Direct children dropped by the addon.
    head: Tuple[str, ...]
    pooling: str
    # The width C of the trunk's output, read from the built model (tiny models differ from full ones).
    embedding_dim: Callable[[torch.nn.Module], int]
    # size -> {"resize", "crop", "interpolation", "mean", "std"}
    preprocessing: Mapping[str, Mapping[str, object]]
    # URL of the published weights for size "full"; its base name is looked up in the torch hub cache.
    checkpoint_url: Optional[str] = None


_REGISTRY: Dict[str, ModelSpec] = {}


def register(spec) -> None:  # a ModelSpec or a text.TextModelSpec
    if spec.name in _REGISTRY:
        raise ValueError(f"exporter {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec


def names():
    return sorted(_REGISTRY)


def get(name: str):  # -> ModelSpec | text.TextModelSpec
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ExportError(f"unknown model {name!r}; known models: {', '.join(names())}", exit_code=2) from None
