"""Model registry: build any model kind from the plain config a checkpoint holds, load checkpoints, count cost.

Kinds: "classifier" (config = asdict(ClassifierConfig)); "teacher", "dtcm" and "two_stream"
(config = {"enhancer": asdict(EnhancerConfig), "classifier": asdict(ClassifierConfig)}). Every model takes a
clip (B, 3, T, H, W) in [0, 1] and returns logits (B, num_classes).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from darkedge.checkpoint import load_checkpoint
from darkedge.enhance import EnhancerConfig, build_enhancer
from darkedge.errors import DarkedgeError
from darkedge.models.classifier import ENCODERS, ClassifierConfig, ClipFeatures, VideoClassifier
from darkedge.models.teacher import Teacher
from darkedge.models.two_stream import TwoStream
from darkedge.models.weights import load_by_name
from darkedge.names import MODEL_KINDS

__all__ = [
    "ENCODERS",
    "ClassifierConfig",
    "ClipFeatures",
    "Teacher",
    "TwoStream",
    "VideoClassifier",
    "build_model",
    "classifier_config_of",
    "count_macs",
    "count_parameters",
    "load_model",
    "model_input_shape",
]


def classifier_config_of(kind: str, config: dict[str, Any]) -> ClassifierConfig:
    """The ClassifierConfig inside a model config of any kind (darkedge.factory.classifier_config makes a run's)."""
    if kind not in MODEL_KINDS:
        raise DarkedgeError(f"model kind '{kind}': unknown, expected one of {', '.join(MODEL_KINDS)}")
    if kind == "classifier":
        return ClassifierConfig.from_dict(config)
    if not isinstance(config.get("classifier"), dict) or not isinstance(config.get("enhancer"), dict):
        raise DarkedgeError(f"{kind} config: needs 'enhancer' and 'classifier' sections")
    return ClassifierConfig.from_dict(config["classifier"])


def build_model(kind: str, config: dict[str, Any], load_pretrained: bool = True) -> nn.Module:
    """A model of `kind` from its plain config; the encoder's `pretrained` file is read when `load_pretrained`."""
    cfg = classifier_config_of(kind, config)
    if kind == "classifier":
        model = VideoClassifier(cfg)
    else:
        try:
            enhancer_cfg = EnhancerConfig(**config["enhancer"])
        except TypeError as e:
            raise DarkedgeError(f"{kind} config: bad 'enhancer' section ({e})") from None
        enhancer = build_enhancer(enhancer_cfg)
        if kind == "two_stream":
            model = TwoStream(enhancer, cfg)
        else:
            model = Teacher(enhancer, VideoClassifier(cfg), joint=kind == "dtcm")
    if load_pretrained and cfg.pretrained:
        for module in model.modules():
            if isinstance(module, ClipFeatures):
                module.encoder.load_pretrained(cfg.pretrained)
    return model


def load_model(
    path: str | os.PathLike, kind: str | tuple[str, ...] | None = None, expect: dict[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights strictly; returns (model in eval mode, ckpt).

    `expect` holds classifier config fields that must match (e.g. {"num_classes": 11, "encoder": "vit_tiny"}).
    """
    ckpt = load_checkpoint(path, kind or MODEL_KINDS)
    try:
        cfg = classifier_config_of(ckpt["kind"], ckpt["config"])
        model = build_model(ckpt["kind"], ckpt["config"], load_pretrained=False)
    except DarkedgeError as e:
        raise DarkedgeError(f"{path}: bad model config: {e}") from None
    for name, wanted in (expect or {}).items():
        found = getattr(cfg, name, None)
        if found != wanted:
            raise DarkedgeError(f"{path}: checkpoint has {name}={found!r}, expected {wanted!r}")
    load_by_name(model, ckpt["state_dict"], path)
    return model.eval(), ckpt


def model_input_shape(config_or_ckpt: ClassifierConfig | dict[str, Any]) -> tuple[int, int, int, int]:
    """The clip shape (3, T, S, S) a model takes, from a ClassifierConfig, a model config or a checkpoint dict."""
    cfg = config_or_ckpt
    if isinstance(cfg, dict):
        if "state_dict" in cfg:
            cfg = cfg["config"]
        cfg = ClassifierConfig.from_dict(cfg.get("classifier", cfg))
    return (3, cfg.num_frames, cfg.img_size, cfg.img_size)


def count_parameters(model: nn.Module) -> int:
    """All parameters, trainable or frozen."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward on a zero tensor of `input_shape` (batch included), attention included.

    FlopCounterMode counts 2 FLOPs per MAC; attention runs on the math backend so its matmuls are counted.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
