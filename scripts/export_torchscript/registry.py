"""The exporters, keyed by model name.

Each model family module (cnn.py, text.py, clip_export.py) describes its variants as data and calls
``register``. The CLI and the export pipeline only ever see a ``ModelSpec``, or a spec with its own
``export`` pipeline (``text.TextModelSpec``, ``clip_export.ClipModelSpec``: same name/task/architecture/family
fields).

A family with many systematic names (CLIP's 32 ``ARCH::pretrained`` rows) registers them unlisted, so the
"known models" line of an unknown name stays readable, and adds an ``unknown_name_hint`` that explains
near misses of its own names (an unknown pretrained tag, say).
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

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
_UNLISTED = set()  # names left out of the "known models" line (their family's hint covers them)
# name -> the whole error message for an unknown name that a family recognises, or None.
_HINTS: List[Callable[[str], Optional[str]]] = []


def register(spec, listed: bool = True) -> None:  # a ModelSpec, text.TextModelSpec or clip_export.ClipModelSpec
    if spec.name in _REGISTRY:
        raise ValueError(f"exporter {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    if not listed:
        _UNLISTED.add(spec.name)


def unknown_name_hint(hint: Callable[[str], Optional[str]]) -> None:
    _HINTS.append(hint)


def names():
    return sorted(_REGISTRY)


def get(name: str):  # -> ModelSpec | text.TextModelSpec | clip_export.ClipModelSpec
    try:
        return _REGISTRY[name]
    except KeyError:
        pass
    for hint in _HINTS:
        message = hint(name)
        if message is not None:
            raise ExportError(message, exit_code=2)
    listed = [n for n in names() if n not in _UNLISTED]
    raise ExportError(f"unknown model {name!r}; known models: {', '.join(listed)}", exit_code=2)
