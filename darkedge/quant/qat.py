"""Quantization-aware distillation: fine-tune the fake-quantized student against the FP32 teacher.

loss = alpha * CE(y, S_q(x)) [labelled clips only] + beta * tau^2 * KL(T(x) || S_q(x))
       + gamma * tau^2 * KL(S_fp32(x) || S_q(x))   [gamma = 0 switches it off]
The FP32 student's term anchors the INT8 student to what it quantizes: where the teacher is weaker than the
student (measured: a 19 % teacher behind an 86 % student), KL to the teacher alone pulled QAT 1.2 points below
PTQ; with both terms QAT matched or beat PTQ on all three premise seeds. The teacher enhances the raw frames
inside its forward, as in training. The model stays in eval mode (dropout off); gradients still reach the
weights and NNCF's learnable quantizer scales. A small learning rate keeps the PTQ ranges meaningful. Under
torchrun every rank trains a DDP copy of the same quantized model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from darkedge.data.dataset import collate_clips
from darkedge.errors import DarkedgeError
from darkedge.train.distributed import Dist, all_reduce_sum
from darkedge.train.loop import seed_epoch, warmup_cosine
from darkedge.train.losses import distillation_loss


@dataclass
class QatConfig:
    """Settings of `darkedge quantize`; saved in RUN/quant/report.json."""

    calib_clips: int = 64  # at most this many calibration clips set the PTQ ranges
    smooth_quant: bool = True
    epochs: int = 2
    max_steps: int = 0  # stop after this many optimiser steps (0: run every epoch)
    batch_size: int = 8
    lr: float = 1e-5
    weight_decay: float = 0.0
    alpha: float = 1.0  # cross-entropy, when labels are known
    beta: float = 1.0  # KL to the FP32 teacher
    gamma: float = 1.0  # KL to the FP32 student (0: off)
    tau: float = 1.0
    use_labels: bool = True  # False: teacher (and student) targets only
    seed: int = 0
    workers: int = 0


def qat_loss(
    student_q: torch.Tensor,
    teacher: torch.Tensor,
    student_fp32: torch.Tensor | None,
    labels: torch.Tensor | None,
    cfg: QatConfig,
) -> torch.Tensor:
    """The quantization-aware distillation loss of one batch."""
    loss = distillation_loss(student_q, teacher, labels, alpha=cfg.alpha, beta=cfg.beta, tau=cfg.tau)
    if student_fp32 is not None and cfg.gamma > 0:
        loss = loss + distillation_loss(student_q, student_fp32, None, beta=cfg.gamma, tau=cfg.tau)
    return loss


def finetune_quantized(
    qmodel: nn.Module,
    teacher: nn.Module,
    student_fp32: nn.Module | None,
    dataset: Dataset,
    labelled: bool,
    cfg: QatConfig,
    d: Dist,
) -> dict[str, float]:
    """Train `qmodel` in place on `dataset` (clip, label) pairs; returns the mean loss and clips seen/skipped."""
    device = d.device
    qmodel.to(device).eval()
    teacher.to(device).eval()
    if student_fp32 is not None:
        student_fp32.to(device).eval()
    sampler = (
        DistributedSampler(dataset, d.world_size, d.rank, shuffle=True, seed=cfg.seed) if d.enabled else None
    )
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=generator if sampler is None else None,
        num_workers=cfg.workers,
        collate_fn=collate_clips,
        drop_last=len(dataset) >= cfg.batch_size * d.world_size,
    )
    if len(loader) == 0:
        raise DarkedgeError("quantize: no training clips for quantization-aware distillation")
    trained = DistributedDataParallel(qmodel) if d.enabled else qmodel
    params = [p for p in qmodel.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = len(loader) * cfg.epochs
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, 0, total))
    step, loss_sum, seen, skipped = 0, 0.0, 0, 0
    bar = tqdm(total=total, desc="QAT with distillation", unit="step", disable=not d.is_main)
    for epoch in range(cfg.epochs):
        seed_epoch(cfg.seed, epoch, d.rank)
        if sampler is not None:
            sampler.set_epoch(epoch)
        for clips, labels, n_skipped in loader:
            skipped += n_skipped
            if step >= total:
                break
            if all_reduce_sum(d, [float(clips is None)])[0] > 0:  # every rank skips together (see train.loop)
                continue
            clips = clips.to(device)
            with torch.no_grad():
                teacher_logits = teacher(clips)
                fp32_logits = student_fp32(clips) if student_fp32 is not None and cfg.gamma > 0 else None
            targets = labels.to(device) if labelled and cfg.use_labels else None
            loss = qat_loss(trained(clips), teacher_logits, fp32_logits, targets, cfg)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            loss_sum += loss.item() * len(clips)
            seen += len(clips)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
    bar.close()
    loss_sum, seen, skipped = all_reduce_sum(d, [loss_sum, float(seen), float(skipped)])
    qmodel.eval()
    return {
        "steps": step,
        "mean_loss": loss_sum / max(seen, 1),
        "clips_seen": int(seen),
        "clips_skipped": int(skipped),
    }
