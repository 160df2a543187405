"""Temporal heads: turn a clip's tokens (B, n, D) into one feature vector (B, D).

`bert` (the paper's) attends over time: a learned CLS token and positional embedding, pre-norm transformer layers,
a final LayerNorm, and the CLS output. `mean` is the temporal average pooling it replaces (the ablation).
"""

from __future__ import annotations

import torch
from torch import nn

from darkedge.models.vit import Block, init_linear

HEADS = ("bert", "mean")


class BertHead(nn.Module):
    """BERT-style temporal head over `num_tokens` tokens; returns the CLS output."""

    def __init__(self, dim: int, num_tokens: int, depth: int, heads: int):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, num_tokens + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        # as the ViT starts: with PyTorch's default linear init the head stalls at uniform predictions for a while
        self.apply(init_linear)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0])


class MeanHead(nn.Module):
    """Temporal average pooling."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.mean(dim=1)
