"""Zero-DCE (DCE-Net): a 7-layer CNN that predicts 8 pixel-wise light-enhancement curves for a dark image.

Parameter names follow the public release (`e_conv1.weight` ... `e_conv7.bias`), so its state dict loads
unchanged. Input RGB in [0, 1] with no mean/std; the output is not clamped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ITERATIONS = 8


def apply_curve(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """One light-enhancement curve step, LE(x) = x + r (x^2 - x): negative r brightens, positive r darkens."""
    return x + r * (x * x - x)


class ZeroDCE(nn.Module):
    """DCE-Net: 3x3 convs with 32 channels and symmetric skip concatenations; 79,416 parameters."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.e_conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.e_conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.e_conv3 = nn.Conv2d(width, width, 3, padding=1)
        self.e_conv4 = nn.Conv2d(width, width, 3, padding=1)
        self.e_conv5 = nn.Conv2d(2 * width, width, 3, padding=1)
        self.e_conv6 = nn.Conv2d(2 * width, width, 3, padding=1)
        self.e_conv7 = nn.Conv2d(2 * width, 3 * ITERATIONS, 3, padding=1)

    def curves(self, x: torch.Tensor) -> torch.Tensor:
        """The curve maps (N, 24, H, W) in [-1, 1]: channels 3i..3i+2 drive iteration i."""
        x = x.contiguous(memory_format=torch.channels_last)  # faster oneDNN convs on a CPU
        x1 = F.relu(self.e_conv1(x))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], dim=1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], dim=1)))
        return torch.tanh(self.e_conv7(torch.cat([x1, x6], dim=1))).contiguous()

    def enhance_with_curves(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The enhanced image and the curve maps it was made with (the smoothness loss needs both)."""
        r = self.curves(x)
        for r_i in torch.split(r, 3, dim=1):
            x = apply_curve(x, r_i)
        return x, r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.enhance_with_curves(x)[0]
