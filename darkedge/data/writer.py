"""Write RGB frames as a video file, atomically: frames go to a temporary file beside the target (same
extension, so the container is right), which is renamed onto the real name only once it is complete. The
temporary file is registered with fileio, so an interrupted command removes it (fileio.cleanup_on_interrupt)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from darkedge.errors import DarkedgeError
from darkedge.fileio import commit_temporary, discard_temporary, temporary_beside

# FourCC per container; MJPG in .avi is what OpenCV's FFmpeg backend writes and reads back everywhere.
FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mkv": "MJPG", ".mov": "mp4v"}


class VideoWriter:
    """Streams uint8 RGB frames (H, W, 3) into `path`; opened on the first frame, whose size decides.

    `close()` puts the finished file under its real name; `discard()` (or an exception inside a `with` block)
    deletes the partial file, so an interrupted job never leaves half a video under the real name.
    """

    def __init__(self, path: str | os.PathLike, fps: float):
        self.path, self.fps = Path(path), float(fps)
        if self.path.suffix.lower() not in FOURCC:
            raise DarkedgeError(
                f"{self.path}: cannot write video with extension {self.path.suffix!r} (use one of {sorted(FOURCC)})"
            )
        self._tmp: Path | None = None
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 RGB frame."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
            raise DarkedgeError(
                f"{self.path}: frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}"
            )
        if self._writer is None:
            self._tmp = temporary_beside(self.path, keep_extension=True)
            fourcc = cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()])
            height, width = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.CAP_FFMPEG, fourcc, self.fps, (width, height))
            if not self._writer.isOpened():
                self.discard()
                raise DarkedgeError(f"{self.path}: OpenCV could not open a video writer for it")
        self._writer.write(np.ascontiguousarray(frame[..., ::-1]))

    def close(self) -> None:
        """Finish the file and move it under its real name (nothing is written when no frame came)."""
        if self._writer is not None:
            self._writer.release()
            commit_temporary(self._tmp, self.path)
            self._writer = self._tmp = None

    def discard(self) -> None:
        """Stop writing and delete the partial file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            discard_temporary(self._tmp)
            self._tmp = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """Write uint8 RGB frames (n, H, W, 3) to `path`; the real name appears only once the file is complete."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise DarkedgeError(
            f"{path}: frames must be uint8 (n, H, W, 3) with n > 0, got {frames.dtype} {frames.shape}"
        )
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
