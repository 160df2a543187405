"""The predictor interface every backend implements: logits for a batch of clips, whatever runs them.

A clip batch is float32 (B, 3, T, H, W) in [0, 1]; an exported model's shape is static, so every call is
checked against it first and a mismatch is a one-line error rather than a runtime's stack trace.
`predict_many` runs any number of clips in the calls the model takes: all at once when its batch is free, in
chunks of `max_batch` when that is bounded, padded to the batch when the batch is fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from darkedge.errors import DarkedgeError


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
        # The most clips one call takes: the fixed batch, or a backend's bound on a free one (None: any).
        self.max_batch: int | None = self.input_shape[0] if self.input_shape else None

    @property
    def class_names(self) -> list[str] | None:
        """The model's action names (from its own metadata, else its run directory), or None when unknown."""
        return list(self.metadata["class_names"]) if self.metadata.get("class_names") else None

    def predict(self, clips: np.ndarray) -> np.ndarray:
        """Logits (B, C) for clips float32 (B, 3, T, H, W) in [0, 1]."""
        clips = np.ascontiguousarray(clips, dtype=np.float32)
        self.check_shape(clips.shape)
        return self._run(clips)

    def predict_many(self, clips: np.ndarray) -> tuple[np.ndarray, int]:
        """(logits (B, C), number of calls) for any number of clips B, in as few calls as the model allows.

        A fixed batch larger than the clips left is filled with copies of the last clip (their logits are
        dropped): one padded call costs less than one call per clip would on a batch-fixed model.
        """
        fixed = self.input_shape[0] if self.input_shape else None
        step = self.max_batch or len(clips)
        logits = []
        for start in range(0, len(clips), step):
            chunk = clips[start : start + step]
            count = len(chunk)
            if fixed is not None and count < fixed:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - count, axis=0)])
            logits.append(self.predict(chunk)[:count])
        return np.concatenate(logits), len(logits)

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
