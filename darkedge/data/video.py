"""Decode the frames a clip needs from a video file (OpenCV) or a frame folder (img_00001.jpg ...), as RGB.

Container frame counts are not trusted: the last frames of a file (or all after a damaged one) may not decode,
so `count_frames` checks that the last reported frame really decodes before believing the count.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from darkedge.errors import DarkedgeError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
SEEK_GAP = 24  # skip at most this many frames with grab(); seek for longer jumps

# FFmpeg's own messages about damaged files and streams go straight to stderr; VideoError (and infer's reports)
# say what is wrong in one line. FFmpeg reads this once, when OpenCV first loads it (a user's own setting is kept):
# the one place darkedge sets it.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


class VideoError(DarkedgeError):
    """A video or frame folder that cannot be read: missing, empty, corrupt, or too short."""


DEFAULT_FPS = 25.0  # when a container or camera does not say (frame folders, some streams)


def frame_rate(capture: cv2.VideoCapture) -> float:
    """The capture's frames per second, or DEFAULT_FPS when it reports none (or nonsense)."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 0 < fps < 1000 else DEFAULT_FPS


def video_fps(path: str | Path) -> float:
    """A video's frames per second (DEFAULT_FPS for a frame folder or a file that reports none)."""
    path = Path(path)
    if path.is_dir():
        return DEFAULT_FPS
    cap = _open(path)
    try:
        return frame_rate(cap)
    finally:
        cap.release()


def is_video(path: Path) -> bool:
    """True for a file whose extension names a video container."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def is_frame_folder(path: Path) -> bool:
    """True for a folder holding at least one image file."""
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _frame_files(folder: Path) -> list[Path]:
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=_natural_key)
    if not files:
        raise VideoError(f"{folder}: empty frame folder (no {'/'.join(IMAGE_EXTENSIONS)} images)")
    return files


def _open(path: Path) -> cv2.VideoCapture:
    """Open a video file, turning every way it can fail into a one-line VideoError."""
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # VideoError says it in one line instead
    try:
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not cap.isOpened():
        raise VideoError(f"{path}: cannot be opened as a video (not a video, unsupported codec or truncated)")
    return cap


def _rgb(frame_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


def count_frames(path: str | Path) -> int:
    """Number of frames that really decode: the container's count if its last frame reads, else counted."""
    path = Path(path)
    if path.is_dir():
        return len(_frame_files(path))
    cap = _open(path)
    try:
        reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if reported > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, reported - 1)
            if cap.grab():
                return reported
            cap.release()
            cap = _open(path)
        count = 0
        while cap.grab():
            count += 1
    finally:
        cap.release()
    if count == 0:
        raise VideoError(f"{path}: no frame decodes (corrupt or truncated video)")
    return count


def reported_frame_count(path: str | Path) -> int | None:
    """The frame count a video's container claims (None when it gives none, or for a frame folder)."""
    path = Path(path)
    if path.is_dir():
        return None
    cap = _open(path)
    reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return reported if reported > 0 else None


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Every decodable frame of a video or frame folder, in order, RGB uint8 (H, W, 3)."""
    path = Path(path)
    if path.is_dir():
        for file in _frame_files(path):
            yield _read_image(file)
        return
    cap = _open(path)
    try:
        ok, frame = cap.read()
        if not ok:
            raise VideoError(f"{path}: no frame decodes (corrupt or truncated video)")
        while ok:
            yield _rgb(frame)
            ok, frame = cap.read()
    finally:
        cap.release()


def _read_image(file: Path) -> np.ndarray:
    image = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(f"{file}: cannot be decoded as an image")
    return _rgb(image)


def _decode_sorted(cap: cv2.VideoCapture, wanted: list[int], seek: bool) -> dict[int, np.ndarray]:
    """Decode frames `wanted` (sorted, unique) moving forward only; stop at the first frame that fails."""
    frames: dict[int, np.ndarray] = {}
    position = 0
    for index in wanted:
        gap = index - position
        if seek and gap > SEEK_GAP:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        else:
            for _ in range(gap):
                if not cap.grab():
                    return frames
        ok, frame = cap.read()
        if not ok:
            return frames
        frames[index] = _rgb(frame)
        position = index + 1
    return frames


def read_frames(path: str | Path, indices: Sequence[int], dtype: type = np.uint8) -> np.ndarray:
    """Frames `indices` (any order, repeats allowed) as RGB (n, H, W, 3): uint8, or float32 in [0, 1]."""
    path = Path(path)
    wanted = sorted(set(int(i) for i in indices))
    if not wanted:
        raise ValueError("read_frames needs at least one index")
    if wanted[0] < 0:
        raise VideoError(f"{path}: negative frame index {wanted[0]}")
    if path.is_dir():
        files = _frame_files(path)
        if wanted[-1] >= len(files):
            raise VideoError(f"{path}: frame {wanted[-1]} is past the end ({len(files)} frames)")
        frames = {i: _read_image(files[i]) for i in wanted}
    else:
        cap = _open(path)
        try:
            frames = _decode_sorted(cap, wanted, seek=True)
        finally:
            cap.release()
        if len(frames) < len(wanted):  # a seek can land badly: retry decoding straight through from the start
            cap = _open(path)
            try:
                frames = _decode_sorted(cap, wanted, seek=False)
            finally:
                cap.release()
        if len(frames) < len(wanted):
            if not frames and wanted[0] == 0:
                raise VideoError(f"{path}: no frame decodes (corrupt or truncated video)")
            missing = next(i for i in wanted if i not in frames)
            raise VideoError(f"{path}: frame {missing} is past the end of the frames that decode")
    clip = np.stack([frames[int(i)] for i in indices])
    if dtype == np.float32:
        return clip.astype(np.float32) / 255.0
    if dtype != np.uint8:
        raise ValueError(f"read_frames: dtype must be np.uint8 or np.float32, not {dtype}")
    return clip
