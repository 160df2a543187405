"""The optional annotated video: every frame inferred on, with the current label and score drawn on it.

The video is written under a hidden partial name beside the target and renamed when it is complete, so an
interrupted run never leaves a half-written file under the real name.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from darkedge.errors import DarkedgeError

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class Annotator:
    """Writes BGR frames with a label line to `path`, at `fps`; opened on the first frame (its size decides)."""

    def __init__(self, path: Path, fps: float):
        if path.suffix.lower() not in FOURCC:
            raise DarkedgeError(f"{path}: annotated video must be one of {', '.join(FOURCC)}")
        self.path, self.fps = path, fps
        self._partial = path.with_name(f".{path.stem}.partial{path.suffix}")
        self._writer: cv2.VideoWriter | None = None

    def write(self, image: np.ndarray, label: str | None) -> None:
        """Draw `label` (e.g. "Walk 0.87") in the top-left corner of a copy of `image` and append it."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._partial), fourcc, self.fps, (width, height))
            if not self._writer.isOpened():
                raise DarkedgeError(f"{self.path}: OpenCV cannot write this video")
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
        self._writer.write(frame)

    def close(self) -> None:
        """Finish the video and move it under its real name (nothing is written if no frame came)."""
        if self._writer is not None:
            self._writer.release()
            os.replace(self._partial, self.path)
            self._writer = None

    def discard(self) -> None:
        """Stop writing and delete the partial file (the run failed; nothing goes under the real name)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._partial.unlink(missing_ok=True)
