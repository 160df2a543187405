"""X3D-style clip encoder (Feichtenhofer 2020): depthwise-separable 3D convolutions, the efficient family for the box.

Each block is an inverted bottleneck: a 1x1x1 convolution widens the channels, a depthwise 3x3x3 convolution mixes
space and time channel by channel, a 1x1x1 convolution narrows them again, with a residual connection when the
shape is kept (none where a stage starts, as in MobileNetV2). The stem is a 1x3x3 convolution then a depthwise
temporal one, as in X3D; time is never strided, so the encoder returns one token per frame: (B, 3, T, H, W) ->
(B, T, dim) after a 1x1x1 convolution to `dim` channels and spatial average pooling.

Kept INT8-friendly on purpose: convolution + BatchNorm (folded at export) + ReLU only. X3D's squeeze-excitation
and swish are left out: the sigmoid gate and swish stay in floating point in an INT8 graph, while after a ReLU an
activation quantizer is unsigned, which OpenVINO's CPU kernels run fastest (darkedge.export.openvino). The depthwise
3D convolutions run as OpenVINO's int8 depthwise kernels (`brgconv_avx512_dw_I8`) on a VNNI CPU; the family's
latency against the other students is in benchmarks/results/frontier.md. A 2D MobileNet with temporal shift (TSM)
was measured too and left out: its shifts (slices and concatenations) broke OpenVINO's int8 chain, so the
convolutions after them ran in FP32; at 18 M MACs per 8 x 48 px clip its INT8 IR took 0.33 ms against 0.36 in FP32,
where an X3D of the same cost took 0.22 against 0.34 (p50, 2 threads, side by side on a shared machine).
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
class X3DConfig:
    """Widths and depths of an X3D-style encoder; a block's hidden width is `expansion` x its output width."""

    stem: int
    widths: tuple[int, ...]  # output channels of each stage (the first block of a stage halves H and W)
    depths: tuple[int, ...]  # blocks per stage
    expansion: float = 3.0
    dim: int = 96  # channels of the last 1x1x1 convolution: the token width
    stem_time: int = 5  # temporal kernel of the stem's depthwise convolution

    def scaled(self, width: float) -> X3DConfig:
        """The same layout with every channel count multiplied by `width` (darkedge.models.scaling)."""
        return dataclasses.replace(
            self,
            stem=scale_channels(self.stem, width),
            widths=tuple(scale_channels(w, width) for w in self.widths),
            dim=scale_channels(self.dim, width),
        )


X3D_SIZES = {
    # CPU students at 8 x 48 x 48: about 5 M and 18 M multiply-accumulates per clip
    "x3d_nano": X3DConfig(stem=8, widths=(8, 16, 32, 48), depths=(1, 1, 2, 1), dim=96),
    "x3d_micro": X3DConfig(stem=12, widths=(16, 32, 64, 96), depths=(1, 2, 2, 2), dim=192),
    # X3D-S's widths and depths (stem 24, stages 24-192, 3-5-11-7 blocks, expansion 2.25, 432 channels at the end)
    "x3d_s": X3DConfig(stem=24, widths=(24, 48, 96, 192), depths=(3, 5, 11, 7), expansion=2.25, dim=432),
}


def conv_bn(
    inputs: int, outputs: int, kernel: tuple[int, int, int], stride: int = 1, groups: int = 1, relu=True
):
    """Convolution (padding keeps the size; `stride` on height and width only), BatchNorm and optionally ReLU."""
    layers = [
        nn.Conv3d(
            inputs,
            outputs,
            kernel,
            stride=(1, stride, stride),
            padding=tuple(k // 2 for k in kernel),
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm3d(outputs),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedBottleneck(nn.Module):
    """1x1x1 expand, depthwise 3x3x3 (spatial `stride`), 1x1x1 project; residual when the shape is kept."""

    def __init__(self, inputs: int, outputs: int, hidden: int, stride: int):
        super().__init__()
        self.expand = conv_bn(inputs, hidden, (1, 1, 1))
        self.depthwise = conv_bn(hidden, hidden, (3, 3, 3), stride, groups=hidden)
        self.project = conv_bn(hidden, outputs, (1, 1, 1), relu=False)
        self.residual = inputs == outputs and stride == 1
        if self.residual:  # the block starts as the identity: deep stacks train from scratch
            nn.init.zeros_(self.project[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class X3D(nn.Module):
    """X3D-style clip encoder: (B, 3, T, H, W) -> (B, T, dim) spatially pooled tokens, one per frame."""

    def __init__(self, cfg: X3DConfig):
        super().__init__()
        self.cfg = cfg
        self.dim = cfg.dim
        self.num_heads = max(1, cfg.dim // 64)
        self.stem = nn.Sequential(
            conv_bn(3, cfg.stem, (1, 3, 3), stride=2),
            conv_bn(cfg.stem, cfg.stem, (cfg.stem_time, 1, 1), groups=cfg.stem),
        )
        blocks, inputs = [], cfg.stem
        for outputs, depth in zip(cfg.widths, cfg.depths, strict=True):
            hidden = scale_channels(outputs, cfg.expansion)
            for i in range(depth):
                blocks.append(InvertedBottleneck(inputs, outputs, hidden, 2 if i == 0 else 1))
                inputs = outputs
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(inputs, cfg.dim, (1, 1, 1))
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def num_tokens(self, num_frames: int) -> int:
        """One token per frame: time is never strided."""
        return num_frames

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(clip)))
        return x.mean(dim=(3, 4)).transpose(1, 2)

    def load_pretrained(self, path: str | os.PathLike) -> None:
        """Load an encoder state dict of this layout by name (e.g. one saved from another darkedge run)."""
        load_by_name(self, read_state_dict(path), path)
