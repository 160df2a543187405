"""Two-stream baseline (DarkLight style): a raw stream and an enhanced stream, features concatenated, one linear head.

Both streams have the classifier's architecture without its own output layer; the enhancer is frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from darkedge.models.classifier import ClassifierConfig, ClipFeatures
from darkedge.models.teacher import enhance_clip


class TwoStream(nn.Module):
    """Clip in [0, 1] -> logits from [raw features, enhanced features]."""

    def __init__(self, enhancer: nn.Module, cfg: ClassifierConfig):
        super().__init__()
        self.enhancer = enhancer.requires_grad_(False).eval()
        self.raw = ClipFeatures(cfg)
        self.enhanced = ClipFeatures(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(self.raw.dim + self.enhanced.dim, cfg.num_classes)

    def train(self, mode: bool = True) -> TwoStream:
        """Switch the streams' mode; the frozen enhancer stays in eval mode."""
        super().train(mode)
        self.enhancer.eval()
        return self

    def features(self, clip: torch.Tensor) -> torch.Tensor:
        """Concatenated raw and enhanced stream features (B, 2 * dim)."""
        return torch.cat([self.raw(clip), self.enhanced(enhance_clip(self.enhancer, clip))], dim=1)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(clip)))
