"""R(2+1)D clip encoder (Tran et al. 2018), the R(2+1)D + BERT baseline's backbone.

Every 3x3x3 convolution is split into a 1x3x3 spatial one and a 3x1x1 temporal one with `midplanes` channels
between them, chosen so the pair has as many parameters as the full 3D kernel. Names follow torchvision's
VideoResNet (stem.*, layerK.N.conv1.0.0 ...), so a local checkpoint in that layout loads by name (fc dropped).
Layers 2-4 halve time, height and width; the encoder returns the spatially pooled features of the surviving
time steps as tokens: (B, 3, T, H, W) -> (B, T/8, 512).

Two public layouts exist: torchvision's R(2+1)D-18 reuses a block's first midplanes for its second convolution,
while the IG65M R(2+1)D-34 (converted from Caffe2) computes each convolution's midplanes from its own channels
and uses BatchNorm eps 1e-3.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch
from torch import nn

from darkedge.models.scaling import scale_channels
from darkedge.models.weights import load_by_name, read_state_dict


@dataclass
class R2Plus1DConfig:
    """Depth and width of an R(2+1)D network and which public layout its midplanes follow."""

    layers: tuple[int, int, int, int]
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    stem_mid: int = 45
    caffe2_midplanes: bool = False
    bn_eps: float = 1e-5

    def scaled(self, width: float) -> R2Plus1DConfig:
        """The same depth with every channel count multiplied by `width` (darkedge.models.scaling)."""
        return dataclasses.replace(
            self,
            widths=tuple(scale_channels(w, width) for w in self.widths),
            stem_mid=scale_channels(self.stem_mid, width),
        )


R2PLUS1D_SIZES = {
    "r2plus1d_18": R2Plus1DConfig(layers=(2, 2, 2, 2)),
    "r2plus1d_34": R2Plus1DConfig(layers=(3, 4, 6, 3), caffe2_midplanes=True, bn_eps=1e-3),
    "r2plus1d_nano": R2Plus1DConfig(layers=(1, 1, 1, 1), widths=(8, 16, 32, 64), stem_mid=8),  # fast tests
}


def midplanes(inplanes: int, planes: int) -> int:
    """Channels between the spatial and temporal convolutions: parameters of a full 3x3x3 kernel."""
    return (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)


class Conv2Plus1D(nn.Sequential):
    """1x3x3 spatial convolution, BatchNorm, ReLU, 3x1x1 temporal convolution; `stride` applies to all axes."""

    def __init__(self, inplanes: int, planes: int, mid: int, stride: int, eps: float):
        super().__init__(
            nn.Conv3d(inplanes, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid, eps=eps),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
        )


class BasicBlock(nn.Module):
    """Two (2+1)D convolutions with a residual connection (1x1x1 projection when the shape changes)."""

    def __init__(self, inplanes: int, planes: int, stride: int, cfg: R2Plus1DConfig):
        super().__init__()
        mid1 = midplanes(inplanes, planes)
        mid2 = midplanes(planes, planes) if cfg.caffe2_midplanes else mid1
        eps = cfg.bn_eps
        self.conv1 = nn.Sequential(
            Conv2Plus1D(inplanes, planes, mid1, stride, eps),
            nn.BatchNorm3d(planes, eps=eps),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(Conv2Plus1D(planes, planes, mid2, 1, eps), nn.BatchNorm3d(planes, eps=eps))
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes, eps=eps)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


class R2Plus1D(nn.Module):
    """R(2+1)D clip encoder: (B, 3, T, H, W) -> (B, ceil(T/8), widths[-1]) spatially pooled tokens."""

    def __init__(self, cfg: R2Plus1DConfig):
        super().__init__()
        self.cfg = cfg
        self.dim = cfg.widths[-1]
        self.num_heads = max(1, self.dim // 64)
        eps = cfg.bn_eps
        self.stem = nn.Sequential(
            nn.Conv3d(3, cfg.stem_mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(cfg.stem_mid, eps=eps),
            nn.ReLU(inplace=True),
            nn.Conv3d(cfg.stem_mid, cfg.widths[0], (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(cfg.widths[0], eps=eps),
            nn.ReLU(inplace=True),
        )
        inplanes = cfg.widths[0]
        for index, (blocks, planes) in enumerate(zip(cfg.layers, cfg.widths, strict=True)):
            stride = 1 if index == 0 else 2
            layer = [BasicBlock(inplanes, planes, stride, cfg)]
            layer += [BasicBlock(planes, planes, 1, cfg) for _ in range(blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*layer))
            inplanes = planes
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def num_tokens(self, num_frames: int) -> int:
        """Time steps left after the three stride-2 temporal convolutions (kernel 3, padding 1)."""
        for _ in range(3):
            num_frames = (num_frames - 1) // 2 + 1
        return num_frames

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(clip)))))
        return x.mean(dim=(3, 4)).transpose(1, 2)

    def load_pretrained(self, path: str | os.PathLike) -> None:
        """Load a torchvision / IG65M-layout R(2+1)D state dict by name, dropping the fc classifier."""
        state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("fc.")}
        load_by_name(self, state, path)
