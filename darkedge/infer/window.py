"""The sliding window: a clip cut as the model is fed (darkedge.feeding: T frames `frame_step` apart, resized and
centre-cropped), one every `hop` frames of the stream.

Each frame is prepared once when it arrives (BGR -> RGB, resized to the feeding's resize px high, centre crop to
its crop, as evaluation does), so a window is only a stack of frames already prepared. The window spans
(T - 1) * frame_step + 1 frames of the stream.

Windows are due on a fixed grid of frame numbers: the first when the span is full, then every `hop` frames,
counted from the first frame of the stream (`Frame.start`, which a reconnect moves). A live camera may drop
frames when inference falls behind; a window due whose frames are not all there is skipped and counted, never run
on frames that are not `frame_step` apart. Because the grid is known in advance, so is every frame a window will
use (`WindowGrid.needed`): a camera's reader decodes those and no others (darkedge.infer.camera).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import cv2
import numpy as np

from darkedge.data.transforms import transform_clip
from darkedge.feeding import Feeding
from darkedge.infer.sources import Frame


def prepare_frame(image: np.ndarray, feeding: Feeding) -> np.ndarray:
    """A BGR uint8 frame as the model sees it: RGB uint8 (crop, crop, 3), resized and centre-cropped exactly
    as evaluation does it (darkedge.data.transforms), so a deployed model sees what it was tested on."""
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return transform_clip(rgb[None], train=False, resize=feeding.resize, crop=feeding.crop)[0][0]


class WindowGrid:
    """Which frames of a stream the windows use: windows of `feeding.frames` frames `frame_step` apart, one
    every `hop` frames from the stream's first frame."""

    def __init__(self, feeding: Feeding, hop: int):
        self.span, self.step, self.hop = feeding.span, feeding.frame_step, hop

    def needed(self, index: int, start: int = 0) -> bool:
        """Whether frame `index` of a stream whose grid starts at frame `start` is part of some window."""
        offset = index - start
        if offset < 0:
            return False
        first = max(0, -(-(offset - self.span + 1) // self.hop))  # the earliest window that can hold it
        return any((offset - k * self.hop) % self.step == 0 for k in range(first, offset // self.hop + 1))


@dataclass
class Window:
    """A clip ready for the model: float32 (1, 3, T, S, S) in [0, 1], and the first and last frames it spans."""

    clip: np.ndarray
    first: Frame
    last: Frame


class SlidingWindow:
    """Collects prepared frames; `push` returns a Window when one is due and all its frames are there."""

    def __init__(self, feeding: Feeding, hop: int):
        self.feeding, self.hop = feeding, hop
        self.frame_step = feeding.frame_step
        self.span = feeding.span
        self.skipped = 0  # windows due whose frames were not all there (dropped by a live camera's buffer)
        self._frames: collections.deque[Frame] = collections.deque(maxlen=self.span)
        self._due: int | None = None  # number of the frame that completes the next window

    def reset(self) -> None:
        """Forget the frames held (a new file, or a reconnect: a window must not mix the two sides of a gap)."""
        self._frames.clear()
        self._due = None

    def push(self, frame: Frame) -> Window | None:
        """Add one frame (prepared here unless frame.pixels is set); the window to run when it is due, else None."""
        if frame.pixels is None:
            frame.pixels = prepare_frame(frame.image, self.feeding)
        if frame.after_gap or self._due is None or (self._frames and frame.index <= self._frames[-1].index):
            self.reset()
            self._due = frame.start + self.span - 1  # the stream's grid, whichever of its frames came first
        self._frames.append(frame)
        if frame.index < self._due:
            return None
        missed = (frame.index - self._due) // self.hop  # windows due at frames that never came
        due = self._due + missed * self.hop
        self._due = due + self.hop
        picked = self._picked(due) if due == frame.index else None
        self.skipped += missed + (picked is None)
        if picked is None:
            return None
        stacked = np.stack([f.pixels for f in picked])  # (T, S, S, 3) uint8
        clip = np.empty((1, 3, *stacked.shape[:3]), np.float32)  # one pass into the model's layout
        np.divide(stacked.transpose(3, 0, 1, 2), np.float32(255), out=clip[0])
        return Window(clip, picked[0], picked[-1])

    def _picked(self, last: int) -> list[Frame] | None:
        """The T frames of the window ending at frame `last`, or None when one of them was dropped."""
        first = last - self.span + 1
        held = self._frames
        if len(held) == self.span and held[0].index == first:  # no frame missing: the common case
            return list(held)[:: self.frame_step]
        by_index = {f.index: f for f in held}
        wanted = range(first, last + 1, self.frame_step)
        return [by_index[i] for i in wanted] if all(i in by_index for i in wanted) else None
