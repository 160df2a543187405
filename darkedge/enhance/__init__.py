"""Low-light enhancers: Zero-DCE, Zero-DCE++ and gamma correction, built from a config or loaded from a file.

`load_enhancer` reads a darkedge checkpoint of kind "enhancer" or a public Zero-DCE / Zero-DCE++ state dict
(`.pth`, optionally saved from DataParallel with a `module.` prefix). Both load with weights_only=True.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from darkedge.checkpoint import check_checkpoint, is_checkpoint, load_weights_only
from darkedge.enhance.gamma import GammaCorrection
from darkedge.enhance.zero_dce import ZeroDCE
from darkedge.enhance.zero_dce_pp import ZeroDCEPP
from darkedge.errors import DarkedgeError
from darkedge.names import ENHANCER_NAMES

NAMES = tuple(ENHANCER_NAMES)


@dataclass
class EnhancerConfig:
    """Which enhancer and its parameters: scale_factor is Zero-DCE++'s (1 in the public checkpoints), gamma is gamma
    correction's. A trained one's come from its recipe (config.EnhancerTrainConfig)."""

    name: str
    scale_factor: float = 1
    gamma: float = 1.8


def build_enhancer(cfg: EnhancerConfig) -> nn.Module:
    """A freshly initialised enhancer for `cfg`; takes and returns (N, 3, H, W) in [0, 1] (output not clamped)."""
    if cfg.name == "zero_dce":
        return ZeroDCE()
    if cfg.name == "zero_dce_pp":
        return ZeroDCEPP(scale_factor=cfg.scale_factor)
    if cfg.name == "gamma":
        return GammaCorrection(cfg.gamma)
    raise DarkedgeError(f"enhancer '{cfg.name}': unknown, expected one of {', '.join(NAMES)}")


def load_enhancer(path: str | os.PathLike, scale_factor: float | None = None) -> nn.Module:
    """The enhancer stored at `path`, in eval mode; `scale_factor` overrides Zero-DCE++'s downscaling factor."""
    path = Path(path)
    content = load_weights_only(path)
    if is_checkpoint(content):
        ckpt = check_checkpoint(path, content, kind="enhancer")
        try:
            cfg = EnhancerConfig(**ckpt["config"])
        except TypeError:
            raise DarkedgeError(
                f"{path}: enhancer config {sorted(ckpt['config'])} is not an EnhancerConfig"
            ) from None
        state = ckpt["state_dict"]
    else:
        state = _public_state_dict(path, content)
        cfg = EnhancerConfig(name="zero_dce_pp" if "e_conv1.depth_conv.weight" in state else "zero_dce")
    if scale_factor is not None:
        cfg.scale_factor = scale_factor
    model = build_enhancer(cfg)
    _check_layout(path, model, state)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _public_state_dict(path: Path, content: object) -> dict[str, torch.Tensor]:
    """A public Zero-DCE / Zero-DCE++ state dict with any DataParallel `module.` prefix removed."""
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise DarkedgeError(f"{path}: neither a darkedge enhancer checkpoint nor a Zero-DCE state dict")
    return {k.removeprefix("module."): v for k, v in content.items()}


def _check_layout(path: Path, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Refuse a state dict whose keys or shapes differ from `model`'s, naming the first difference."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    name = type(model).__name__
    if missing:
        raise DarkedgeError(f"{path}: not a {name} state dict: missing key '{missing[0]}'")
    if unexpected:
        raise DarkedgeError(f"{path}: not a {name} state dict: unexpected key '{unexpected[0]}'")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise DarkedgeError(
                f"{path}: not a {name} state dict: '{key}' has shape {tuple(state[key].shape)}, "
                f"expected {tuple(tensor.shape)}"
            )
