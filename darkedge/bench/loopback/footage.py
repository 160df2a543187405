"""Night footage as a camera at a given size sends it: what the loopback cameras stream.

A clip (or a folder of them, looped) is scaled to cover the stream's size and centre-cropped, then Gaussian sensor
noise is added at that size: read noise at the stream's own resolution, which upscaled small clips lack. Night
video is noise, and noise is what an encoder spends its bits on: streamed so, the built-in dark clips decode as
dearly as real dark footage at the same settings (benchmarks/bench_streams.py measures both).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from darkedge.data.video import VIDEO_EXTENSIONS
from darkedge.errors import DarkedgeError

NOISE = 4.0  # sensor noise added to footage at the stream's size (8-bit levels; see bench_streams.py)


def video_files(footage: str | Path) -> list[Path]:
    """The videos of `footage` (a file, or a folder searched recursively, in name order)."""
    footage = Path(footage)
    if not footage.exists():
        raise DarkedgeError(f"{footage}: no such file or folder")
    files = [footage]
    if footage.is_dir():
        files = sorted(p for p in footage.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not files:
        raise DarkedgeError(f"{footage}: no video files ({', '.join(sorted(VIDEO_EXTENSIONS))})")
    return files


def footage_frames(
    footage: str | Path, width: int, height: int, fps: int, count: int, noise: float = NOISE, seed: int = 0
) -> Iterator[np.ndarray]:
    """`count` BGR frames of `footage` (a video file or a folder of them, read in name order and looped; faster
    footage at `fps` by taking every k-th frame), each scaled to cover `width` x `height` and centre-cropped, with
    Gaussian sensor noise of `noise` levels added at that size."""
    files = video_files(footage)
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        before = made
        for path in files:
            capture = cv2.VideoCapture(str(path))
            step = max(1, round((capture.get(cv2.CAP_PROP_FPS) or fps) / fps))  # 30 fps footage: every 2nd
            while made < count:
                for _ in range(step - 1):
                    capture.grab()
                ok, frame = capture.read()
                if not ok:
                    break
                yield add_noise(cover(frame, width, height), noise, rng)
                made += 1
            capture.release()
            if made >= count:
                break
        if made == before:
            raise DarkedgeError(f"{footage}: no readable frames")


def cover(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frame` scaled to cover `width` x `height`, centre-cropped to it."""
    h, w = frame.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (frame.shape[0] - height) // 2, (frame.shape[1] - width) // 2
    return frame[top : top + height, left : left + width]


def add_noise(frame: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of `noise` 8-bit levels on every pixel and channel."""
    noisy = frame.astype(np.float32) + rng.normal(0.0, noise, frame.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def render_raw(
    footage: str | Path, out: Path, width: int, height: int, fps: int, count: int, noise: float = NOISE
) -> int:
    """Write `count` frames of `footage_frames` as raw I420 frames to `out` (what an encoder takes); returns the
    count."""
    with open(out, "wb") as sink:
        for frame in footage_frames(footage, width, height, fps, count, noise):
            sink.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return count


def main() -> None:
    """`render_raw` in a process of its own (RtspCamera renders so: OpenCV's thread pool, once started in a
    process, hangs the processes it later forks, such as DataLoader workers)."""
    import sys

    footage, out, width, height, fps, count, noise = sys.argv[1:8]
    try:
        render_raw(footage, Path(out), int(width), int(height), int(fps), int(count), float(noise))
    except DarkedgeError as e:
        sys.exit(str(e))


if __name__ == "__main__":
    main()
