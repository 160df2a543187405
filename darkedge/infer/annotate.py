"""The optional annotated video: every frame inferred on, with the current label and score drawn on it.

The video is written under a hidden temporary name beside the target and renamed when it is complete, so an
interrupted run never leaves a half-written file under the real name.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from darkedge.data.writer import VideoWriter


class Annotator:
    """Writes BGR frames with a label line to `path`, at `fps` (atomically, through data.writer.VideoWriter)."""

    def __init__(self, path: Path, fps: float):
        self.path = path
        self._video = VideoWriter(path, fps)

    def write(self, image: np.ndarray, label: str | None) -> None:
        """Draw `label` (e.g. "Walk 0.87") in the top-left corner of a copy of `image` and append it."""
        frame = image.copy()
        if label:
            scale = max(0.4, frame.shape[0] / 480)
            origin = (8, int(24 * scale) + 4)
            thickness = max(1, round(2 * scale))
            cv2.putText(
                frame, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA
            )
            cv2.putText(
                frame, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0), thickness, cv2.LINE_AA
            )
        self._video.write(frame[..., ::-1])

    def close(self) -> None:
        """Finish the video and move it under its real name (nothing is written if no frame came)."""
        self._video.close()

    def discard(self) -> None:
        """Stop writing and delete the partial file (the run failed; nothing goes under the real name)."""
        self._video.discard()
