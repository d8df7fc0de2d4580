"""Where the weights come from: a checkpoint file, the torch hub cache, or a seeded random init."""
import os
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlparse

import torch

from .registry import ExportError, ModelSpec

RANDOM_INIT = "random-init"
_SHOW_KEYS = 5  # how many offending keys an error message names


@dataclass(frozen=True)
class WeightsSource:
    path: Optional[str]  # None: random init
    label: str  # finetuner.json "weights": "random-init" or the checkpoint's base name


def resolve(spec: ModelSpec, size: str, weights: Optional[str], random_init: bool) -> WeightsSource:
    if random_init:
        return WeightsSource(None, RANDOM_INIT)
    if weights is not None:
        if not os.path.isfile(weights):
            raise ExportError(f"--weights {weights}: no such file", exit_code=2)
        return WeightsSource(os.path.abspath(weights), os.path.basename(weights))
    if size != "full" or spec.checkpoint_url is None:
        raise ExportError(f"{spec.name} at size {size} has no published weights: pass --random-init "
                          "or --weights FILE", exit_code=2)
    # torchvision would download the checkpoint into the hub cache; use it if someone put it there.
    file_name = os.path.basename(urlparse(spec.checkpoint_url).path)
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", file_name)
    if os.path.isfile(cached):
        return WeightsSource(cached, file_name)
    raise ExportError(f"no weights for {spec.name} (looked for {cached}) and no network here: pass --weights "
                      f"FILE with a torchvision checkpoint such as {file_name}, or --random-init", exit_code=2)


def first_keys(keys) -> str:
    keys = list(keys)
    more = f" (+{len(keys) - _SHOW_KEYS} more)" if len(keys) > _SHOW_KEYS else ""
    return ", ".join(keys[:_SHOW_KEYS]) + more


def state_dict_problems(state, expected, what: str, optional=()) -> list:
    """Missing keys (except those under an ``optional`` prefix), unexpected keys, and, when the names
    agree, shape mismatches between a checkpoint's ``state`` and the model's ``expected`` state dict."""
    missing = [k for k in expected if k not in state and not any(k.startswith(o) for o in optional)]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {first_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {first_keys(unexpected)}")
    if not problems:
        wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
                 for k in state if state[k].shape != expected[k].shape]
        if wrong:
            problems.append(f"shape mismatches (checkpoint vs {what}): {first_keys(wrong)}")
    return problems


def read_torch_save(path: str):
    """torch.load of a checkpoint file, with one clear line when it cannot be read."""
    try:
        # weights_only: a checkpoint is tensors, so refuse to unpickle arbitrary objects from it.
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line error
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"cannot read checkpoint {path} as a file saved with torch.save "
                          f"({type(e).__name__}: {detail})") from e


def load_checkpoint(model: torch.nn.Module, path: str, name: str) -> None:
    """Strictly loads a torchvision-style checkpoint (a state_dict saved with torch.save) into model."""
    state = read_torch_save(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(f"checkpoint {path} is not a state_dict (a mapping of names to tensors) "
                          "as torchvision saves them")

    # Checked here rather than left to load_state_dict so the error is one line naming the first keys.
    problems = state_dict_problems(state, model.state_dict(), "model")
    if problems:
        raise ExportError(f"checkpoint {path} does not fit {name}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
