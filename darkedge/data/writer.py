"""Write RGB frames as a video file, atomically: a temporary file with the same extension, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from darkedge.errors import DarkedgeError

# FourCC per container; MJPG in .avi is what OpenCV's FFmpeg backend writes and reads back everywhere.
FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".mkv": "MJPG", ".mov": "mp4v"}


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """Write uint8 RGB frames (n, H, W, 3) to `path`; the real name appears only once the file is complete."""
    path = Path(path)
    if path.suffix.lower() not in FOURCC:
        raise DarkedgeError(
            f"{path}: cannot write video with extension {path.suffix!r} (use one of {sorted(FOURCC)})"
        )
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise DarkedgeError(
            f"{path}: frames must be uint8 (n, H, W, 3) with n > 0, got {frames.dtype} {frames.shape}"
        )
    height, width = frames.shape[1:3]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        fourcc = cv2.VideoWriter_fourcc(*FOURCC[path.suffix.lower()])
        writer = cv2.VideoWriter(tmp, cv2.CAP_FFMPEG, fourcc, float(fps), (width, height))
        if not writer.isOpened():
            raise DarkedgeError(f"{path}: OpenCV could not open a video writer for it")
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
        writer.release()
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
