"""Gamma intensity correction, the cheap enhancer DarkLight uses (gamma 1.8): out = in ** (1 / gamma)."""

from __future__ import annotations

import torch
from torch import nn


class GammaCorrection(nn.Module):
    """Brightens [0, 1] images with out = in ** (1 / gamma); gamma > 1 lifts the shadows. No parameters."""

    def __init__(self, gamma: float = 1.8) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Negative inputs would give NaN under a fractional power; they are not valid intensities anyway.
        return x.clamp(min=0) ** (1 / self.gamma)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"
