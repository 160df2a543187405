"""Random-weight models at a training preset's architecture and input shape, exported for latency benchmarks.

Latency does not depend on the weights, so the benchmark scripts can measure the designs before (or without)
a trained run: the checkpoints, FP32 IRs and a PTQ INT8 student IR land in `out` like a run's export/.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from darkedge.checkpoint import save_checkpoint
from darkedge.config import make_config
from darkedge.data.synth.actions import CLASSES
from darkedge.enhance import EnhancerConfig
from darkedge.export.openvino import export_openvino
from darkedge.factory import classifier_config
from darkedge.models import build_model, model_input_shape
from darkedge.names import STAGE_KINDS
from darkedge.quant.ptq import quantize_ptq


def preset_configs(
    preset: str, num_frames: int | None = None, num_classes: int = len(CLASSES), **overrides: Any
) -> dict[str, dict]:
    """Model configs of the student, teacher and two-stream as `preset` trains them (`num_frames` and the other
    TrainConfig `overrides`, student_encoder say, may differ); `num_classes` defaults to the built-in data set's."""
    cfg = make_config(preset, num_frames=num_frames, **overrides)
    enhancer = EnhancerConfig(name=cfg.enhancer.name, scale_factor=cfg.enhancer.scale_factor)
    teacher = {"enhancer": asdict(enhancer), "classifier": classifier_config(cfg, num_classes, "teacher")}
    return {
        "student": classifier_config(cfg, num_classes, "student"),
        "teacher": teacher,
        "two_stream": teacher,
    }


def make_preset_models(
    preset: str,
    out: Path,
    num_frames: int | None = None,
    batch: int = 1,
    int8_models: tuple[str, ...] = ("student",),
    calibration_clips: int = 4,
    **overrides: Any,
) -> dict[str, tuple[Path, Path]]:
    """{name: (model file, checkpoint)} for <model>_fp32 and <model>_int8 (for `int8_models`) OpenVINO IRs, with
    TrainConfig `overrides` (student_encoder, say).

    INT8 is NNCF post-training quantization on random clips (the same graph QAT produces; only the ranges differ).
    """
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, config in preset_configs(preset, num_frames, **overrides).items():
        torch.manual_seed(0)
        model = build_model(STAGE_KINDS[name], config, load_pretrained=False).eval()
        checkpoint = save_checkpoint(
            out / f"{name}.pt", kind=STAGE_KINDS[name], config=config, state_dict=model.state_dict()
        )
        shape = (batch, *model_input_shape(config))
        made[f"{name}_fp32"] = (export_openvino(model, shape, out / f"{name}_fp32.xml", "fp32"), checkpoint)
        if name in int8_models:
            clips = [torch.rand(1, *shape[1:]) * 0.3 for _ in range(calibration_clips)]  # dark-ish frames
            quantized = quantize_ptq(model, clips)
            made[f"{name}_int8"] = (
                export_openvino(quantized, shape, out / f"{name}_int8.xml", "int8"),
                checkpoint,
            )
    return made
