"""ViT frame encoder: a plain Vision Transformer run on every frame of a clip, one token per frame.

Parameter names follow timm's VisionTransformer (patch_embed.proj, cls_token, pos_embed, blocks.N.*, norm), so a
local timm-style checkpoint loads by name; its position embeddings are resized (bicubic) to our input size.
The frame token is the CLS output after the final norm, as in timm's `global_pool="token"`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkedge.errors import DarkedgeError
from darkedge.models.scaling import CHANNEL_MULTIPLE, scale_channels
from darkedge.models.weights import load_by_name, read_state_dict


@dataclass
class ViTConfig:
    """Size of a ViT; `img_size` is the frame size the position embeddings are built for."""

    dim: int
    depth: int
    heads: int
    patch: int = 16
    mlp_ratio: float = 4.0
    img_size: int = 224

    def scaled(self, width: float) -> ViTConfig:
        """The same depth and heads with the width multiplied by `width`, kept divisible by the heads."""
        return dataclasses.replace(
            self, dim=scale_channels(self.dim, width, math.lcm(CHANNEL_MULTIPLE, self.heads))
        )


VIT_SIZES = {
    "vit_base": ViTConfig(dim=768, depth=12, heads=12),
    "vit_small": ViTConfig(dim=384, depth=12, heads=6),
    "vit_tiny": ViTConfig(dim=192, depth=12, heads=3),
    "vit_micro": ViTConfig(dim=128, depth=4, heads=4, patch=8),  # CPU presets
    "vit_nano": ViTConfig(dim=32, depth=1, heads=2, patch=8),  # fast tests
}


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise DarkedgeError(f"attention: width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    """Two linear layers with a GELU between them."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer layer: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Cut a frame into patches with one strided convolution: (N, 3, H, W) -> (N, patches, dim)."""

    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """ViT applied per frame: clip (B, 3, T, H, W) -> frame tokens (B, T, dim)."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        if cfg.img_size % cfg.patch:
            raise DarkedgeError(
                f"vit: frame size {cfg.img_size} is not a multiple of the patch size {cfg.patch}"
            )
        self.cfg = cfg
        self.dim = cfg.dim
        self.num_heads = cfg.heads
        grid = cfg.img_size // cfg.patch
        self.patch_embed = PatchEmbed(cfg.patch, cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + grid * grid, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.apply(init_linear)

    def num_tokens(self, num_frames: int) -> int:
        """One token per frame."""
        return num_frames

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        batch, _, frames, height, width = clip.shape
        x = clip.transpose(1, 2).reshape(batch * frames, 3, height, width)
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0]).reshape(batch, frames, self.dim)

    def load_pretrained(self, path: str | os.PathLike) -> None:
        """Load a timm-style ViT state dict by name, dropping the classifier head and resizing pos_embed."""
        state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("head.")}
        if "pos_embed" in state and state["pos_embed"].shape != self.pos_embed.shape:
            state["pos_embed"] = resize_pos_embed(state["pos_embed"], self.pos_embed.shape[1] - 1, path)
        load_by_name(self, state, path)


def resize_pos_embed(pos_embed: torch.Tensor, patches: int, source: str | os.PathLike) -> torch.Tensor:
    """Bicubic resize of (1, prefix + G*G, D) position embeddings to a square grid of `patches` cells."""
    old_grid = math.isqrt(pos_embed.shape[1] - 1)
    if pos_embed.ndim != 3 or old_grid * old_grid != pos_embed.shape[1] - 1:
        raise DarkedgeError(
            f"{source}: pos_embed {tuple(pos_embed.shape)} is not one CLS token plus a square grid"
        )
    new_grid = math.isqrt(patches)
    cls, grid = pos_embed[:, :1], pos_embed[:, 1:]
    grid = grid.reshape(1, old_grid, old_grid, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, -1).to(pos_embed.dtype)
    return torch.cat([cls, grid], dim=1)


def init_linear(module: nn.Module) -> None:
    """timm's ViT start: truncated-normal linear weights (std 0.02), zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
