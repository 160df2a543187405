"""The sliding window: T frames `frame_step` apart, resized and centre-cropped to the model's input, every `stride` frames.

Each frame is prepared once when it arrives (BGR -> RGB, resized to size * resize_ratio px high, centre crop
to size x size, as evaluation does), so a window is only a stack of frames already prepared. The window spans
(T - 1) * frame_step + 1 frames of the stream; `frame_step` should match the stride the model was trained with.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import cv2
import numpy as np

from darkedge.data.transforms import transform_clip
from darkedge.infer.sources import Frame
from darkedge.runtime.metadata import DEFAULT_RESIZE_RATIO as RESIZE_RATIO


def prepare_frame(image: np.ndarray, size: int, resize_ratio: float = RESIZE_RATIO) -> np.ndarray:
    """A BGR uint8 frame as the model sees it: RGB uint8 (size, size, 3), resized and centre-cropped exactly
    as evaluation does it (darkedge.data.transforms), so a deployed model sees what it was tested on."""
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return transform_clip(rgb[None], train=False, resize=round(size * resize_ratio), crop=size)[0][0]


@dataclass
class Window:
    """A clip ready for the model: float32 (1, 3, T, S, S) in [0, 1], and the first and last frames it spans."""

    clip: np.ndarray
    first: Frame
    last: Frame


class SlidingWindow:
    """Collects prepared frames; `push` returns a Window once the span is full, then every `stride` frames."""

    def __init__(
        self, num_frames: int, size: int, stride: int, frame_step: int = 1, resize_ratio: float = RESIZE_RATIO
    ):
        self.num_frames, self.size, self.stride, self.frame_step = num_frames, size, stride, frame_step
        self.resize_ratio = resize_ratio
        self.span = (num_frames - 1) * frame_step + 1
        self._frames: collections.deque[tuple[Frame, np.ndarray]] = collections.deque(maxlen=self.span)
        self._due_in = self.span  # frames still to come before the next window

    def reset(self) -> None:
        """Forget the frames held (after a reconnect, a window must not mix the two sides of the gap)."""
        self._frames.clear()
        self._due_in = self.span

    def push(self, frame: Frame) -> Window | None:
        """Add one frame; the window to run when it is due, else None."""
        if frame.after_gap:
            self.reset()
        self._frames.append((frame, prepare_frame(frame.image, self.size, self.resize_ratio)))
        self._due_in -= 1
        if self._due_in > 0:
            return None
        self._due_in = self.stride
        picked = [pixels for _, pixels in list(self._frames)[:: self.frame_step]]  # T frames, (S, S, 3) each
        clip = np.stack(picked).transpose(3, 0, 1, 2)[None].astype(np.float32) / 255.0
        return Window(np.ascontiguousarray(clip), self._frames[0][0], self._frames[-1][0])
