"""Where frames come from: a video file, a folder of videos, a network stream (RTSP/HTTP) or a camera.

Files are decoded in the caller's thread, every frame in order. Live sources (URL, camera) are read on
their own thread into a small bounded buffer: when inference is slower than the stream, the oldest frames
are dropped (and counted) instead of the whole pipeline falling behind. A network stream that stops is
reopened with exponential back-off; frame numbers and times keep increasing across reconnects.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from darkedge.data.video import VIDEO_EXTENSIONS, VideoError
from darkedge.errors import DarkedgeError

log = logging.getLogger(__name__)

URL_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_FPS = 25.0  # when a container or camera does not say
NETWORK_TIMEOUT_MS = 5000  # FFmpeg open / read timeout, so a silent server is noticed


@dataclass
class Frame:
    """One decoded frame: BGR uint8 as OpenCV gives it, its number and time (s) since the stream started."""

    image: np.ndarray
    index: int
    time: float
    after_gap: bool = False  # first frame after a reconnect: a window must not span the gap


@dataclass
class Backoff:
    """Reconnect delays: `initial` seconds, doubled after every failed attempt, at most `maximum`."""

    initial: float = 0.5
    maximum: float = 8.0


class FileSource:
    """A video file, read frame by frame; times come from the container's frame rate."""

    live = False

    def __init__(self, path: Path):
        self.name = str(path)
        self.path = path
        self.fps = DEFAULT_FPS
        self.dropped = 0
        self.reconnects = 0

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Every frame of the file in order; a file OpenCV cannot decode at all is a one-line error."""
        capture = cv2.VideoCapture(str(self.path))
        try:
            if not capture.isOpened():
                raise VideoError(f"{self.path}: cannot open video (corrupt or unsupported format)")
            self.fps = frame_rate(capture)
            index = 0
            while not stop.is_set():
                ok, image = capture.read()
                if not ok:
                    break
                yield Frame(image, index, index / self.fps)
                index += 1
            if index == 0 and not stop.is_set():
                raise VideoError(f"{self.path}: no decodable frames (corrupt or empty video)")
        finally:
            capture.release()

    def close(self) -> None:
        """Nothing to release between frames: the capture is closed when `frames` ends."""


class LiveSource:
    """A network stream or camera read on a background thread into a buffer of `buffer` frames."""

    live = True

    def __init__(self, target: str | int, name: str, buffer: int = 8, backoff: Backoff | None = None):
        self.target = target
        self.name = name
        self.backoff = backoff or Backoff()
        self.dropped = 0
        self.reconnects = 0
        self._buffer: collections.deque[Frame] = collections.deque(maxlen=max(1, buffer))
        self._ready = threading.Condition()
        self._halt = threading.Event()
        self._capture = self._open()
        if not self._capture.isOpened():
            self._capture.release()
            what = (
                f"camera {target}: no such device"
                if isinstance(target, int)
                else f"{name}: cannot open stream"
            )
            raise DarkedgeError(what)
        self.fps = frame_rate(self._capture)
        self._thread = threading.Thread(
            target=self._read_forever, name=f"darkedge-reader-{name}", daemon=True
        )
        self._started = time.monotonic()
        self._thread.start()

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.target, int):
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(
                cv2.utils.logging.LOG_LEVEL_ERROR
            )  # a missing camera is our one-line error
            try:
                return cv2.VideoCapture(self.target)
            finally:
                cv2.utils.logging.setLogLevel(level)
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            NETWORK_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            NETWORK_TIMEOUT_MS,
        ]
        return cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, timeouts)

    def _read_forever(self) -> None:
        """Reader thread: push frames, drop the oldest when full, reopen the stream when it stops."""
        capture, index, gap = self._capture, 0, False
        delay = self.backoff.initial
        while not self._halt.is_set():
            ok, image = capture.read() if capture is not None else (False, None)
            if ok:
                self._push(Frame(image, index, time.monotonic() - self._started, gap))
                index, gap, delay = index + 1, False, self.backoff.initial
                continue
            if capture is not None:
                capture.release()
                capture = None
            log.warning("%s: stream stopped, reconnecting in %g s", self.name, delay)
            if self._halt.wait(delay):
                break
            delay = min(delay * 2, self.backoff.maximum)
            reopened = self._open()
            if reopened.isOpened():
                capture, gap = reopened, True
                self.reconnects += 1
                log.info("%s: reconnected", self.name)
            else:
                reopened.release()
        if capture is not None:
            capture.release()

    def _push(self, frame: Frame) -> None:
        with self._ready:
            if len(self._buffer) == self._buffer.maxlen:
                lost = self._buffer.popleft()
                self.dropped += 1
                if lost.after_gap:  # keep the reconnect mark on the oldest frame still queued
                    (self._buffer[0] if self._buffer else frame).after_gap = True
            self._buffer.append(frame)
            self._ready.notify()

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Frames as they arrive (the newest `buffer` of them), until `stop` is set or `close` is called."""
        while not (stop.is_set() or self._halt.is_set()):
            with self._ready:
                if not self._buffer:
                    self._ready.wait(timeout=0.1)
                    continue
                frame = self._buffer.popleft()
            yield frame

    def close(self) -> None:
        """Stop the reader thread (it notices within one read timeout) and release the stream."""
        self._halt.set()
        self._thread.join(timeout=NETWORK_TIMEOUT_MS / 1000 + 1)


def frame_rate(capture: cv2.VideoCapture) -> float:
    """The capture's frames per second, or DEFAULT_FPS when it reports none (or nonsense)."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 0 < fps < 1000 else DEFAULT_FPS


def url_scheme(spec: str) -> str | None:
    """The scheme of `spec` when it looks like a URL (`scheme://...`), else None."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", spec)
    return match.group(1).lower() if match else None


def open_sources(spec: str, buffer: int = 8, backoff: Backoff | None = None) -> list[FileSource | LiveSource]:
    """The sources SOURCE names: one per video of a folder, else exactly one. One-line errors on bad input."""
    scheme = url_scheme(spec)
    if scheme is not None:
        if scheme not in URL_SCHEMES:
            raise DarkedgeError(f"{spec}: unsupported URL scheme '{scheme}' (use {', '.join(URL_SCHEMES)})")
        return [LiveSource(spec, spec, buffer, backoff)]
    if spec.isdigit():
        return [LiveSource(int(spec), f"camera {spec}", buffer, backoff)]
    path = Path(spec)
    if path.is_dir():
        videos = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        if not videos:
            raise DarkedgeError(
                f"{path}: no video files in this folder ({', '.join(sorted(VIDEO_EXTENSIONS))})"
            )
        return [FileSource(p) for p in videos]
    if path.is_file():
        return [FileSource(path)]
    raise DarkedgeError(f"{path}: no such file or folder")
