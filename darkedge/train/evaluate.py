"""Evaluation: top-1 / top-5 / per-class accuracy and a confusion matrix, with the protocol behind the numbers.

When the data set yields several views per video, (V, 3, T, S, S), the logits of the views are averaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Subset

from darkedge.data.loader import make_loader
from darkedge.fileio import save_figure
from darkedge.train.distributed import SINGLE_PROCESS, Dist, all_gather


def describe_protocol(protocol: dict[str, Any]) -> str:
    """One line, e.g. '1 clip x 1 crop, 8 frames at frame step 4, 64 px' (printed with every accuracy)."""
    clips, crops = protocol["clips"], protocol["crops"]
    step = protocol.get("frame_step", protocol.get("stride"))  # "stride" in runs made before the feeding spec
    return (
        f"{clips} clip{'s' * (clips > 1)} x {crops} crop{'s' * (crops > 1)}, "
        f"{protocol['frames']} frames at frame step {step}, {protocol['size']} px"
    )


@torch.no_grad()
def predict(
    model: nn.Module, dataset, *, batch_size: int, workers: int = 0, d: Dist = SINGLE_PROCESS
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Logits and labels for every readable clip of `dataset` (views averaged), plus the number skipped.

    Under DDP each rank predicts every world_size-th clip and the results are gathered on every rank.
    """
    shard = Subset(dataset, range(d.rank, len(dataset), d.world_size))
    loader = make_loader(shard, batch_size=batch_size, workers=workers, device=d.device)
    model.eval()
    logits, labels, skipped = [], [], 0
    for clips, targets, n_skipped in loader:
        skipped += n_skipped
        if clips is None or len(targets) == 0:
            continue
        clips = clips.to(d.device, non_blocking=True)
        if clips.dim() == 6:  # (B, V, 3, T, S, S): several clips / crops per video
            b, v = clips.shape[:2]
            out = model(clips.flatten(0, 1)).float().view(b, v, -1).mean(1)
        else:
            out = model(clips).float()
        logits.append(out.cpu())
        labels.append(torch.as_tensor(targets).cpu())
    gathered = all_gather(d, (logits, labels, skipped))
    all_logits = [x for g in gathered for x in g[0]]
    all_labels = [y for g in gathered for y in g[1]]
    if not all_logits:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), sum(g[2] for g in gathered)
    return torch.cat(all_logits), torch.cat(all_labels), sum(g[2] for g in gathered)


def accuracy_metrics(logits: torch.Tensor, labels: torch.Tensor, class_names: list[str]) -> dict[str, Any]:
    """Top-1 and top-5 (percent), per-class top-1 and the confusion matrix (rows: true, columns: predicted)."""
    num_classes = len(class_names)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    if len(labels) == 0:
        return {"top1": 0.0, "top5": 0.0, "per_class": {}, "confusion": confusion.tolist(), "n_clips": 0}
    top = logits.topk(min(5, num_classes), dim=1).indices
    hit1 = top[:, 0] == labels
    hit5 = (top == labels[:, None]).any(1)
    confusion.index_put_((labels, top[:, 0]), torch.ones_like(labels), accumulate=True)
    per_class = {}
    for c, name in enumerate(class_names):
        n = int(confusion[c].sum())
        per_class[name] = round(100.0 * int(confusion[c, c]) / n, 2) if n else None
    return {
        "top1": round(100.0 * hit1.float().mean().item(), 2),
        "top5": round(100.0 * hit5.float().mean().item(), 2),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "n_clips": len(labels),
    }


def evaluate(
    model: nn.Module,
    dataset,
    class_names: list[str],
    protocol: dict[str, Any],
    *,
    batch_size: int,
    workers: int = 0,
    d: Dist = SINGLE_PROCESS,
) -> dict[str, Any]:
    """Accuracy metrics of `model` on `dataset`, with the evaluation protocol and the skipped-clip count."""
    logits, labels, skipped = predict(model, dataset, batch_size=batch_size, workers=workers, d=d)
    metrics = accuracy_metrics(logits, labels, class_names)
    metrics["n_skipped"] = skipped
    metrics["protocol"] = dict(protocol, text=describe_protocol(protocol))
    return metrics


def save_confusion_png(confusion: list[list[int]], class_names: list[str], path: Path, title: str) -> None:
    """Plot the confusion matrix (row-normalised colours, counts written in the cells) to a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = torch.tensor(confusion, dtype=torch.float64)
    rates = counts / counts.sum(1, keepdim=True).clamp(min=1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                color = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color=color)
    save_figure(fig, path)
