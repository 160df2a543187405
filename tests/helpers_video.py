"""Write small real test videos with cv2.VideoWriter; frame i is a flat grey of level 6 * i + 5 (i < 42)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FOURCC = {".avi": "MJPG", ".mkv": "MJPG", ".mp4": "mp4v", ".mov": "mp4v"}


def frame_level(i: int) -> int:
    """The grey level written into frame i, so a test can tell which frame it decoded."""
    return 6 * i + 5


def level_to_index(frame: np.ndarray) -> int:
    """Which frame a decoded frame was, from its mean grey level."""
    return int(round((float(frame.mean()) - 5) / 6))


def write_video(
    path: Path, num_frames: int = 20, size: tuple[int, int] = (32, 24), level: int | None = None
) -> Path:
    """A real video of `num_frames` flat frames (width, height = size); `level` fixes one grey for all frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC[path.suffix]), 10, size)
    assert writer.isOpened(), path
    for i in range(num_frames):
        writer.write(np.full((size[1], size[0], 3), frame_level(i) if level is None else level, np.uint8))
    writer.release()
    return path


def write_textured_video(
    path: Path, num_frames: int = 20, size: tuple[int, int] = (48, 32), seed: int = 0
) -> Path:
    """A real video of random-texture frames, so that different crops and flips give different pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC[path.suffix]), 10, size)
    assert writer.isOpened(), path
    rng = np.random.default_rng(seed)
    for _ in range(num_frames):
        writer.write(rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()
    return path


def write_frame_folder(folder: Path, num_frames: int = 12, size: tuple[int, int] = (32, 24)) -> Path:
    """A frame folder img_00001.jpg ... of flat frames with the same grey levels as write_video."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(num_frames):
        frame = np.full((size[1], size[0], 3), frame_level(i), np.uint8)
        cv2.imwrite(str(folder / f"img_{i + 1:05d}.jpg"), frame)
    return folder
