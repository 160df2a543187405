"""Zero-DCE++: Zero-DCE with depthwise-separable convs and one 3-channel curve shared by all 8 iterations.

The curve is estimated on a bilinearly downscaled copy of the input and upsampled back, which makes it cheap on
large frames. Parameter names follow the public release (`e_convN.depth_conv.*`, `e_convN.point_conv.*`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from darkedge.enhance.zero_dce import ITERATIONS, apply_curve


class SeparableConv(nn.Module):
    """A depthwise 3x3 conv (one filter per input channel) followed by a pointwise 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depth_conv = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels)
        self.point_conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(x))


class ZeroDCEPP(nn.Module):
    """Zero-DCE++ with the curve computed at 1/scale_factor resolution; 10,561 parameters."""

    def __init__(self, scale_factor: float = 1, width: int = 32) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.e_conv1 = SeparableConv(3, width)
        self.e_conv2 = SeparableConv(width, width)
        self.e_conv3 = SeparableConv(width, width)
        self.e_conv4 = SeparableConv(width, width)
        self.e_conv5 = SeparableConv(2 * width, width)
        self.e_conv6 = SeparableConv(2 * width, width)
        self.e_conv7 = SeparableConv(2 * width, 3)

    def curves(self, x: torch.Tensor) -> torch.Tensor:
        """The shared curve map (N, 3, H, W) in [-1, 1], estimated on the downscaled image."""
        small = x
        if self.scale_factor != 1:
            small = F.interpolate(x, scale_factor=1 / self.scale_factor, mode="bilinear")
        # oneDNN runs depthwise and 1x1 convs several times faster on channels-last tensors on a CPU
        small = small.contiguous(memory_format=torch.channels_last)
        x1 = F.relu(self.e_conv1(small))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], dim=1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], dim=1)))
        r = torch.tanh(self.e_conv7(torch.cat([x1, x6], dim=1))).contiguous()
        if self.scale_factor != 1:
            # The public release upsamples with nn.UpsamplingBilinear2d, which aligns corners.
            r = F.interpolate(r, size=x.shape[-2:], mode="bilinear", align_corners=True)
        return r

    def enhance_with_curves(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The enhanced image and the shared curve map (the smoothness loss needs both)."""
        r = self.curves(x)
        for _ in range(ITERATIONS):
            x = apply_curve(x, r)
        return x, r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.enhance_with_curves(x)[0]
