"""Which frames make a clip: T frames `step` frames apart, a random start in training, centred (or evenly
spaced clips) in evaluation; clips shorter than the span wrap around to their start."""

from __future__ import annotations

import numpy as np


def clip_starts(
    num_frames: int, span: int, num_clips: int, train: bool, rng: np.random.Generator
) -> list[int]:
    """Start frames of `num_clips` windows of `span` frames in a video of `num_frames` frames."""
    room = num_frames - span  # negative when the clip is shorter than the window: it wraps around
    if train:
        return [int(rng.integers(0, max(room, 0) + 1)) for _ in range(num_clips)]
    if num_clips == 1:
        return [max(room, 0) // 2]
    if room >= 0:
        return [int(round(s)) for s in np.linspace(0, room, num_clips)]
    return [int(s) for s in np.linspace(0, num_frames, num_clips, endpoint=False)]


def sample_indices(
    num_frames: int,
    length: int,
    step: int = 1,
    train: bool = False,
    num_clips: int = 1,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frame indices (num_clips, length) of clips of `length` frames `step` frames apart, wrapped if short."""
    if num_frames < 1:
        raise ValueError(f"cannot sample from a video of {num_frames} frames")
    if length < 1 or step < 1 or num_clips < 1:
        raise ValueError(f"length, step and num_clips must be >= 1, got {length}, {step}, {num_clips}")
    if train and rng is None:
        raise ValueError("training sampling needs a random generator")
    span = (length - 1) * step + 1
    starts = clip_starts(num_frames, span, num_clips, train, rng)
    offsets = np.arange(length) * step
    return (np.asarray(starts)[:, None] + offsets[None, :]) % num_frames
