"""One classifier stage of `darkedge train` (teacher, student, raw baseline, self-training control, two-stream) on
the training engine.

The stage says what the engine cannot know: the loss (cross-entropy, or distillation against a teacher's logits
on the same raw clip, with optional feature hints), the evaluation on the test split after the last epoch (and
every `eval_every` epochs), and what is written when it ends: RUN/<stage>.pt, its confusion matrix, and the
per-epoch RUN/<stage>/history.json the engine keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from darkedge.checkpoint import save_checkpoint
from darkedge.config import TrainConfig
from darkedge.data.loader import resolve_workers
from darkedge.data.unlabeled import mixed
from darkedge.errors import DarkedgeError
from darkedge.models.teacher import classifier_of
from darkedge.train.distributed import SINGLE_PROCESS, Dist, barrier
from darkedge.train.engine import RESUME_FILE, Job, train_model
from darkedge.train.evaluate import describe_protocol, evaluate, save_confusion_png
from darkedge.train.losses import distillation_loss, hint_loss

log = logging.getLogger(__name__)


class FeatureHints:
    """Catches the student's and the teacher's temporal-head features as their forwards run (hooks on their
    ClipFeatures), for the hint term of the loss; the models stay as they are, so nothing else changes."""

    def __init__(self, student: nn.Module, teacher: nn.Module):
        s, t = student.backbone, classifier_of(teacher).backbone
        if s.dim != t.dim:
            raise DarkedgeError(
                f"hint: the student's features are {s.dim} wide and the teacher's {t.dim}; feature distillation "
                "needs them equal (set hint=0, or a student of the teacher's width)"
            )
        self.features: dict[str, torch.Tensor] = {}
        self.hooks = [
            s.register_forward_hook(lambda _m, _i, out: self.features.__setitem__("student", out)),
            t.register_forward_hook(lambda _m, _i, out: self.features.__setitem__("teacher", out)),
        ]

    def loss(self) -> torch.Tensor:
        return hint_loss(self.features["student"], self.features["teacher"])

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.features.clear()


def stage_loss(cfg: TrainConfig, teacher: nn.Module | None, hints: FeatureHints | None, partly: bool = False):
    """loss(logits, labels, teacher logits): cross-entropy alone, or distillation when there is a teacher (with
    `partly`, unlabelled clips in the batch add the KL term only)."""
    if teacher is None:
        return lambda logits, labels, _: F.cross_entropy(logits.float(), labels)

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        loss = distillation_loss(logits, t, labels, cfg.alpha, cfg.beta, cfg.tau, partly_labelled=partly)
        return loss if hints is None else loss + cfg.hint * hints.loss()

    return loss_fn


def resume_key(stage: str, cfg: TrainConfig, model_config: dict[str, Any]) -> dict[str, Any]:
    """What a stage's result depends on beyond its seed and data: a resume checkpoint made otherwise is refused."""
    key = {"stage": stage, "epochs": cfg.epochs, "model": model_config}
    if cfg.max_steps:
        key["max_steps"] = cfg.max_steps
    return key


def fit(
    model: nn.Module,
    *,
    stage: str,
    kind: str,
    model_config: dict[str, Any],
    train_set,
    eval_set,
    class_names: list[str],
    protocol: dict[str, Any],
    cfg: TrainConfig,
    run_dir: Path,
    teacher: nn.Module | None = None,
    teacher_view: Callable[[torch.Tensor], torch.Tensor] | None = None,
    view: Callable[[torch.Tensor], torch.Tensor] | None = None,
    unlabeled_set=None,
    resume: bool = False,
    d: Dist = SINGLE_PROCESS,
) -> dict[str, Any]:
    """Train `model` with the run's budget, evaluate it, save RUN/<stage>.pt (of `kind`); returns its final metrics.

    With `teacher`, the loss is the distillation loss against the teacher's logits on the same raw clip (seen
    through `teacher_view` when given: a raw-frame teacher of the student's sampling); otherwise cross-entropy.
    With `view`, the model is fed its view of each training clip (a student of fewer frames or a smaller crop)
    while the teacher sees the clip as loaded; `eval_set` then holds the model's own clips. With `unlabeled_set`
    (and a teacher), every batch also holds unlabelled clips (cfg.unlabeled_ratio per labelled one), which add
    to the KL term only. Writes RUN/<stage>/history.json and resume.pt after every epoch (rank 0).
    """
    stage_dir = run_dir / stage
    targets = teacher
    if teacher is not None:
        teacher.to(d.device).eval().requires_grad_(False)
        if teacher_view is not None:
            targets = lambda clips: teacher(teacher_view(clips))  # noqa: E731
    hints = FeatureHints(model, teacher) if teacher is not None and cfg.hint > 0 else None
    batches = None
    if unlabeled_set is not None and teacher is not None:
        train_set, batches = mixed(train_set, unlabeled_set, cfg.batch_size, cfg.unlabeled_ratio)
    workers = resolve_workers(cfg.workers, d.device)
    metrics: dict[str, Any] = {}

    def after_epoch(epoch: int, last: bool) -> dict[str, Any]:
        if not (last or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)):
            return {}
        metrics.clear()
        metrics.update(
            evaluate(model, eval_set, class_names, protocol, batch_size=cfg.batch_size, workers=workers, d=d)
        )
        return {"top1": metrics["top1"], "top5": metrics["top5"]}

    job = Job(
        name=stage,
        model=model,
        train_set=train_set,
        loss_fn=stage_loss(cfg, teacher, hints, partly=batches is not None),
        settings=cfg,
        targets=targets,
        inputs=view,
        batches=batches,
        resume_path=stage_dir / RESUME_FILE,
        resume_key=resume_key(stage, cfg, model_config),
        resume_mismatch="resume checkpoint of another stage, architecture or epoch budget",
        history_path=stage_dir / "history.json",
        after_epoch=after_epoch,
    )
    history = train_model(job, d, resume)
    if hints is not None:
        hints.remove()
    if not metrics:  # resumed after the last epoch: evaluate the finished weights
        after_epoch(0, True)
    metrics["history"] = history
    if d.is_main:
        save_checkpoint(
            run_dir / f"{stage}.pt",
            kind=kind,
            config=model_config,
            state_dict=model.state_dict(),
            class_names=class_names,
            metrics={k: v for k, v in metrics.items() if k != "history"},
        )
        save_confusion_png(
            metrics["confusion"],
            class_names,
            stage_dir / "confusion.png",
            f"{stage}: top-1 {metrics['top1']:.1f}%",
        )
        job.resume_path.unlink(missing_ok=True)
        log.info(
            f"{stage}: top-1 {metrics['top1']:.2f}%, top-5 {metrics['top5']:.2f}% ({describe_protocol(protocol)})"
        )
    barrier(d)
    return metrics
