"""The predictor interface every backend implements: logits for a batch of clips, whatever runs them.

A clip batch is float32 (B, 3, T, H, W) in [0, 1]; an exported model's shape is static, so every call is
checked against it first and a mismatch is a one-line error rather than a runtime's stack trace.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from darkedge.errors import DarkedgeError


def require(backend: str, what: object) -> ModuleType:
    """Import the module a backend needs, or fail with one line naming `what` needs it and the package to install
    (each backend's pip package has its module's name)."""
    try:
        return importlib.import_module(backend)
    except ImportError:
        raise DarkedgeError(f"{what}: backend '{backend}' is not installed (pip install {backend})") from None


class Predictor:
    """Runs one model on clip batches; subclasses set the fields below and implement `_run`.

    `metadata` is what the model file says about itself (darkedge.runtime.metadata), so a model copied alone to
    another machine still knows its class names and how it must be fed.
    """

    backend: str = ""

    def __init__(
        self,
        path: Path,
        input_shape: tuple[int | None, ...],
        metadata: dict[str, Any],
        threads: int | None,
    ):
        self.path = path
        self.input_shape = tuple(input_shape)
        self.metadata = metadata  # darkedge.runtime.metadata: class names, input shape, sampling, provenance
        self.threads = threads

    @property
    def class_names(self) -> list[str] | None:
        """The model's action names (from its own metadata, else its run directory), or None when unknown."""
        return list(self.metadata["class_names"]) if self.metadata.get("class_names") else None

    def predict(self, clips: np.ndarray) -> np.ndarray:
        """Logits (B, C) for clips float32 (B, 3, T, H, W) in [0, 1]."""
        clips = np.ascontiguousarray(clips, dtype=np.float32)
        self.check_shape(clips.shape)
        return self._run(clips)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """One-line error when `shape` is not one the model takes (None in input_shape: any size)."""
        fits = len(shape) == len(self.input_shape) and all(
            want is None or want == got for want, got in zip(self.input_shape, shape, strict=True)
        )
        if not fits:
            wanted = "(" + ", ".join("?" if d is None else str(d) for d in self.input_shape) + ")"
            raise DarkedgeError(
                f"{self.path}: the model takes input {wanted} (B, 3, T, H, W), got {tuple(shape)}"
            )

    def _run(self, clips: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path}, input_shape={self.input_shape}, threads={self.threads})"


def static_dims(dims: list[Any]) -> tuple[int | None, ...]:
    """A runtime's reported shape with every dynamic dimension (a name, -1, 0 or None) as None."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)
