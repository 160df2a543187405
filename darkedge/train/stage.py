"""One classifier stage of `darkedge train` (teacher, student, raw baseline, self-training control, two-stream) on
the training engine.

The stage says what the engine cannot know: the loss (cross-entropy; distillation against a teacher's logits on the
same raw clip, with optional feature hints; or FixMatch with a mean teacher on unlabelled clips, darkedge.train.semi),
the validation checks (every `eval_every` epochs, or VAL_CHECKS times over the stage) that choose the weights it
keeps, the one evaluation on the test split at the end, and what is written when it ends: RUN/<stage>.pt, its
confusion matrix, and the per-epoch RUN/<stage>/history.json the engine keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.config import TrainConfig
from darkedge.data.loader import resolve_workers
from darkedge.data.unlabeled import mixed
from darkedge.errors import DarkedgeError
from darkedge.models.teacher import classifier_of
from darkedge.names import HISTORY_FILE, RESUME_KIND
from darkedge.train.distributed import SINGLE_PROCESS, Dist, barrier
from darkedge.train.engine import RESUME_FILE, Job, train_model
from darkedge.train.evaluate import accuracy_metrics, describe_protocol, evaluate, predict, save_confusion_png
from darkedge.train.guard import Viewed, sign_test
from darkedge.train.losses import distillation_loss, hint_loss
from darkedge.train.semi import Ema, fixmatch_loss, strong_augment

log = logging.getLogger(__name__)


class FeatureHints:
    """Catches the student's and the teacher's temporal-head features as their forwards run (hooks on their
    ClipFeatures), for the hint term of the loss; the models stay as they are, so nothing else changes."""

    def __init__(self, student: nn.Module, teacher: nn.Module):
        if isinstance(teacher, Viewed):  # a raw-frame teacher fed its view of the clips
            teacher = teacher.model
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


VAL_CHECKS = 12  # validation checks a stage makes when eval_every is 0 (the last epoch's among them)
SMALL_VAL = 100  # validation sets of fewer clips are decoded in the training process, without workers
BEST_FILE = "best.pt"  # RUN/<stage>/best.pt: the weights of the best validation score so far (while training)


def check_every(cfg: TrainConfig) -> int:
    """Validate every this many epochs: eval_every, or VAL_CHECKS times over the stage's epochs."""
    return cfg.eval_every or max(1, round(cfg.epochs / VAL_CHECKS))


class BestWeights:
    """The weights an earlier validation check offers against the last ones: those of the best validation top-1 so
    far (ties: the later check) and which validation clips they get right. Kept in memory and in `path` (rank 0), so
    a resumed stage keeps the candidate of its first part.

    A small validation set is noisy (at 10 % of the built-in labels, 13 clips: one clip is 7.7 points), and picking
    the best of a dozen noisy checks picks noise, often an early, under-trained model. So the stage keeps its last
    weights unless the candidate is better on the same clips by a margin they resolve (`choose`: the teacher guard's
    sign test)."""

    def __init__(self, model: nn.Module, path: Path, d: Dist):
        self.model, self.path, self.d = model, path, d
        self.top1: float | None = None
        self.epoch = 0
        self.correct: list[int] = []
        self.state: dict[str, torch.Tensor] | None = None

    def offer(self, epoch: int, top1: float, correct: list[int]) -> bool:
        if self.top1 is not None and top1 < self.top1:
            return False
        self.top1, self.epoch, self.correct = top1, epoch, list(correct)
        self.state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        if self.d.is_main:
            config = {"epoch": epoch, "top1": top1, "correct": self.correct}
            save_checkpoint(self.path, kind=RESUME_KIND, config=config, state_dict=self.state)
        return True

    def restore_from_file(self, history: list[dict[str, Any]]) -> None:
        """After a resume: the candidate the first part of the stage saved."""
        if not self.path.is_file():
            return
        ck = load_checkpoint(self.path, kind=RESUME_KIND)
        if not any(e["epoch"] == ck["config"]["epoch"] and "val_top1" in e for e in history):
            return  # saved by an epoch the kill came before the end of: that epoch runs again
        self.state = ck["state_dict"]
        self.epoch, self.top1, self.correct = (ck["config"][k] for k in ("epoch", "top1", "correct"))

    def choose(self, last_epoch: int, last_correct: list[int]) -> int:
        """The epoch whose weights the stage keeps: the candidate's (loaded into the model) when the validation
        clips resolve it as better than the last weights, else the last."""
        if self.state is None or self.epoch == last_epoch:
            return last_epoch
        better, _, _ = sign_test(self.correct, last_correct)
        if not better:
            return last_epoch
        self.model.load_state_dict(self.state)
        return self.epoch


