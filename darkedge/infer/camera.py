"""A camera: one SOURCE read into a small bounded buffer of prepared frames, on a thread of its own or by a hub.

The reader decodes each frame a window will use and prepares it for the model (resize and centre crop, the work
of darkedge.infer.window.prepare_frame), so decoding and preparing run beside inference (OpenCV releases the GIL
while it works); the frames no window uses are received and counted, never decoded (`wanted`), and an MJPEG frame
is decoded at the smallest scale that still covers the model's resize. Files, RTSP and other streams are read
on a thread per camera; MJPEG-over-HTTP cameras by one hub thread for all of them (darkedge.infer.mjpeg_hub),
which hands each frame to `accept`. A live camera's buffer drops its oldest frame when inference is behind, and
counts it: the box sheds load instead of building a queue, and the lag stays bounded. A file's reader waits for
room instead, so a file is read in full, at full speed, and the run stays deterministic.

A folder is one camera whose videos are read one after another; an unreadable video is skipped, counted and
named (a single file that cannot be read is an error instead: `strict`).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from darkedge.data.video import VideoError
from darkedge.infer.mjpeg import decode_jpeg
from darkedge.infer.mjpeg_hub import MjpegHub, can_read
from darkedge.infer.sources import Frame, Source, Wanted
from darkedge.infer.stats import CameraStats

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 6.0  # a reader notices the halt within one network read timeout (5 s)


class Arrivals:
    """Which cameras have queued frames since the inference loop last looked: readers ring, the loop collects.

    With a hundred cameras at 15 fps the loop would otherwise look into every camera's buffer at every one
    of 1,500 frames a second.
    """

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._cameras: dict[Camera, None] = {}  # an ordered set

    def ring(self, camera: Camera) -> None:
        with self._ready:
            self._cameras[camera] = None
            self._ready.notify()

    def collect(self, wait: float = 0.0) -> list[Camera]:
        """The cameras that rang since the last call, waiting up to `wait` seconds for one."""
        with self._ready:
            if not self._cameras and wait > 0:
                self._ready.wait(wait)
            cameras = list(self._cameras)
            self._cameras.clear()
        return cameras


class Camera:
    """Reads `sources` in order on a background thread; `take` hands out prepared frames, oldest first."""

    def __init__(
        self,
        name: str,
        sources: list[Source],
        buffer: int,
        prepare: Callable[[np.ndarray], np.ndarray],
        keep_images: bool = False,
        strict: bool = False,
        arrivals: Arrivals | None = None,
        wanted: Wanted | None = None,
        decode_height: int | None = None,
        hub: MjpegHub | None = None,
    ):
        self.name = name
        self.sources = sources
        self.live = sources[0].live
        self.strict = strict
        self.stats = CameraStats(name, self.live)
        self.error: VideoError | None = (
            None  # a strict camera's unreadable file, raised by the inference loop
        )
        self._prepare = prepare
        self._keep_images = keep_images  # the annotated video needs the full frames
        self._wanted = (
            None if keep_images else wanted
        )  # (frame, stream start) -> decode it (None: every frame)
        self._decode_height = (
            None if keep_images else decode_height
        )  # an MJPEG frame's smallest useful height
        self._capacity = max(1, buffer)
        self._frames: collections.deque[Frame] = collections.deque()
        self._ready = threading.Condition()
        self._halt = threading.Event()
        self._done = False
        self._current: Source = sources[0]
        self._arrivals = arrivals or Arrivals()
        self._hub = hub  # reads the camera's MJPEG-over-HTTP stream with many others (None: its own thread)
        self._thread = threading.Thread(target=self._read, name=f"darkedge-reader-{name}", daemon=True)

    def start(self) -> Camera:
        """Start reading: through the hub when it can read this camera's stream, else on a thread of its own."""
        if self._hub is not None and len(self.sources) == 1 and can_read(self.sources[0]):
            self._hub.watch(self, self.sources[0])
        else:
            self._thread.start()
        return self

    def use_thread(self) -> None:
        """Called by the hub for a stream it cannot read (not MJPEG after all, or chunked): a thread of its own."""
        self._hub = None
        if not self._halt.is_set():
            self._thread.start()

    @property
    def state(self) -> str:
        """connecting, connected, reconnecting; ended once its files are read (a halt keeps the last state)."""
        return "ended" if self._done and not self._halt.is_set() else self._current.state

    @property
    def reconnects(self) -> int:
        return sum(source.reconnects for source in self.sources)

    @property
    def finished(self) -> bool:
        """The reader has stopped and every frame it read has been taken."""
        with self._ready:
            return self._done and not self._frames

    def _read(self) -> None:
        """Reader thread: every source in turn, each frame prepared and queued, until the end or a halt."""
        try:
            for source in self.sources:
                if self._halt.is_set():
                    break
                self._current = source
                try:
                    clock = time.thread_time()  # this thread's CPU time: where the reader's time goes
                    for frame in source.frames(self._halt, self._wanted):
                        self.stats.cpu_read += time.thread_time() - clock
                        self.accept(frame)
                        clock = time.thread_time()
                except Exception as e:  # noqa: BLE001 - one camera's failure, whatever it is, ends only that camera
                    if not isinstance(e, VideoError):
                        e = VideoError(f"{source.name}: {type(e).__name__}: {e}")
                    if self.strict:
                        self.error = e
                        break
                    self.stats.skipped.append(source.name)
                    log.warning("skipped: %s", e)
        finally:
            with self._ready:
                self._done = True
                self._ready.notify_all()
            self._arrivals.ring(self)

    def wants(self, index: int, start: int) -> bool:
        """Whether a window will use frame `index` of a stream whose grid starts at `start` (decode it)."""
        return self._wanted is None or self._wanted(index, start)

    def accept(self, frame: Frame) -> None:
        """One frame read (by this camera's thread, or by an MJPEG hub): counted; decoded if a window uses it, at
        the scale it needs; prepared for the model and queued. Its CPU time is counted where it goes."""
        self.stats.frame_read(frame.arrived)
        if frame.skipped:  # no window uses it
            return
        clock = time.thread_time()
        if frame.jpeg is not None:
            frame.image, frame.jpeg = decode_jpeg(frame.jpeg, self._decode_height), None
            now = time.thread_time()
            self.stats.cpu_decode += now - clock
            clock = now
            if frame.image is None:  # a part that is no decodable JPEG: a lost frame
                self.stats.corrupt += 1
                return
        self.stats.decoded += 1
        frame.pixels = self._prepare(frame.image)
        self.stats.cpu_prepare += time.thread_time() - clock
        if not self._keep_images:
            frame.image = None
        self._put(frame)

    def _put(self, frame: Frame) -> None:
        """Queue a frame: a live camera drops its oldest frame when full, a file waits for room."""
        with self._ready:
            if self.live and len(self._frames) >= self._capacity:
                lost = self._frames.popleft()
                self.stats.dropped += 1
                if lost.after_gap:  # keep the reconnect mark on the oldest frame still queued
                    (self._frames[0] if self._frames else frame).after_gap = True
            while len(self._frames) >= self._capacity and not self._halt.is_set():
                self._ready.wait(0.1)
            self._frames.append(frame)
            self._ready.notify_all()
        self._arrivals.ring(self)

    def take(self, wait: float = 0.0) -> Frame | None:
        """The oldest queued frame, waiting up to `wait` seconds for one; None when there is none."""
        with self._ready:
            if not self._frames and wait > 0 and not self._done:
                self._ready.wait(wait)
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._ready.notify_all()  # a file's reader may be waiting for room
            return frame

    def halt(self) -> None:
        """Ask the reader to stop (a thread notices within one read timeout, a hub at once)."""
        self._halt.set()
        if self._hub is not None:
            self._hub.forget(self)
        with self._ready:
            self._ready.notify_all()

    def close(self) -> None:
        """Stop the reader and wait for it to release its stream."""
        self.halt()
        if self._thread.is_alive():
            self._thread.join(timeout=JOIN_TIMEOUT_S)
