"""The teacher T = Tc(Te(x)): a low-light enhancer on every frame, clamped to [0, 1], then a classifier.

The enhancer is frozen (no gradient, always in eval mode) unless `joint` is on: the DTCM design trains the
enhancer and the classifier together, end to end.
"""

from __future__ import annotations

import torch
from torch import nn

from darkedge.models.classifier import VideoClassifier


def enhance_clip(enhancer: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    """Run a frame enhancer on every frame of (B, 3, T, H, W) and clamp the result to [0, 1]."""
    # flatten / unflatten rather than reshapes to traced sizes: exported graphs keep a free batch dimension
    frames = clip.shape[2]
    enhanced = enhancer(clip.transpose(1, 2).flatten(0, 1)).clamp(0, 1)
    return enhanced.unflatten(0, (-1, frames)).transpose(1, 2)


class Teacher(nn.Module):
    """Enhance-then-classify: clip in [0, 1] -> logits; `joint` trains the enhancer too (DTCM)."""

    def __init__(self, enhancer: nn.Module, classifier: VideoClassifier, joint: bool = False):
        super().__init__()
        self.enhancer = enhancer
        self.classifier = classifier
        self.joint = joint
        if not joint:
            self.enhancer.requires_grad_(False)
            self.enhancer.eval()

    def train(self, mode: bool = True) -> Teacher:
        """Switch the classifier's mode; a frozen enhancer stays in eval mode."""
        super().train(mode)
        if not self.joint:
            self.enhancer.eval()
        return self

    def features(self, clip: torch.Tensor) -> torch.Tensor:
        """The classifier's feature vector on the enhanced clip."""
        return self.classifier.features(enhance_clip(self.enhancer, clip))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.classifier(enhance_clip(self.enhancer, clip))


def classifier_of(teacher: nn.Module) -> nn.Module:
    """The classifier a teacher runs: the one after a Teacher's enhancer, or a raw-frame teacher itself (the
    self-training control's)."""
    return teacher.classifier if isinstance(teacher, Teacher) else teacher