def val_loader_workers(val_set, workers: int) -> int:
    """DataLoader workers for validation: none for a small set, which decodes faster here than workers start."""
    return workers if len(val_set) >= SMALL_VAL else 0


def validation_metrics(model: nn.Module, val_set, class_names: list[str], batch: int, workers: int, d: Dist):
    """Top-1 (with top-5 and the per-clip correctness) and mean cross-entropy of `model` on the validation clips."""
    logits, labels, skipped = predict(model, val_set, batch_size=batch, workers=workers, d=d)
    metrics = accuracy_metrics(logits, labels, class_names)
    metrics["loss"] = float(F.cross_entropy(logits, labels)) if len(labels) else 0.0
    metrics["correct"] = (logits.argmax(1) == labels).int().tolist() if len(labels) else []
    metrics["n_skipped"] = skipped
    return metrics


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
    val_set=None,
    teacher: nn.Module | None = None,
    view: Callable[[torch.Tensor], torch.Tensor] | None = None,
    unlabeled_set=None,
    semi: bool = False,
    resume: bool = False,
    d: Dist = SINGLE_PROCESS,
) -> dict[str, Any]:
    """Train `model` with the run's budget, keep its best weights by validation, score them once on the test split,
    save RUN/<stage>.pt (of `kind`); returns the stage's metrics (test top-1 / top-5, "val", "history").

    With `teacher` (a module giving logits for the clips as loaded: a raw-frame teacher applies its own view), the
    loss is the distillation loss against its logits; otherwise cross-entropy. With `view`, the model is fed its
    view of each training clip (a student of fewer frames or a smaller crop); `eval_set` and `val_set` then hold the
    model's own clips. With `unlabeled_set`, every batch also holds unlabelled clips (cfg.unlabeled_ratio per
    labelled one): KL terms only under a teacher, or, with `semi`, FixMatch's confident pseudo-labels from an EMA of
    the weights (darkedge.train.semi), the EMA then being what is validated and kept.

    With `val_set`, the kept weights are checked every `check_every(cfg)` epochs and after the last; the stage keeps
    its last weights unless an earlier check's are better by a margin the validation clips resolve (BestWeights).
    Without, it keeps its last epoch. Writes RUN/<stage>/history.json and
    resume.pt after every epoch (rank 0).
    """
    stage_dir = run_dir / stage
    if teacher is not None:
        teacher.to(d.device).eval().requires_grad_(False)
    hints = FeatureHints(model, teacher) if teacher is not None and cfg.hint > 0 else None
    batches = None
    if unlabeled_set is not None and (teacher is not None or semi):
        train_set, batches = mixed(train_set, unlabeled_set, cfg.batch_size, cfg.unlabeled_ratio)
    semi = semi and batches is not None
    ema = Ema(model, cfg.ema_decay).to(d.device) if semi else None
    kept = ema.module if ema is not None else model  # what is validated and saved
    workers = resolve_workers(cfg.workers, d.device)
    best = BestWeights(kept, stage_dir / BEST_FILE, d) if val_set is not None else None
    every = check_every(cfg)
    val_workers = val_loader_workers(val_set, workers) if val_set is not None else 0

    pseudo: dict[str, int] = {}  # this epoch's unlabelled clips and those the EMA was sure enough of (semi)

    last_check: dict[str, Any] = {}  # the validation results of the last weights

    def after_epoch(epoch: int, last: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if pseudo.get("unlabeled"):  # this rank's share (the clips each rank saw are alike)
            fields["pseudo_labelled"] = round(pseudo["confident"] / pseudo["unlabeled"], 4)
            pseudo.clear()
        if best is None or not (last or (epoch + 1) % every == 0):
            return fields
        m = validation_metrics(kept, val_set, class_names, cfg.batch_size, val_workers, d)
        best.offer(epoch + 1, m["top1"], m["correct"])
        if last:
            last_check.update(m)
        return {**fields, "val_top1": m["top1"], "val_loss": round(m["loss"], 5)}

    if ema is not None:
        loss_fn = lambda logits, labels, t: fixmatch_loss(  # noqa: E731
            logits, labels, t, cfg.semi_threshold, cfg.semi_weight, pseudo
        )
        targets, inputs, after_step = ema, strong_augment, lambda: ema.update(model)
        if view is not None:
            raise DarkedgeError(f"{stage}: a semi-supervised stage must take the teacher's clips as they are")
    else:
        loss_fn = stage_loss(cfg, teacher, hints, partly=batches is not None)
        targets, inputs, after_step = teacher, view, None
    job = Job(
        name=stage,
        model=model,
        train_set=train_set,
        loss_fn=loss_fn,
        settings=cfg,
        targets=targets,
        targets_unlabeled_only=ema is not None,  # the EMA labels the unlabelled clips only
        inputs=inputs,
        batches=batches,
        resume_path=stage_dir / RESUME_FILE,
        resume_key=resume_key(stage, cfg, model_config),
        resume_mismatch="resume checkpoint of another stage, architecture or epoch budget",
        history_path=stage_dir / HISTORY_FILE,
        after_epoch=after_epoch,
        after_step=after_step,
        companions={"ema": ema} if ema is not None else {},
    )
    if resume and best is not None and job.resume_path.is_file():
        best.restore_from_file(load_checkpoint(job.resume_path, kind=RESUME_KIND)["extra"]["history"])
    history = train_model(job, d, resume)
    if hints is not None:
        hints.remove()
    metrics: dict[str, Any] = {}
    if best is not None:
        if not last_check:  # resumed after its last epoch: the last weights are the model's now
            last_check.update(validation_metrics(kept, val_set, class_names, cfg.batch_size, val_workers, d))
        epoch = best.choose(len(history), last_check["correct"])
        m = last_check
        if epoch != len(history):
            m = validation_metrics(kept, val_set, class_names, cfg.batch_size, val_workers, d)
        metrics["val"] = {
            "top1": m["top1"],
            "top5": m["top5"],
            "loss": round(m["loss"], 5),
            "n_clips": m["n_clips"],
            "epoch": epoch,
            "last_epoch": len(history),
            "correct": m["correct"],
        }
    # the test split is scored once, on the weights already chosen: it chooses nothing
    metrics.update(
        evaluate(kept, eval_set, class_names, protocol, batch_size=cfg.batch_size, workers=workers, d=d)
    )
    metrics["history"] = history
    if d.is_main:
        save_checkpoint(
            run_dir / f"{stage}.pt",
            kind=kind,
            config=model_config,
            state_dict=kept.state_dict(),
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
        (stage_dir / BEST_FILE).unlink(missing_ok=True)
        chosen = (
            f", validation top-1 {metrics['val']['top1']:.2f}% (epoch {metrics['val']['epoch']})"
            if best
            else ""
        )
        log.info(
            f"{stage}: test top-1 {metrics['top1']:.2f}%, top-5 {metrics['top5']:.2f}% "
            f"({describe_protocol(protocol)}){chosen}"
        )
    barrier(d)
    return metrics
