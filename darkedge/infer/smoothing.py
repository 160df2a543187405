"""Temporal smoothing: the mean of the softmax over the last K windows, so one odd window does not flip the label."""

from __future__ import annotations

import collections

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis, computed stably in float64."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Smoother:
    """Keeps the class probabilities of the last `k` windows; `update` returns their mean."""

    def __init__(self, k: int):
        self._recent: collections.deque[np.ndarray] = collections.deque(maxlen=max(1, k))

    def reset(self) -> None:
        """Forget past windows (a new file, or a stream gap)."""
        self._recent.clear()

    def update(self, logits: np.ndarray) -> np.ndarray:
        """Add one window's logits (C,) and return the smoothed probabilities (C,)."""
        self._recent.append(softmax(logits))
        return np.mean(self._recent, axis=0)
