"""Quantization-aware distillation: fine-tune the fake-quantized student against the FP32 teacher.

loss = alpha * CE(y, S_q(x)) [labelled clips only] + beta * tau^2 * KL(T(x) || S_q(x))
       + gamma * tau^2 * KL(S_fp32(x) || S_q(x))   [gamma = 0 switches it off]
The FP32 student's term anchors the INT8 student to what it quantizes: where the teacher is weaker than the
student (measured: a 19 % teacher behind an 86 % student), KL to the teacher alone pulled QAT 1.2 points below
PTQ; with both terms QAT matched or beat PTQ on all three premise seeds. The teacher enhances the raw frames
inside its forward, as in training. The model stays in eval mode (dropout off); gradients still reach the
weights and NNCF's learnable quantizer scales. A small learning rate keeps the PTQ ranges meaningful. Under
torchrun every rank trains a DDP copy of the same quantized model.

QAT is a job of the training engine (darkedge.train.engine), as every classifier stage is; after every epoch a
resume checkpoint holds the quantized weights, NNCF's quantizer configuration, the optimiser and schedule states,
so a killed QAT continues where it stopped and ends with the weights an uninterrupted one ends with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from darkedge.data.unlabeled import mixed
from darkedge.errors import DarkedgeError
from darkedge.models.int8_checkpoint import nncf_config_of
from darkedge.names import CALIB_DIR
from darkedge.quant.calib import CALIB_CLIPS
from darkedge.settings import at_least
from darkedge.train.distributed import SINGLE_PROCESS, Dist
from darkedge.train.engine import Job, summary, train_model
from darkedge.train.losses import distillation_loss


@dataclass
class QatConfig:
    """Settings of `darkedge quantize`; saved in RUN/quant/report.json."""

    calib: str = (
        CALIB_DIR  # the calibration clips: a folder `calib build` made, a data set or any clip folder
    )
    calib_clips: int = CALIB_CLIPS  # at most this many set the PTQ ranges
    smooth_quant: bool = True
    epochs: int = 2
    max_steps: int = 0  # stop after this many optimiser steps (0: run every epoch)
    batch_size: int = 8
    accumulate: int = 1  # gradient accumulation: micro-batches per optimiser step
    lr: float = 1e-5
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0
    grad_clip: float = 0.0  # gradient-norm clip (0: none)
    amp: bool = False  # bf16 autocast, CUDA only
    alpha: float = 1.0  # cross-entropy, when labels are known
    beta: float = 1.0  # KL to the FP32 teacher
    gamma: float = 1.0  # KL to the FP32 student (0: off)
    tau: float = 1.0
    use_labels: bool = True  # False: teacher (and student) targets only
    seed: int = 0
    workers: int | None = None  # DataLoader workers; None: chosen from the machine and device
    export: bool = True  # the Q/DQ ONNX and OpenVINO INT8 exports (and TensorRT where installed)

    def __post_init__(self) -> None:
        at_least(self, 1, ("calib_clips", "batch_size", "accumulate"))
        at_least(self, 0, ("epochs", "max_steps", "weight_decay", "warmup_epochs", "grad_clip", "alpha", "beta",
                           "gamma", "workers"))  # fmt: skip
        if not self.lr > 0 or not self.tau > 0:
            raise DarkedgeError(f"lr {self.lr} and tau {self.tau}: must be above 0")


NOT_IN_RESULT = ("calib", "workers", "export")  # not in what QAT trains (the clips are named apart)


def qat_loss(
    student_q: torch.Tensor,
    teacher: torch.Tensor,
    student_fp32: torch.Tensor | None,
    labels: torch.Tensor | None,
    cfg: QatConfig,
    partly_labelled: bool = False,
) -> torch.Tensor:
    """The quantization-aware distillation loss of one batch (unlabelled clips in it: KL terms only)."""
    loss = distillation_loss(
        student_q,
        teacher,
        labels,
        alpha=cfg.alpha,
        beta=cfg.beta,
        tau=cfg.tau,
        partly_labelled=partly_labelled,
    )
    if student_fp32 is not None and cfg.gamma > 0:
        loss = loss + distillation_loss(student_q, student_fp32, None, beta=cfg.gamma, tau=cfg.tau)
    return loss


def resume_settings(cfg: QatConfig, data: str) -> dict[str, Any]:
    """What a QAT result depends on: its settings (not where they are read from or written to, nor the worker
    count) and the clips it trains on."""
    return {**{k: v for k, v in asdict(cfg).items() if k not in NOT_IN_RESULT}, "data": data}


def finetune_quantized(
    qmodel: nn.Module,
    teacher: nn.Module,
    student_fp32: nn.Module | None,
    dataset: Dataset,
    labelled: bool,
    cfg: QatConfig,
    d: Dist = SINGLE_PROCESS,
    resume_path: Path | None = None,
    resume: bool = False,
    data: str = "",
    view: Callable[[torch.Tensor], torch.Tensor] | None = None,
    unlabeled: Dataset | None = None,
    unlabeled_ratio: float = 1.0,
) -> dict[str, Any]:
    """Train `qmodel` in place on `dataset` (clip, label) pairs with the training engine; returns the steps, the
    mean loss, the clips seen and skipped, and the time spent waiting for data.

    With `resume_path`, rank 0 writes a resume checkpoint there after every epoch (`data` names the clips, to
    tell runs apart); with `resume` too, training continues from the one found there. With `view`, the students
    (INT8 and FP32) see their view of each clip while the teacher sees the clip as loaded (darkedge.data.views).
    With `unlabeled` clips, every batch holds `unlabeled_ratio` of them per labelled clip: KL terms only.
    """
    teacher.to(d.device).eval()
    if student_fp32 is not None:
        student_fp32.to(d.device).eval()
    use_labels = labelled and cfg.use_labels
    gamma = student_fp32 is not None and cfg.gamma > 0

    last: dict[str, torch.Tensor] = {}  # the batch whose view was made last, and its view

    def inputs(clips: torch.Tensor) -> torch.Tensor:
        """The student's view of the batch, made once though the FP32 student's target needs it too."""
        if view is None:
            return clips
        if last.get("clips") is not clips:
            last.update(clips=clips, view=view(clips))
        return last["view"]

    def targets(clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return teacher(clips), student_fp32(inputs(clips)) if gamma else None

    batches = None
    if unlabeled is not None and unlabeled_ratio > 0:
        dataset, batches = mixed(dataset, unlabeled, cfg.batch_size, unlabeled_ratio)

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor, target) -> torch.Tensor:
        return qat_loss(
            logits, target[0], target[1], labels if use_labels else None, cfg, batches is not None
        )

    job = Job(
        name="QAT",
        model=qmodel,
        train_set=dataset,
        loss_fn=loss_fn,
        settings=cfg,
        targets=targets,
        inputs=inputs,
        train_mode=False,  # dropout off; gradients still reach the weights and the quantizers' scales
        drop_last=True,
        batches=batches,
        resume_path=resume_path,
        resume_key=resume_settings(cfg, data),
        resume_mismatch="resume checkpoint of QAT with other settings or data; run `darkedge quantize` without --resume",
        extra_state=lambda: {"nncf_config": nncf_config_of(qmodel)},
    )
    history = train_model(job, d, resume)
    qmodel.eval()
    return {**summary(history), "device": d.device}
