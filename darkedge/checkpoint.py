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


def load_weights_only(path: str | os.PathLike) -> Any:
    """torch.load with weights_only=True, every failure a one-line DarkedgeError (a pickle that would run
    code is refused, a truncated file is named as such)."""
    path = Path(path)
    if not path.is_file():
        raise DarkedgeError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DarkedgeError(
            f"{path}: refused: it holds Python objects that could run code ({first[:120]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise DarkedgeError(
            f"{path}: unreadable, truncated or not a PyTorch file ({type(e).__name__})"
        ) from None


def is_checkpoint(content: Any) -> bool:
    """Whether loaded file content carries the darkedge checkpoint marker."""
    return isinstance(content, dict) and content.get("format") == FORMAT


def check_checkpoint(
    path: str | os.PathLike, ckpt: Any, kind: str | tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Validate loaded content as a darkedge checkpoint; `kind` (one or several) is what the caller expects."""
    if not is_checkpoint(ckpt):
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


def load_checkpoint(path: str | os.PathLike, kind: str | tuple[str, ...] | None = None) -> dict[str, Any]:
    """Load and validate a darkedge checkpoint; `kind` (one or several) is what the caller expects."""
    return check_checkpoint(path, load_weights_only(path), kind)
