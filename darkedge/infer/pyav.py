"""Streams and files decoded by PyAV (FFmpeg's own libraries; `pip install av`): InferConfig.decoder "pyav".

What it saves beside OpenCV's reader is the full-size BGR frame. A frame a window uses is converted from the
decoder's YUV straight to the height the model's resize needs, in one libswscale call (scaling and colour
conversion together); OpenCV converts every read frame to BGR at full size, then darkedge resizes it. A frame no
window uses is decoded (each H.264 / H.265 frame is a reference for the next) and never converted, as OpenCV's
`grab()`. One decoder thread per camera: a box watching many cameras already runs one reader per camera, and frame
threads would add a frame of latency each. The reader answers the calls LiveSource and FileSource make of an
OpenCV capture (`isOpened`, `grab`, `read`, `get(CAP_PROP_FPS)`, `release`).

Measured against OpenCV's reader on the same night-footage streams: benchmarks/bench_readers.py (one camera,
every frame converted: no cheaper at 320 x 240, 1.2-1.3x at 640 x 360) and bench_cameras.py (in `infer`, which
converts a quarter of the frames: half the cameras of OpenCV's reader, which releases Python's lock for a whole
read where this one needs it for every packet and frame; README, "Cameras per box"). OpenCV's stays the default.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from darkedge.errors import DarkedgeError

DECODER_THREADS = 1


def pyav_installed() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def require_pyav() -> None:
    """One-line error, before any camera opens, when PyAV is missing."""
    if not pyav_installed():
        raise DarkedgeError("decoder 'pyav': PyAV is not installed here (pip install av, or darkedge[pyav])")


@functools.cache
def _av():
    """PyAV, imported once, with FFmpeg logging as it does under OpenCV rather than through PyAV's Python callback:
    that callback takes the GIL and a lock from FFmpeg's own threads, which costs time per message and can deadlock
    a process forked later."""
    import av
    import av.logging

    av.logging.restore_default_callback()
    return av


class PyAvCapture:
    """One stream or file, opened at construction (`isOpened()` says whether it opened); frames converted to
    `height` px high keeping the aspect (None: full size), BGR."""

    def __init__(
        self,
        target: str,
        height: int | None = None,
        timeout_s: float | None = None,
        options: str | None = None,
    ):
        av = _av()
        self._errors = (StopIteration, av.FFmpegError, OSError)  # a stream's end, or one it cannot go on from
        self.height = height
        self._container: Any = None
        self._frames: Iterator[Any] | None = None
        # FFmpeg's options as OpenCV takes them ("key;value|key;value": darkedge.infer.sources.rtsp_probe's)
        settings = dict(item.split(";", 1) for item in options.split("|") if ";" in item) if options else None
        try:
            self._container = av.open(target, timeout=timeout_s, options=settings)
            stream = self._container.streams.video[0]
            stream.thread_type = "SLICE" if DECODER_THREADS > 1 else "NONE"
            stream.thread_count = DECODER_THREADS
            rate = stream.average_rate or stream.guessed_rate
            self.fps = float(rate) if rate else 0.0
            self._frames = self._container.decode(stream)
        except (av.FFmpegError, IndexError, OSError):
            self.release()

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self._frames is not None

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def _next(self):
        """The next decoded frame, or None at the end of the stream or on a decoding error."""
        if self._frames is None:
            return None
        try:
            return next(self._frames)
        except self._errors:
            self.release()
            return None

    def grab(self) -> bool:
        """Decode the next frame without converting it."""
        return self._next() is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        """Decode the next frame and convert it, scaled to `height`, to BGR in one call."""
        frame = self._next()
        if frame is None:
            return False, None
        if self.height is None or self.height >= frame.height:
            return True, frame.to_ndarray(format="bgr24")
        width = max(1, round(frame.width * self.height / frame.height))
        return True, frame.reformat(
            width=width, height=self.height, format="bgr24", interpolation="AREA"
        ).to_ndarray()

    def release(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container, self._frames = None, None
