"""Semi-supervised training on unlabelled footage: FixMatch with a mean teacher (TrainConfig.semi).

A stage that has a few labelled clips and much unlabelled footage learns from both. Every batch holds labelled and
unlabelled clips (darkedge.data.unlabeled.mixed). An exponential moving average of the model's weights (`Ema`, the
mean teacher) sees each clip as loaded (the weak view: random crop and flip) and labels it; the model sees a strongly
augmented copy of the same clip (`strong_augment`) and learns, on the labelled clips, their labels, and on the
unlabelled ones, the EMA's label wherever the EMA is at least `threshold` sure of it (`fixmatch_loss`). The EMA is
steadier than the model it follows, so it is also what the stage keeps.

For the enhanced-view teacher the model is the whole teacher (frozen enhancer + classifier): both views go through
the enhancer, so the augmentations act on raw dark frames, as a camera's changes would.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from darkedge.names import UNLABELED

# Strong augmentation of raw dark clips: each survives per-clip normalisation (a global gain or offset would not).
GAMMA = (0.6, 1.6)  # a clip's tone curve
CHANNEL_GAIN = (0.8, 1.25)  # a colour cast
FRAME_GAIN = (0.85, 1.18)  # exposure flicker from frame to frame
NOISE = 0.5  # extra sensor noise, up to this share of the clip's own standard deviation
CUTOUT = (0.25, 0.5)  # one square hidden in every frame, its side this share of the crop


class Ema(nn.Module):
    """An exponential moving average of `model`'s weights and buffers (integers copied), in eval mode."""

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for ema, live in zip(self.module.state_dict().values(), model.state_dict().values(), strict=True):
            if ema.dtype.is_floating_point:
                ema.lerp_(live.detach(), 1.0 - self.decay)
            else:
                ema.copy_(live)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.module(clips)

    def train(
        self, mode: bool = True
    ) -> Ema:  # the average is never trained: dropout off, batch norms frozen
        return super().train(False)


def _uniform(shape: tuple[int, ...], low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    return torch.empty(shape, device=like.device, dtype=like.dtype).uniform_(low, high)


@torch.no_grad()
def strong_augment(clips: torch.Tensor) -> torch.Tensor:
    """A strongly augmented copy of raw clips (B, 3, T, S, S) in [0, 1]: per clip a random tone curve, colour cast,
    frame-to-frame flicker, added noise and one hidden square (random from torch's generator: the engine seeds it
    per epoch)."""
    b, _, t, s, _ = clips.shape
    x = clips.float().clamp(0, 1)
    x = x ** _uniform((b, 1, 1, 1, 1), *GAMMA, x)
    x = x * _uniform((b, 3, 1, 1, 1), *CHANNEL_GAIN, x) * _uniform((b, 1, t, 1, 1), *FRAME_GAIN, x)
    std = x.flatten(1).std(1).view(b, 1, 1, 1, 1)
    x = x + torch.randn_like(x) * std * _uniform((b, 1, 1, 1, 1), 0.0, NOISE, x)
    side = (_uniform((b,), *CUTOUT, x) * s).long().clamp(1, s)
    top = (torch.rand(b, device=x.device) * (s - side + 1)).long()
    left = (torch.rand(b, device=x.device) * (s - side + 1)).long()
    rows = torch.arange(s, device=x.device)
    inside_r = (rows[None] >= top[:, None]) & (rows[None] < (top + side)[:, None])  # (B, S)
    inside_c = (rows[None] >= left[:, None]) & (rows[None] < (left + side)[:, None])
    hole = (inside_r[:, :, None] & inside_c[:, None, :]).view(b, 1, 1, s, s)
    x = torch.where(hole, x.mean(dim=(1, 2, 3, 4), keepdim=True), x)
    return x.clamp(0, 1).to(clips.dtype)


def fixmatch_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ema_logits: torch.Tensor,
    threshold: float,
    weight: float,
    stats: dict[str, int] | None = None,
) -> torch.Tensor:
    """Cross-entropy on the labelled clips, plus `weight` x cross-entropy to the EMA's label on the unlabelled
    clips the EMA is at least `threshold` sure of (averaged over all unlabelled clips, as FixMatch does).
    `ema_logits` are the EMA's logits of the unlabelled clips alone, in their order in the batch. `stats` (when
    given) counts the unlabelled clips seen and those confident enough to learn from."""
    logits = logits.float()
    labelled = labels != UNLABELED
    loss = logits.new_zeros(())
    if labelled.any():
        loss = F.cross_entropy(logits[labelled], labels[labelled])
    unlabeled = ~labelled
    if unlabeled.any() and weight > 0:
        confidence, pseudo = ema_logits.float().softmax(1).max(1)
        per_clip = F.cross_entropy(logits[unlabeled], pseudo, reduction="none")
        confident = confidence >= threshold
        loss = loss + weight * (per_clip * confident).mean()
        if stats is not None:
            stats["unlabeled"] = stats.get("unlabeled", 0) + len(confident)
            stats["confident"] = stats.get("confident", 0) + int(confident.sum())
    return loss
