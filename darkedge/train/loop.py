"""One training loop for every model: AdamW, warm-up + cosine, accumulation, clipping, bf16 on CUDA, distillation.

Each epoch is seeded from (seed, epoch, rank), so data order, augmentation and dropout are a function of the epoch
alone: a run resumed from an epoch checkpoint ends exactly where an uninterrupted one ends, and every stage of a run
sees the same clips in the same order (the student and the raw baseline differ only by the distillation term).
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.config import TrainConfig
from darkedge.errors import DarkedgeError
from darkedge.fileio import write_json
from darkedge.train.distributed import SINGLE_PROCESS, Dist, all_reduce_sum, barrier
from darkedge.train.evaluate import describe_protocol, evaluate, save_confusion_png
from darkedge.train.losses import distillation_loss


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


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
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
    resume: bool = False,
    d: Dist = SINGLE_PROCESS,
) -> dict[str, Any]:
    """Train `model` for cfg.epochs, evaluate it, save RUN/<stage>.pt (of `kind`); returns its final metrics.

    With `teacher`, the loss is the distillation loss against the teacher's logits on the same raw clip;
    otherwise cross-entropy. Writes RUN/<stage>/history.json and resume.pt after every epoch (rank 0).
    """
    from darkedge.data.dataset import collate_clips

    stage_dir = run_dir / stage
    resume_path = stage_dir / "resume.pt"
    model.to(d.device)
    if teacher is not None:
        teacher.to(d.device).eval().requires_grad_(False)
    net = model
    if d.enabled:
        net = DistributedDataParallel(
            model, device_ids=[d.local_rank] if d.device.startswith("cuda") else None
        )
    sampler = DistributedSampler(
        train_set, num_replicas=d.world_size, rank=d.rank, shuffle=True, seed=cfg.seed
    )
    loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.workers,
        collate_fn=collate_clips,
    )
    steps_per_epoch = math.ceil(len(loader) / cfg.accumulate)
    optimizer = make_optimizer(model, cfg)
    warmup, total = round(cfg.warmup_epochs * steps_per_epoch), cfg.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total))
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if cfg.amp and d.device.startswith("cuda")
        else contextlib.nullcontext()
    )

    start_epoch, history = 0, []
    if resume and resume_path.is_file():
        ck = load_checkpoint(resume_path, kind="resume")
        if ck["config"].get("stage") != stage or ck["config"].get("epochs") != cfg.epochs:
            raise DarkedgeError(f"{resume_path}: resume checkpoint of another stage or epoch budget")
        model.load_state_dict(ck["state_dict"])
        optimizer.load_state_dict(ck["extra"]["optimizer"])
        scheduler.load_state_dict(ck["extra"]["scheduler"])
        set_rng_state(ck["extra"]["rng"])
        start_epoch, history = ck["extra"]["epoch"], ck["extra"]["history"]
        if d.is_main:
            print(f"{stage}: resuming after epoch {start_epoch} from {resume_path}", file=sys.stderr)

    metrics: dict[str, Any] = {}
    for epoch in range(start_epoch, cfg.epochs):
        seed_epoch(cfg.seed, epoch, d.rank)
        sampler.set_epoch(epoch)
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        net.train()
        started, lr = time.time(), optimizer.param_groups[0]["lr"]
        loss_sum, correct, seen, skipped = 0.0, 0, 0, 0
        bar = tqdm(
            loader,
            desc=f"{stage} {epoch + 1}/{cfg.epochs}",
            file=sys.stderr,
            disable=not d.is_main,
            leave=False,
        )
        for i, (clips, labels, n_skipped) in enumerate(bar):
            skipped += n_skipped
            # Under DDP every rank must skip an all-unreadable batch together, or the others' gradient
            # all-reduce would wait forever for the rank that skipped.
            if all_reduce_sum(d, [float(clips is None or len(labels) == 0)])[0] > 0:
                continue
            clips, labels = clips.to(d.device), torch.as_tensor(labels).to(d.device)
            group_start = (i // cfg.accumulate) * cfg.accumulate
            group_size = min(cfg.accumulate, len(loader) - group_start)
            step_now = i - group_start == group_size - 1
            with autocast:
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits = teacher(clips)
                sync = contextlib.nullcontext() if step_now or not d.enabled else net.no_sync()
                with sync:
                    logits = net(clips)
                    if teacher is not None:
                        loss = distillation_loss(logits, teacher_logits, labels, cfg.alpha, cfg.beta, cfg.tau)
                    else:
                        loss = F.cross_entropy(logits.float(), labels)
                    (loss / group_size).backward()
            if step_now:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.item() * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", skipped=skipped)
        loss_sum, correct, seen, skipped = all_reduce_sum(d, [loss_sum, correct, seen, skipped])
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": loss_sum / max(seen, 1),
            "train_top1": round(100.0 * correct / max(seen, 1), 2),
            "train_clips": int(seen),
            "skipped_clips": int(skipped),
            "seconds": round(time.time() - started, 1),
        }
        last = epoch + 1 == cfg.epochs
        if last or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0):
            metrics = evaluate(
                model, eval_set, class_names, protocol, batch_size=cfg.batch_size, workers=cfg.workers, d=d
            )
            entry.update(top1=metrics["top1"], top5=metrics["top5"])
        history.append(entry)
        if d.is_main:
            note = f", skipped {int(skipped)} unreadable clips" if skipped else ""
            acc = f", test top-1 {entry['top1']:.2f}%" if "top1" in entry else ""
            print(
                f"{stage} epoch {epoch + 1}/{cfg.epochs}: loss {entry['train_loss']:.4f}, "
                f"train top-1 {entry['train_top1']:.1f}%{acc}{note} ({entry['seconds']:.0f} s)",
                file=sys.stderr,
            )
            write_json(stage_dir / "history.json", history)
            save_checkpoint(
                resume_path,
                kind="resume",
                config={"stage": stage, "epochs": cfg.epochs},
                state_dict=model.state_dict(),
                extra={
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1,
                    "history": history,
                    "rng": rng_state(),
                },
            )
        barrier(d)

    if not metrics:  # resumed after the last epoch: evaluate the finished weights
        metrics = evaluate(
            model, eval_set, class_names, protocol, batch_size=cfg.batch_size, workers=cfg.workers, d=d
        )
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
        resume_path.unlink(missing_ok=True)
        print(
            f"{stage}: top-1 {metrics['top1']:.2f}%, top-5 {metrics['top5']:.2f}% ({describe_protocol(protocol)})",
            file=sys.stderr,
        )
    barrier(d)
    return metrics
