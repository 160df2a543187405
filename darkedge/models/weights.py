"""Reading public weight files (.pth / .pt / .safetensors) and loading them into a module by parameter name.

Pretrained encoders come from local files only; a file that does not fit raises one DarkedgeError line.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from darkedge.checkpoint import load_weights_only
from darkedge.errors import DarkedgeError


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a plain state dict from a .safetensors or torch file (weights_only), unwrapping 'model'/'state_dict'."""
    path = Path(path)
    if not path.is_file():
        raise DarkedgeError(f"{path}: no such weight file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as e:  # safetensors raises several unrelated types for a damaged file
            raise DarkedgeError(f"{path}: unreadable weight file ({type(e).__name__})") from None
    else:
        state = load_weights_only(path)
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DarkedgeError(f"{path}: not a state dict (expected a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_by_name(module: nn.Module, state: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Copy `state` into `module` strictly; missing, unexpected or mis-shaped names raise one error line."""
    own = module.state_dict()
    # Older BatchNorm files lack the step counter, which no computation reads; keep the module's.
    state = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    if mis_shaped:
        problems.append(f"{len(mis_shaped)} of another shape (e.g. {'; '.join(mis_shaped[:2])})")
    if problems:
        raise DarkedgeError(f"{source}: weights do not fit {type(module).__name__}: {'; '.join(problems)}")
    module.load_state_dict(state, strict=True)
