"""The dual-light distillation loss: cross-entropy to the labels plus KL to the teacher's softened output."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from darkedge.names import UNLABELED


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None,
    alpha: float = 1.0,
    beta: float = 1.0,
    tau: float = 1.0,
    partly_labelled: bool = False,
) -> torch.Tensor:
    """alpha * CE(y, S) + beta * tau^2 * KL(softmax(T/tau) || softmax(S/tau)), KL averaged over the batch.

    The teacher is detached; with `labels` None only the KL term is used (unlabelled clips). With
    `partly_labelled`, clips labelled UNLABELED (unlabelled footage mixed into the batch) add to the KL term only
    and the cross-entropy is averaged over the others (0 when there are none).
    """
    teacher_log_p = F.log_softmax(teacher_logits.detach().float() / tau, dim=1)
    student_log_p = F.log_softmax(student_logits.float() / tau, dim=1)
    kl = F.kl_div(student_log_p, teacher_log_p, reduction="batchmean", log_target=True)
    loss = beta * tau**2 * kl
    if labels is None:
        return loss
    if not partly_labelled:
        return loss + alpha * F.cross_entropy(student_logits.float(), labels)
    ce = F.cross_entropy(student_logits.float(), labels, ignore_index=UNLABELED, reduction="sum")
    return loss + alpha * ce / (labels != UNLABELED).sum().clamp(min=1)


def hint_loss(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """Feature (hint) distillation: the squared distance between L2-normalised feature vectors (B, D), averaged
    over the batch; scale-free, so it weighs the same whatever the features' magnitude. The teacher is detached."""
    s = F.normalize(student_features.float(), dim=1)
    t = F.normalize(teacher_features.detach().float(), dim=1)
    return (s - t).square().sum(dim=1).mean()
