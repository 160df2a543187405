"""Where frames come from: a video file, a folder of videos, a network stream (RTSP/HTTP) or a camera.

A source is an iterator of frames (`frames(stop, wanted)`); the thread that reads it and the bounded buffer it
fills belong to the camera (darkedge.infer.camera). A file gives every frame in order. A network stream that
stops is reopened with exponential back-off, and frame numbers and times keep increasing across reconnects;
the log says when a stream is lost and when it is back, once each, not at every attempt.

`wanted(index, start)` says which frames a window will use (darkedge.infer.window.WindowGrid): the others are
counted but not decoded. Through OpenCV (files, RTSP, cameras) such a frame is only grabbed: the codec still
decodes it (inter-coded video needs it as a reference) but it is never converted to BGR. An MJPEG-over-HTTP
stream is read by darkedge.infer.mjpeg instead: every frame's bytes are received, and only the wanted ones
decoded, by the camera, at the scale the model needs.

OpenCV opens one stream at a time (its FFmpeg backend holds a process-wide lock while it opens and probes a
stream): a camera that answers with garbage, or not at all, delays the (re)connection of the others by up to
the open timeout (NETWORK_TIMEOUT_MS) per attempt. Streams already open are read in parallel, unaffected.

SOURCE may carry a name, `front=rtsp://10.0.0.7/stream1`, which events, metrics and the summary then use;
`--sources FILE` lists one SOURCE a line. `gst:PIPELINE` is a GStreamer pipeline ending in an appsink, opened
through OpenCV's GStreamer backend: how a Jetson decodes H.264 on its NVDEC engine and scales on its VIC
(`nvdec_pipeline`, which InferConfig.decoder "nvdec" applies to every rtsp:// SOURCE); an OpenCV built without
GStreamer (pip's) refuses it in one line.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from darkedge.data.video import DEFAULT_FPS, VIDEO_EXTENSIONS, VideoError, frame_rate
from darkedge.errors import DarkedgeError
from darkedge.infer.mjpeg import MjpegReader, NotMjpeg

log = logging.getLogger(__name__)

URL_SCHEMES = ("rtsp", "rtsps", "http", "https")
GST_PREFIX = "gst:"  # SOURCE = gst:<GStreamer pipeline ending in appsink>
NETWORK_TIMEOUT_MS = 5000  # FFmpeg open / read timeout, so a silent server is noticed
NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=(.+)$")  # `name=` prefix of a SOURCE


@dataclass
class Frame:
    """One decoded frame: BGR uint8 as OpenCV gives it, its number and time (s) since the stream started.

    `arrived` is when it was read (time.monotonic), for the lag from arrival to the window's result;
    `pixels` is the frame prepared for the model (set by the camera's reader thread); `image` is dropped
    (None) once prepared unless an annotated video needs it; `source` is what it was read from. A frame no
    window uses is not decoded (`skipped`); an MJPEG stream's frame comes as its JPEG bytes (`jpeg`), decoded by
    the camera's reader at the size the model needs. `start` is the number of the stream's first frame since it
    (re)connected: where its windows' grid starts.
    """

    image: np.ndarray | None
    index: int
    time: float
    after_gap: bool = False  # first frame after a reconnect: a window must not span the gap
    arrived: float = 0.0
    pixels: np.ndarray | None = None
    source: FileSource | LiveSource | None = None
    start: int = 0
    jpeg: bytes | None = None
    skipped: bool = False


@dataclass
class Backoff:
    """Reconnect delays: `initial` seconds, doubled after every failed attempt, at most `maximum`."""

    initial: float = 0.5
    maximum: float = 8.0


class FileSource:
    """A video file, read frame by frame; times come from the container's frame rate."""

    live = False

    def __init__(self, path: Path, name: str | None = None, pyav_height: int | None | bool = False):
        self.name = name or str(path)
        self.path = path
        self.pyav_height = (
            pyav_height  # False: OpenCV's reader; else PyAV's, frames at this height (None: full)
        )
        self.fps = DEFAULT_FPS
        self.reconnects = 0
        self.state = "connecting"

    def frames(self, stop: threading.Event, wanted: Wanted | None = None) -> Iterator[Frame]:
        """Every frame of the file in order (those not `wanted` not decoded); a file OpenCV cannot decode at all
        is a one-line error."""
        capture = open_capture(str(self.path), self.pyav_height)
        try:
            if not capture.isOpened():
                raise VideoError(f"{self.path}: cannot open video (corrupt or unsupported format)")
            self.fps = frame_rate(capture)
            self.state = "connected"
            index = 0
            while not stop.is_set():
                skip = wanted is not None and not wanted(index, 0)
                ok, image = (capture.grab(), None) if skip else capture.read()
                if not ok:
                    break
                yield Frame(
                    image=image, index=index, time=index / self.fps, arrived=time.monotonic(), source=self,
                    skipped=skip,
                )  # fmt: skip
                index += 1
            if index == 0 and not stop.is_set():
                raise VideoError(f"{self.path}: no decodable frames (corrupt or empty video)")
        finally:
            capture.release()
            self.state = "ended"


class LiveSource:
    """A network stream or camera; `frames` reads it for as long as asked, reconnecting when it stops.

    With `required` the stream is opened here and one that cannot be is a one-line error (a box with one
    camera should say so at start-up); without, it is opened by the reader and retried like a lost stream,
    so one camera that is down never holds up the others.
    """

    live = True

    def __init__(
        self,
        target: str | int,
        name: str,
        backoff: Backoff | None = None,
        required: bool = True,
        pyav_height: int | None | bool = False,
    ):
        self.target = target
        self.name = name
        self.pyav_height = (
            pyav_height  # False: OpenCV's reader; else PyAV's, frames at this height (None: full)
        )
        self.backoff = backoff or Backoff()
        self.reconnects = 0
        self.fps = DEFAULT_FPS
        self.state = "connecting"  # then "connected" / "reconnecting"
        # what the source owns whoever reads it (its own thread or darkedge.infer.mjpeg_hub): frame numbers, which
        # run on across reconnects; the first number of the current stream (where its windows' grid starts);
        # whether the next frame follows a gap; and the wait before the next attempt after a failure
        self.index, self.start, self.gap, self.delay = 0, 0, False, self.backoff.initial
        self._capture: cv2.VideoCapture | MjpegReader | None = None
        self._lost_at: float | None = None  # when the stream was lost, while it is being reconnected
        self.started = time.monotonic()
        self.mjpeg = url_scheme(str(target)) in ("http", "https")  # until the server says it is not MJPEG
        if required:
            self._capture = self._open()
            if self._capture is None:
                what = (
                    f"camera {target}: no such device"
                    if isinstance(target, int)
                    else f"{name}: cannot open stream"
                )
                raise DarkedgeError(what)

    @property
    def is_open(self) -> bool:
        """Opened already, by the constructor (`required`), and not yet read."""
        return self._capture is not None

    def _open(self) -> cv2.VideoCapture | MjpegReader | None:
        """One attempt to open the stream: an HTTP URL as MJPEG, unless it turns out not to be; None when it fails."""
        if self.mjpeg:
            try:
                return MjpegReader(str(self.target), NETWORK_TIMEOUT_MS / 1000)
            except NotMjpeg:
                self.mjpeg = False  # another kind of HTTP stream: OpenCV's FFmpeg reader, from now on
            except OSError:
                return None
        if isinstance(self.target, int):
            capture = cv2.VideoCapture(self.target)
        elif self.target.startswith(GST_PREFIX):
            capture = cv2.VideoCapture(self.target.removeprefix(GST_PREFIX), cv2.CAP_GSTREAMER)
        else:
            capture = open_capture(self.target, self.pyav_height, NETWORK_TIMEOUT_MS)
        if not capture.isOpened():
            capture.release()
            return None
        self.fps = frame_rate(capture)
        return capture

    def frames(self, stop: threading.Event, wanted: Wanted | None = None) -> Iterator[Frame]:
        """Frames as they are read, until `stop`, those not `wanted` not decoded; a stream that stops or never
        opens is retried with back-off."""
        capture, self._capture = self._capture, None
        if capture is not None:
            self.opened()
        try:
            while not stop.is_set():
                if capture is None:
                    capture = self._open()
                    if capture is not None:
                        self.opened()
                if capture is not None:
                    skip = wanted is not None and not wanted(self.index, self.start)
                    image, jpeg = None, None
                    if isinstance(capture, MjpegReader):
                        jpeg = capture.read()
                        ok = jpeg is not None
                    elif skip:
                        ok = capture.grab()
                    else:
                        ok, image = capture.read()
                    if ok:
                        yield self.frame(image=image, jpeg=jpeg, skipped=skip)
                        continue
                    capture.release()
                    capture = None
                if stop.wait(self.failed()):
                    break
        finally:
            if capture is not None:
                capture.release()

    def opened(self) -> None:
        """A new stream (an open, or a reconnect): its windows' grid starts at the next frame, after a gap."""
        self.gap, self.start = self.index > 0, self.index

    def frame(
        self, *, image: np.ndarray | None = None, jpeg: bytes | None = None, skipped: bool = False
    ) -> Frame:
        """The next frame of the stream as it arrives (`image` decoded, or an MJPEG part's `jpeg` bytes, neither
        when `skipped`: no window uses it), numbered; the stream counts as connected and its back-off resets."""
        now = time.monotonic()
        self.connected(now)
        frame = Frame(
            image=image,
            index=self.index,
            time=now - self.started,
            after_gap=self.gap,
            arrived=now,
            source=self,
            start=self.start,
            jpeg=None if skipped else jpeg,
            skipped=skipped,
        )
        self.index, self.gap, self.delay = self.index + 1, False, self.backoff.initial
        return frame

    def failed(self) -> float:
        """The stream could not be opened, or stopped: the seconds to wait before the next attempt (doubling
        each time, at most the back-off's maximum)."""
        self.lost()
        delay, self.delay = self.delay, min(self.delay * 2, self.backoff.maximum)
        return delay

    def connected(self, now: float) -> None:
        """A frame arrived: note a recovery (and log it) when the stream had been lost."""
        if self.state == "connected":
            return
        if self._lost_at is not None:
            self.reconnects += 1
            log.info("%s: reconnected after %.1f s", self.name, now - self._lost_at)
        elif self.state == "reconnecting":
            log.info("%s: connected", self.name)
        self.state, self._lost_at = "connected", None

    def lost(self) -> None:
        """The stream stopped, or could not be opened or read: say so once per outage, then retry quietly."""
        if self.state == "connected":
            self._lost_at = time.monotonic()
            log.warning(
                "%s: stream stopped, reconnecting (back-off %g .. %g s)",
                self.name,
                self.backoff.initial,
                self.backoff.maximum,
            )
        elif self.state == "connecting":
            log.warning("%s: cannot open stream or decode its frames; retrying in the background", self.name)
        self.state = "reconnecting"


Source = FileSource | LiveSource


def open_capture(target: str, pyav_height: int | None | bool = False, timeout_ms: int | None = None):
    """A file or stream opened by OpenCV's FFmpeg reader, or (`pyav_height` not False) by PyAV's, its frames
    converted at that height (darkedge.infer.pyav); `timeout_ms` bounds a network open and each read."""
    if pyav_height is not False:
        from darkedge.infer.pyav import PyAvCapture

        timeout = timeout_ms / 1000 if timeout_ms else None
        return PyAvCapture(target, pyav_height, timeout, os.environ.get(FFMPEG_OPTIONS))
    if timeout_ms is None:
        return cv2.VideoCapture(target)
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    return cv2.VideoCapture(target, cv2.CAP_FFMPEG, timeouts)


Wanted = Callable[[int, int], bool]  # (frame number, the stream's first frame number) -> decode it?


def url_scheme(spec: str) -> str | None:
    """The scheme of `spec` when it looks like a URL (`scheme://...`), else None."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", spec)
    return match.group(1).lower() if match else None


def split_name(spec: str) -> tuple[str | None, str]:
    """(name, source) of `name=source`; (None, spec) when there is no name (or spec is an existing path)."""
    match = NAME.match(spec)
    if match is None or Path(spec).exists():
        return None, spec
    return match.group(1), match.group(2)


def read_sources_file(path: str | os.PathLike) -> list[str]:
    """The SOURCEs a sources file lists: one a line, `name=` allowed, `#` comments and blank lines ignored.

    Relative file and folder paths are taken relative to the sources file, as in a playlist.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DarkedgeError(f"{path}: no such sources file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DarkedgeError(f"{path}: cannot read the sources file ({e})") from None
    specs = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, source = split_name(line)
        if url_scheme(source) is None and not source.isdigit() and not Path(source).is_absolute():
            source = str(path.parent / source)
        specs.append(f"{name}={source}" if name else source)
    if not specs:
        raise DarkedgeError(f"{path}: lists no sources")
    return specs


def check_url(url: str) -> None:
    """A one-line error for a URL no reader could open: no host, or a port that is not a number."""
    parts = urllib.parse.urlsplit(url)
    shown = without_credentials(url)
    if not parts.hostname:
        raise DarkedgeError(f"{shown}: no host in this URL")
    try:
        _ = parts.port  # urllib checks the port only when asked for it
    except ValueError:
        raise DarkedgeError(f"{shown}: the port is not a number from 0 to 65535") from None


def without_credentials(url: str) -> str:
    """`url` without a user name or password (rtsp://user:pass@host/s1 -> rtsp://host/s1): what a camera is
    called in events, metrics, logs and the summary, which must not carry its password."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def nvdec_pipeline(url: str, height: int | None = None) -> str:
    """A Jetson's hardware path for an RTSP H.264 camera, as a `gst:` SOURCE: depayload, decode on NVDEC, scale
    on the VIC (to `height` px high, the model's resize, when given), hand BGR frames to OpenCV's appsink, dropping
    the oldest when the reader is behind (as darkedge's own buffers do)."""
    scale = f",height={height},pixel-aspect-ratio=1/1" if height else ""
    return (
        f"{GST_PREFIX}rtspsrc location={url} latency=200 ! rtph264depay ! h264parse ! nvv4l2decoder "
        f"! nvvidconv ! video/x-raw,format=BGRx{scale} ! videoconvert ! video/x-raw,format=BGR "
        "! appsink drop=true max-buffers=2 sync=false"
    )


def gstreamer_in_opencv() -> bool:
    return cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER)


def open_sources(
    spec: str,
    backoff: Backoff | None = None,
    required: bool = True,
    name: str | None = None,
    pyav_height: int | None | bool = False,
) -> list[Source]:
    """The sources SOURCE names: one per video of a folder, else exactly one. One-line errors on bad input.

    `name` replaces the source's own name in events (for a folder: NAME/<video path inside the folder>); files and
    RTSP streams are read by PyAV when `pyav_height` is not False (see open_capture).
    """
    if spec.startswith(GST_PREFIX):
        if not gstreamer_in_opencv():
            raise DarkedgeError(
                f"{spec[:60]}: a GStreamer pipeline needs OpenCV built with GStreamer (a Jetson's JetPack OpenCV "
                "is; pip's opencv-python-headless is not)"
            )
        location = re.search(r"location=(\S+)", spec)
        return [
            LiveSource(
                spec,
                name or (without_credentials(location.group(1)) if location else "gstreamer"),
                backoff,
                required,
            )
        ]
    scheme = url_scheme(spec)
    if scheme is not None:
        if scheme not in URL_SCHEMES:
            raise DarkedgeError(
                f"{without_credentials(spec)}: unsupported URL scheme '{scheme}' (use {', '.join(URL_SCHEMES)})"
            )
        check_url(spec)
        pyav = pyav_height if scheme in ("rtsp", "rtsps") else False  # HTTP: MJPEG (darkedge.infer.mjpeg)
        return [LiveSource(spec, name or without_credentials(spec), backoff, required, pyav)]
    if spec.isdigit():
        return [LiveSource(int(spec), name or f"camera {spec}", backoff, required)]
    path = Path(spec)
    if path.is_dir():
        videos = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        if not videos:
            raise DarkedgeError(
                f"{path}: no video files in this folder ({', '.join(sorted(VIDEO_EXTENSIONS))})"
            )
        return [FileSource(p, f"{name}/{p.relative_to(path)}" if name else None, pyav_height) for p in videos]
    if path.is_file():
        return [FileSource(path, name, pyav_height)]
    raise DarkedgeError(f"{path}: no such file or folder")


FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"  # the options OpenCV's FFmpeg reader reads at every open


@contextmanager
def rtsp_probe(specs: list[str], seconds: float) -> Iterator[None]:
    """Inside, FFmpeg probes a new stream for `seconds` (its analyzeduration) instead of its default, when any
    SOURCE is rtsp:// and the user has not set OpenCV's FFmpeg options.

    OpenCV opens one stream at a time (see the module docstring), so every camera's start, and every reconnect,
    waits for the opens before it: with FFmpeg's default an RTSP H.264 camera took 1.96 s to open here, at 0.2 s
    0.36 s, the first frame the same (benchmarks/results/rtsp_open.md). A camera whose stream needs longer to show its
    size and codec (no SPS in its SDP) opens with `rtsp_probe_s` 0: FFmpeg's default.
    """
    rtsp = any(url_scheme(split_name(spec)[1]) in ("rtsp", "rtsps") for spec in specs)
    if seconds <= 0 or not rtsp or FFMPEG_OPTIONS in os.environ:
        yield
        return
    os.environ[FFMPEG_OPTIONS] = f"analyzeduration;{round(seconds * 1e6)}"
    try:
        yield
    finally:
        del os.environ[FFMPEG_OPTIONS]


@contextmanager
def quiet_video_logs() -> Iterator[None]:
    """Inside, OpenCV and FFmpeg keep their warnings to themselves: infer reports each problem in one line.

    A corrupt stream makes FFmpeg print a line for every broken packet, and a missing camera makes OpenCV
    print several. FFmpeg's own level is set once, where decoding is (darkedge.data.video); this quiets OpenCV's.
    """
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)
