"""The training engine: every network darkedge trains on clips goes through `train_model`.

A `Job` says what to train (the model, its data, its loss, what else runs on each batch) and an `Optimisation`
says how (TrainConfig for the classifier stages, QatConfig for quantization-aware distillation); the engine does
the rest, written once: the device and DDP, the per-epoch sampler, the DataLoader, AdamW with weight-decay groups,
warm-up and cosine, the epoch loop (`train_epoch`: accumulation, clipping, bf16 autocast on CUDA, progress, the
time spent waiting for data), the history and the resume checkpoint after every epoch.

Each epoch is seeded from (seed, epoch, rank) and its order drawn from (seed, epoch), so data order,
augmentation and dropout are a function of the epoch alone: a job resumed from its epoch checkpoint
(`save_resume` / `load_resume`) ends exactly where an uninterrupted one ends, and every stage of a run sees the
same clips in the same order (the student and the raw baseline differ only by the distillation term).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.data.loader import make_loader, resolve_workers
from darkedge.errors import DarkedgeError
from darkedge.fileio import write_json
from darkedge.logs import progress
from darkedge.names import RESUME_KIND, UNLABELED
from darkedge.train.distributed import SINGLE_PROCESS, Dist, all_reduce_sum, barrier

log = logging.getLogger(__name__)

RESUME_FILE = "resume.pt"  # what a killed run resumes from: RUN/<stage>/resume.pt, RUN/quant/resume.pt
STARVED_SHARE = 0.2  # an accelerator waiting on data more than this share of an epoch gets a warning
PROGRESS_EVERY_S = 0.5  # the progress bar's loss is read back (a GPU sync) at most this often

# loss(logits, labels, targets): `targets` is what the targets callback computed from the same clips (teacher
# logits, say), or None without one
LossFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


class StepSettings(Protocol):
    """How each optimiser step is taken."""

    accumulate: int  # micro-batches per optimiser step
    grad_clip: float  # gradient-norm clip (0: none)
    amp: bool  # bf16 autocast, CUDA only


class Optimisation(StepSettings, Protocol):
    """How a job is optimised; TrainConfig and QatConfig both have these fields."""

    epochs: int
    max_steps: int  # stop after this many optimiser steps, where the schedule ends (0: after `epochs`)
    batch_size: int
    lr: float
    weight_decay: float  # on weights only: biases, norms and embeddings (1-D tensors) get none
    warmup_epochs: float
    seed: int
    workers: int | None  # DataLoader workers; None: chosen from the machine and device


def seed_epoch(seed: int, epoch: int, rank: int = 0) -> None:
    """Seed torch, numpy and random from the run seed, the epoch and the rank."""
    s = (seed * 1_000_003 + epoch * 7919 + rank * 104_729) % 2**31
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor: linear warm-up from ~0 to 1, then cosine decay to 0 at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, cfg: Optimisation) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on biases, norms and embeddings (1-D tensors)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def rng_state() -> dict[str, Any]:
    """The RNG states of torch, numpy and random as tensors and plain data (checkpoint-safe)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "python": {"version": version, "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what rng_state() saved."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Tally:
    """What an epoch (or several, when the same tally is passed on) has trained on, on this rank."""

    loss_sum: float = 0.0  # loss x clips
    correct: int = 0  # clips whose top-1 is their label
    labelled: int = 0  # clips with a label (the others are unlabelled footage)
    seen: int = 0
    skipped: int = 0  # unreadable clips
    steps: int = 0  # optimiser steps
    # seconds: waiting for each epoch's first batch (workers starting, the first clips decoded); waiting for the
    # later batches (the model idle for want of data); the rest (copies, forward, backward, optimiser steps, on a
    # GPU until it finished the epoch's work)
    first_batch_s: float = 0.0
    data_s: float = 0.0
    compute_s: float = 0.0

    def loader_stats(self) -> dict[str, float]:
        """Data wait against compute: seconds, the wait's share of the steady state, and clips per second of
        compute (what the step alone would do, data for free)."""
        busy = self.data_s + self.compute_s
        return {
            "first_batch_s": round(self.first_batch_s, 3),
            "data_wait_s": round(self.data_s, 3),
            "compute_s": round(self.compute_s, 3),
            "wait_share": round(self.data_s / busy, 4) if busy > 0 else 0.0,
            "step_clips_per_s": round(self.seen / self.compute_s, 1) if self.compute_s > 0 else None,
        }


_warned_loaders: weakref.WeakSet = weakref.WeakSet()  # loaders already warned about, once each


def warn_if_starved(loader: DataLoader, tally: Tally, device: str, desc: str) -> None:
    """Warn (once per loader) when an accelerator waited on data more than STARVED_SHARE of the epoch."""
    share = tally.loader_stats()["wait_share"]
    if device == "cpu" or share <= STARVED_SHARE or loader in _warned_loaders:
        return
    _warned_loaders.add(loader)
    log.warning(
        f"{desc}: {device} waited for data {100 * share:.0f} % of the epoch with "
        f"{loader.num_workers} DataLoader worker(s); give more with --workers N"
    )


def train_epoch(
    net: nn.Module,
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loss_fn: LossFn,
    settings: StepSettings,
    *,
    targets: Callable[[torch.Tensor], Any] | None = None,
    targets_unlabeled_only: bool = False,
    inputs: Callable[[torch.Tensor], torch.Tensor] | None = None,
    d: Dist = SINGLE_PROCESS,
    desc: str = "",
    tally: Tally | None = None,
    max_steps: int | None = None,
    after_step: Callable[[], None] | None = None,
) -> Tally:
    """One pass over `loader`'s (clips, labels, skipped) batches, training `model` (run as `net`, its DDP wrapper
    or itself); the caller seeds the epoch and sets train or eval mode.

    Each batch: `targets(clips)` under no_grad (teacher logits, say; with `targets_unlabeled_only`, of the batch's
    unlabelled clips alone, in their order), the model's logits on `inputs(clips)` (a
    student's view of the teacher's clip, darkedge.data.views; the clips as loaded without it), the loss
    `loss_fn(logits, labels, targets)`, backward; every `settings.accumulate` micro-batches (DDP syncing gradients only on the last), the gradient norm
    is clipped to `settings.grad_clip` (0: no clipping), then one optimiser and one schedule step; `settings.amp`
    runs forward and loss in bf16 on CUDA; `after_step()` runs after every optimiser step (an EMA of the weights,
    say). Counts go to `tally` (a new one by default); with `max_steps`, the epoch stops once the tally holds that
    many steps. The tally also gets the seconds spent waiting for batches and
    computing; an accelerator that waited more than STARVED_SHARE of the time gets a warning (once per loader).
    """
    tally = tally if tally is not None else Tally()
    accumulate, grad_clip = settings.accumulate, settings.grad_clip
    device = d.device
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if settings.amp and device.startswith("cuda")
        else contextlib.nullcontext()
    )
    # Sums stay on the device, read back at the end (and for the progress bar at most every PROGRESS_EVERY_S):
    # no per-step sync, so the host queues the next batch's work while the GPU still runs this one.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    labelled = torch.zeros((), dtype=torch.int64, device=device)
    seen, data_s, first_s = 0, 0.0, 0.0
    started = shown = ready = time.perf_counter()
    bar = progress(loader, desc=desc, disable=not d.is_main, leave=False, lines=False)
    for i, (clips, labels, n_skipped) in enumerate(bar):
        waited = time.perf_counter() - ready
        if i == 0:
            first_s += waited
        else:
            data_s += waited
        tally.skipped += n_skipped
        if max_steps is not None and tally.steps >= max_steps:
            break
        # Under DDP every rank must skip an all-unreadable batch together, or the others' gradient
        # all-reduce would wait forever for the rank that skipped.
        if all_reduce_sum(d, [float(clips is None or len(labels) == 0)])[0] > 0:
            ready = time.perf_counter()
            continue
        clips = clips.to(device, non_blocking=True)
        labels = torch.as_tensor(labels).to(device, non_blocking=True)
        group_start = (i // accumulate) * accumulate
        group_size = min(accumulate, len(loader) - group_start)
        step_now = i - group_start == group_size - 1
        with autocast:
            if targets is not None:
                with torch.no_grad():
                    target = targets(clips[labels == UNLABELED] if targets_unlabeled_only else clips)
            else:
                target = None
            sync = contextlib.nullcontext() if step_now or not d.enabled else net.no_sync()
            with sync:
                logits = net(clips if inputs is None else inputs(clips))
                loss = loss_fn(logits, labels, target)
                (loss / group_size).backward()
        if step_now:
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            tally.steps += 1
            if after_step is not None:
                after_step()
        loss_sum += loss.detach().double() * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
        labelled += (labels != UNLABELED).sum()
        seen += len(labels)
        if d.is_main and time.perf_counter() - shown > PROGRESS_EVERY_S:
            shown = time.perf_counter()
            bar.set_postfix(
                loss=f"{(tally.loss_sum + loss_sum.item()) / (tally.seen + seen):.3f}", skipped=tally.skipped
            )
        ready = time.perf_counter()
    tally.loss_sum += loss_sum.item()  # waits for the device to finish the epoch's work
    tally.correct += int(correct.item())
    tally.labelled += int(labelled.item())
    tally.seen += seen
    tally.first_batch_s += first_s
    tally.data_s += data_s
    tally.compute_s += time.perf_counter() - started - first_s - data_s
    warn_if_starved(loader, tally, device, desc)
    return tally


def save_resume(
    path: Path,
    settings: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    history: list[dict[str, Any]],
    **extra: Any,
) -> None:
    """Write the checkpoint a killed run resumes from after `epoch` epochs (tensors and plain data, atomically):
    the model, optimiser, schedule and RNG states, the history so far and the caller's `extra` state. `settings`
    are what the result depends on: a later run resumes from it only with the same."""
    save_checkpoint(
        path,
        kind=RESUME_KIND,
        config=settings,
        state_dict=model.state_dict(),
        extra={
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "history": history,
            "rng": rng_state(),
            **extra,
        },
    )


def load_resume(
    path: Path,
    settings: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    mismatch: str,
) -> dict[str, Any]:
    """Restore what `save_resume` wrote into the model, optimiser, schedule and RNGs; returns its extra state
    (epoch, history and the caller's). A checkpoint made with other `settings` is the error `{path}: {mismatch}`."""
    ck = load_checkpoint(path, kind=RESUME_KIND)
    if any(ck["config"].get(key) != value for key, value in settings.items()):
        raise DarkedgeError(f"{path}: {mismatch}")
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError as e:
        raise DarkedgeError(
            f"{path}: its weights do not fit this model ({str(e).splitlines()[0][:120]})"
        ) from None
    optimizer.load_state_dict(ck["extra"]["optimizer"])
    scheduler.load_state_dict(ck["extra"]["scheduler"])
    set_rng_state(ck["extra"]["rng"])
    return ck["extra"]


@dataclass
class Job:
    """One model to train: its data, its loss, what else runs on each batch, and where its state is kept."""

    name: str  # progress bars and log lines: "teacher", "QAT"
    model: nn.Module
    train_set: Dataset
    loss_fn: LossFn
    settings: Optimisation
    targets: Callable[[torch.Tensor], Any] | None = (
        None  # what the loss compares with (teacher logits), no grad
    )
    targets_unlabeled_only: bool = False  # targets of the unlabelled clips only (pseudo-labels, say)
    inputs: Callable[[torch.Tensor], torch.Tensor] | None = None  # the model's view of each batch
    train_mode: bool = True  # False: the model stays in eval mode (dropout off, batch norms frozen)
    drop_last: bool = False  # drop a ragged last batch (only when the data holds a full batch per rank)
    # the epoch's batches, when they are not the data shuffled from (seed, epoch) and split over ranks: a batch
    # sampler with set_epoch, made from (dataset, dist, seed) (labelled and unlabelled clips mixed, say)
    batches: Callable[[Dataset, Dist, int], Any] | None = None
    resume_path: Path | None = None  # the epoch checkpoint, written after every epoch (rank 0)
    resume_key: dict[str, Any] = field(default_factory=dict)  # what the result depends on; checked on resume
    resume_mismatch: str = "resume checkpoint of another job"
    # state of the caller's saved in the resume checkpoint, and read back equal (QAT: NNCF's quantizers)
    extra_state: Callable[[], dict[str, Any]] | None = None
    history_path: Path | None = None  # the history so far as JSON, after every epoch (rank 0)
    # (epoch index, last epoch?) -> more history fields, on every rank after the epoch (evaluation, say)
    after_epoch: Callable[[int, bool], dict[str, Any]] | None = None
    after_step: Callable[[], None] | None = None  # after every optimiser step (an EMA of the weights, say)
    # other modules whose weights the job changes (an EMA of the model): kept in the resume checkpoint too
    companions: dict[str, nn.Module] = field(default_factory=dict)


@dataclass
class Budget:
    """A job's optimiser steps: per epoch, in all (settings.max_steps caps it), warm-up, and the epochs they take."""

    steps_per_epoch: int
    total: int
    warmup: int

    @property
    def epochs(self) -> int:
        return -(-self.total // self.steps_per_epoch)


def plan(batches: int, cfg: Optimisation) -> Budget:
    """The step budget of `batches` batches an epoch under `cfg`."""
    per_epoch = math.ceil(batches / cfg.accumulate)
    total = cfg.epochs * per_epoch
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    return Budget(per_epoch, total, round(cfg.warmup_epochs * per_epoch))


def spread_budget(cfg: Any, labelled: int, split: int) -> Any:
    """The budget of a job (TrainConfig, QatConfig) that trains on `labelled` of the training split's `split` clips
    (label_fraction < 1): the optimiser steps the whole split would give (`epochs` passes over all of it, warm-up
    likewise), so that every label fraction trains as long; `cfg` itself when max_steps is set."""
    if cfg.max_steps or not labelled:
        return cfg
    per_split, per_labelled = math.ceil(split / cfg.batch_size), math.ceil(labelled / cfg.batch_size)
    steps = cfg.epochs * per_split
    return replace(
        cfg,
        max_steps=steps,
        epochs=math.ceil(steps / per_labelled),
        warmup_epochs=cfg.warmup_epochs * per_split / per_labelled,
    )


def epoch_sampler(dataset: Dataset, d: Dist, seed: int) -> DistributedSampler:
    """The default order: every clip once an epoch, shuffled from (seed, epoch), each rank its share."""
    return DistributedSampler(dataset, num_replicas=d.world_size, rank=d.rank, shuffle=True, seed=seed)


def summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    """A job's totals from its history: steps, clips, skipped clips, mean loss, time waiting for data."""
    clips = sum(e["train_clips"] for e in history)
    loaders = [e["loader"] for e in history]
    return {
        "epochs": len(history),
        "steps": sum(e["steps"] for e in history),
        "mean_loss": sum(e["train_loss"] * e["train_clips"] for e in history) / max(clips, 1),
        "clips_seen": clips,
        "unlabeled_seen": sum(e.get("unlabeled_clips", 0) for e in history),
        "clips_skipped": sum(e["skipped_clips"] for e in history),
        "loader": {
            "workers": loaders[-1]["workers"] if loaders else 0,
            **{
                k: round(sum(x[k] for x in loaders), 3) for k in ("first_batch_s", "data_wait_s", "compute_s")
            },
        },
    }


def train_model(job: Job, d: Dist = SINGLE_PROCESS, resume: bool = False) -> list[dict[str, Any]]:
    """Train `job.model` in place; returns its history (one entry per epoch, `after_epoch`'s fields included).

    With `resume` and a resume checkpoint at job.resume_path made with the same resume_key (and extra state),
    training continues after its last finished epoch; otherwise from the start.
    """
    cfg, model = job.settings, job.model
    model.to(d.device)
    net = model
    if d.enabled:
        net = DistributedDataParallel(
            model, device_ids=[d.local_rank] if d.device.startswith("cuda") else None
        )
    workers = resolve_workers(cfg.workers, d.device)
    if job.batches is not None:
        sampler = job.batches(job.train_set, d, cfg.seed)
        order = dict(batch_sampler=sampler)
    else:
        sampler = epoch_sampler(job.train_set, d, cfg.seed)
        order = dict(sampler=sampler, drop_last=job.drop_last and len(sampler) >= cfg.batch_size)
    loader = make_loader(
        job.train_set, batch_size=cfg.batch_size, workers=workers, device=d.device, persistent=True, **order
    )
    if len(loader) == 0:
        raise DarkedgeError(f"{job.name}: no training clips")
    budget = plan(len(loader), cfg)
    optimizer = make_optimizer(model, cfg)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, budget.warmup, budget.total)
    )
    history: list[dict[str, Any]] = []
    if resume and job.resume_path is not None and job.resume_path.is_file():
        state = load_resume(job.resume_path, job.resume_key, model, optimizer, schedule, job.resume_mismatch)
        if job.extra_state is not None and state.get("extra_state") != job.extra_state():
            raise DarkedgeError(f"{job.resume_path}: {job.resume_mismatch}")
        history = state["history"]
        for name, module in job.companions.items():
            module.load_state_dict(state["companions"][name])
        if d.is_main:
            log.info("%s: resuming after epoch %d from %s", job.name, state["epoch"], job.resume_path)
    steps = sum(entry["steps"] for entry in history)
    for epoch in range(len(history), budget.epochs):
        seed_epoch(cfg.seed, epoch, d.rank)
        sampler.set_epoch(epoch)
        if hasattr(job.train_set, "set_epoch"):
            job.train_set.set_epoch(epoch)
        net.train(job.train_mode)
        started, lr = time.time(), optimizer.param_groups[0]["lr"]
        desc = f"{job.name} {epoch + 1}/{budget.epochs}"
        step = dict(
            targets=job.targets,
            targets_unlabeled_only=job.targets_unlabeled_only,
            inputs=job.inputs,
            d=d,
            desc=desc,
            max_steps=budget.total - steps,
            after_step=job.after_step,
        )
        tally = train_epoch(net, model, loader, optimizer, schedule, job.loss_fn, cfg, **step)
        steps += tally.steps
        loss_sum, correct, labelled, seen, skipped = all_reduce_sum(
            d, [tally.loss_sum, tally.correct, tally.labelled, tally.seen, tally.skipped]
        )
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": loss_sum / max(seen, 1),
            "train_top1": round(100.0 * correct / max(labelled, 1), 2),  # on the labelled clips
            "train_clips": int(seen),
            "skipped_clips": int(skipped),
            "steps": tally.steps,
            **({"unlabeled_clips": int(seen - labelled)} if seen > labelled else {}),
            "seconds": round(time.time() - started, 1),
            # timing of this rank (rank 0's goes to the history): the wait share is a property of the machine
            "loader": {"workers": workers, **tally.loader_stats()},
        }
        last = epoch + 1 == budget.epochs
        if job.after_epoch is not None:
            entry.update(job.after_epoch(epoch, last))
        history.append(entry)
        if d.is_main:
            note = f", skipped {int(skipped)} unreadable clips" if skipped else ""
            acc = f", validation top-1 {entry['val_top1']:.2f}%" if "val_top1" in entry else ""
            if "pseudo_labelled" in entry:
                acc += f", {100 * entry['pseudo_labelled']:.0f}% of unlabelled clips pseudo-labelled"
            log.info(
                f"{job.name} epoch {epoch + 1}/{budget.epochs}: loss {entry['train_loss']:.4f}, "
                f"train top-1 {entry['train_top1']:.1f}%{acc}{note} ({entry['seconds']:.0f} s)"
            )
            if job.history_path is not None:
                write_json(job.history_path, history)
            if job.resume_path is not None:
                extra = {} if job.extra_state is None else {"extra_state": job.extra_state()}
                if job.companions:
                    extra["companions"] = {k: m.state_dict() for k, m in job.companions.items()}
                save_resume(
                    job.resume_path, job.resume_key, model, optimizer, schedule, epoch + 1, history, **extra
                )
        barrier(d)
    return history
