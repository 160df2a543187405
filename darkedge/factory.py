"""The models of a run, built from its config: what train, quantize and bench all make from a run directory.

`classifier_config` is the plain config of a stage's classifier (the student's own encoder, width, frames and
crop for the student, the raw baseline and the self-training control; the teacher's for the rest); `with_enhancer`
builds a teacher or a two-stream model around the run's trained, frozen enhancer; `load_stage` reads a trained
stage back.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from darkedge.checkpoint import load_checkpoint
from darkedge.config import TrainConfig
from darkedge.enhance import load_enhancer
from darkedge.models import ClassifierConfig, build_model, load_model
from darkedge.models.encoders import family_of
from darkedge.names import STAGE_KINDS, STUDENT_MODELS
from darkedge.run import Run, check_classes


def classifier_config(cfg: TrainConfig, num_classes: int, model: str) -> dict[str, Any]:
    """The plain classifier config of `model` (a stage): the student's encoder, width, frames and crop for the
    student models (STUDENT_MODELS), the teacher's for the teacher's classifier and the two-stream streams.

    The `pretrained` encoder file is the teacher's encoder's, so a student of another encoder or width starts
    without it.
    """
    feeding = cfg.feeding(model)
    encoder, width = cfg.encoder, 1.0
    if model in STUDENT_MODELS:
        encoder, width = cfg.student_encoder or cfg.encoder, cfg.student_width
    pretrained = cfg.pretrained if (encoder, width) == (cfg.encoder, 1.0) else None
    return asdict(
        ClassifierConfig(
            encoder=encoder,
            head=cfg.head,
            num_classes=num_classes,
            num_frames=feeding.frames,
            img_size=feeding.crop,
            head_depth=cfg.head_depth,
            dropout=cfg.dropout,
            pretrained=pretrained,
            input_norm=cfg.input_norm,
            width=width,
            freeze_blocks=cfg.freeze_blocks if pretrained else 0,  # only pretrained layers are worth keeping
            **(
                {"mean": None, "std": None} if family_of(encoder).own_norm else {}
            ),  # the encoder's own constants
        )
    )


def enhancer_state(run: Run) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The trained enhancer's config and weights, checked (a darkedge enhancer checkpoint whose weights fit)."""
    path = run.checkpoint("enhancer")
    config = load_checkpoint(path, kind=STAGE_KINDS["enhancer"])["config"]
    return config, load_enhancer(path).state_dict()


def with_enhancer(kind: str, run: Run) -> tuple[nn.Module, dict[str, Any]]:
    """A teacher or two-stream model holding the run's trained (frozen) enhancer, and its plain config."""
    enhancer_config, enhancer_weights = enhancer_state(run)
    classifier = classifier_config(run.config, len(run.class_names), kind)
    config = {"enhancer": enhancer_config, "classifier": classifier}
    model = build_model(kind, config)
    model.enhancer.load_state_dict(enhancer_weights)
    return model, config


def load_stage(run: Run, stage: str) -> nn.Module:
    """One of the run's trained models (teacher, raw, student ...), checked: a darkedge checkpoint of the stage's
    kind over the run's classes."""
    path = run.checkpoint(stage)
    model, ckpt = load_model(path, kind=STAGE_KINDS[stage])
    check_classes(ckpt["class_names"], run.class_names, path, run.path)
    return model
