"""Checkpoints: a dict of tensors and plain data, saved atomically, loaded with weights_only=True.

A checkpoint from a stranger must not be able to run code, so nothing but tensors, numbers, strings,
lists and dicts goes in, and loading refuses anything else.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from darkedge import __version__
from darkedge.errors import DarkedgeError
from darkedge.fileio import atomic_path

FORMAT = "darkedge-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(
    path: str | os.PathLike,
    *,
    kind: str,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    class_names: list[str] | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint for a model of `kind` built from `config` (plain data only)."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "darkedge_version": __version__,
        "kind": kind,
        "config": config,
        "class_names": list(class_names or []),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "metrics": metrics or {},
        "extra": extra or {},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, kind: str | tuple[str, ...] | None = None) -> dict[str, Any]:
    """Load and validate a darkedge checkpoint; `kind` (one or several) is what the caller expects."""
    path = Path(path)
    if not path.is_file():
        raise DarkedgeError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DarkedgeError(
            f"{path}: refused: it holds Python objects that could run code ({first[:120]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise DarkedgeError(
            f"{path}: unreadable checkpoint, truncated or not a PyTorch file ({type(e).__name__})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DarkedgeError(f"{path}: not a darkedge checkpoint (no '{FORMAT}' marker)")
    missing = [key for key in ("kind", "config", "state_dict") if key not in ckpt]
    if missing:
        raise DarkedgeError(f"{path}: damaged darkedge checkpoint, it lacks {', '.join(map(repr, missing))}")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise DarkedgeError(
            f"{path}: checkpoint format {ckpt['format_version']} is newer than this darkedge reads"
        )
    wanted = (kind,) if isinstance(kind, str) else kind
    if wanted and ckpt["kind"] not in wanted:
        raise DarkedgeError(
            f"{path}: holds a '{ckpt['kind']}' checkpoint, expected {' or '.join(map(repr, wanted))}"
        )
    return ckpt
