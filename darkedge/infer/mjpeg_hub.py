"""One thread reads many MJPEG-over-HTTP cameras: non-blocking sockets and a selector instead of a thread each.

With a thread per camera, every frame of every camera costs a wake-up of its thread, a handful of buffered
readline calls and a turn at the GIL; at hundreds of cameras that Python, not the model, fills the box
(benchmarks/results/cameras.md). A hub holds many cameras' connections in one `selectors` loop: each readable
socket is drained in one recv, its bytes cut into JPEG parts by a PartParser (darkedge.infer.mjpeg), and each
part handed to its camera (Camera.accept), which decodes the frames a window uses and queues them, as its own
thread would. Reconnecting follows the camera's back-off, and its state and log lines are the same.

The hub speaks the small part of HTTP/1.1 an MJPEG camera needs, with the blocking reader's own request and
parsers (darkedge.infer.mjpeg: request, ResponseHead, MjpegBody). A stream it cannot take (HTTPS, a 200 that is
not multipart) goes back to a reader thread of its own (Camera.use_thread), which tries OpenCV for the latter.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
import urllib.parse
from typing import Protocol

from darkedge.infer.mjpeg import MjpegBody, NotMjpeg, ResponseHead, request
from darkedge.infer.sources import NETWORK_TIMEOUT_MS, Frame, LiveSource, url_scheme
from darkedge.infer.stats import CameraStats

log = logging.getLogger(__name__)

RECV_BYTES = 256 * 1024  # one recv: every frame a camera has sent since the last look, at 320 x 240
TICK_S = 0.25  # how often timeouts are looked at when nothing arrives


class Camera(Protocol):
    """What the hub hands frames to: darkedge.infer.camera.Camera."""

    stats: CameraStats

    def wants(self, index: int, start: int) -> bool: ...

    def accept(self, frame: Frame) -> None: ...

    def use_thread(self) -> None: ...


def can_read(source: object) -> bool:
    """A source the hub reads: a plain-HTTP stream still taken for MJPEG, not already opened by its thread."""
    return (
        isinstance(source, LiveSource)
        and isinstance(source.target, str)
        and url_scheme(source.target) == "http"
        and source.mjpeg
        and not source.is_open
    )


class _Stream:
    """One camera's connection: connect, send the request, read the head, then parts until it breaks."""

    def __init__(self, camera: Camera, source: LiveSource):
        self.camera, self.source = camera, source
        parts = urllib.parse.urlsplit(source.target)
        self.address = (parts.hostname, parts.port or 80)
        self.addresses: list[tuple] = []  # what the host resolved to, not yet tried in this attempt
        self.request = request(parts)
        self.sock: socket.socket | None = None
        self.head = ResponseHead()
        self.parser: MjpegBody | None = None
        self.heard = 0.0  # when bytes last arrived (while connected)


class MjpegHub:
    """A thread reading every camera `watch`ed until `forget` or `close`; thread-safe from outside."""

    def __init__(self, name: str = "darkedge-mjpeg-hub"):
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._changes: list[tuple[str, Camera, LiveSource | None]] = []
        self._streams: dict[Camera, _Stream] = {}
        self._retries: list[tuple[float, int, _Stream]] = []  # (due, tie-breaker, stream): a heap
        self._order = itertools.count()
        self._closing = False
        self._checked = 0.0  # when silent connections were last looked for
        self._received = bytearray(RECV_BYTES)  # every recv lands here: no allocation per read
        self._view = memoryview(self._received)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def watch(self, camera: Camera, source: LiveSource) -> None:
        self._change("watch", camera, source)

    def forget(self, camera: Camera) -> None:
        self._change("forget", camera, None)

    def close(self) -> None:
        """Stop the thread and close every connection."""
        with self._lock:
            self._closing = True
        self._wake()
        self._thread.join(timeout=10)
        if not self._thread.is_alive():  # else its own finally closes what it holds when it ends
            self._wake_r.close()
            self._wake_w.close()

    def _change(self, what: str, camera: Camera, source: LiveSource | None) -> None:
        with self._lock:
            self._changes.append((what, camera, source))
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed, or its buffer full of wake-ups already
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    changes, self._changes, closing = self._changes, [], self._closing
                if closing:
                    break
                for what, camera, source in changes:
                    if what == "watch" and camera not in self._streams:
                        stream = self._streams[camera] = _Stream(camera, source)
                        self._guarded(self._connect, stream)
                    elif what == "forget" and camera in self._streams:
                        self._disconnect(self._streams.pop(camera))
                wait = TICK_S
                if self._retries:
                    wait = min(wait, max(0.0, self._retries[0][0] - time.monotonic()))
                for key, mask in self._selector.select(wait):
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._guarded(self._ready, key.data, mask)
                self._due(time.monotonic())
        except Exception:  # noqa: BLE001 - a bug here must not silently stop every camera: say so loudly
            log.exception("the MJPEG reader thread failed; its cameras stop receiving frames")
        finally:
            for stream in self._streams.values():
                self._disconnect(stream)
            self._streams.clear()
            self._selector.close()

    def _guarded(self, step, stream: _Stream, *args: object) -> None:
        """One stream's step; whatever it raises ends that connection (retried after the back-off), never the hub
        and the other cameras with it."""
        try:
            step(stream, *args)
        except Exception as e:  # noqa: BLE001 - e.g. a frame the camera's decoder or resize refuses
            log.warning("%s: %s: %s; reconnecting", stream.source.name, type(e).__name__, e)
            if self._streams.get(stream.camera) is stream:
                self._fail(stream)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _due(self, now: float) -> None:
        """Reconnect the streams whose back-off is over; drop connections silent for longer than the timeout."""
        while self._retries and self._retries[0][0] <= now:
            _, _, stream = heapq.heappop(self._retries)
            if self._streams.get(stream.camera) is stream and stream.sock is None:
                self._guarded(self._connect, stream)
        # every connection is looked at a few times a second, not at every read
        if now - self._checked < TICK_S:
            return
        self._checked, timeout = now, NETWORK_TIMEOUT_MS / 1000
        for stream in list(self._streams.values()):
            if stream.sock is not None and now - stream.heard > timeout:
                self._fail(stream)

    def _connect(self, stream: _Stream) -> None:
        """Start a non-blocking connect to the host's first address; the selector says when it is done."""
        stream.head, stream.parser, stream.heard = ResponseHead(), None, time.monotonic()
        try:
            stream.addresses = socket.getaddrinfo(*stream.address, type=socket.SOCK_STREAM)
        except (OSError, ValueError):  # no such host, or a name no resolver takes
            self._fail(stream)
            return
        self._next_address(stream)

    def _next_address(self, stream: _Stream) -> None:
        """Connect to the next address the host resolved to (IPv6, then IPv4, say); fail when none is left."""
        while stream.addresses:
            family, kind, proto, _, address = stream.addresses.pop(0)
            try:
                stream.sock = socket.socket(family, kind, proto)
                stream.sock.setblocking(False)
                code = stream.sock.connect_ex(address)
                if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                    raise ConnectionRefusedError(code)
                self._selector.register(stream.sock, selectors.EVENT_WRITE, stream)
                return
            except OSError:
                self._disconnect(stream)
        self._fail(stream)

    def _disconnect(self, stream: _Stream) -> None:
        if stream.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(stream.sock)
            stream.sock.close()
            stream.sock = None

    def _fail(self, stream: _Stream) -> None:
        """The stream could not be opened, or stopped: retry after the back-off, which doubles each time."""
        self._disconnect(stream)
        heapq.heappush(self._retries, (time.monotonic() + stream.source.failed(), next(self._order), stream))

    def _ready(self, stream: _Stream, mask: int) -> None:
        """The socket can be written (connected, or refused) or read (the head, or parts)."""
        sock = stream.sock
        if sock is None:
            return
        if mask & selectors.EVENT_WRITE:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):  # refused: the host's next address
                self._disconnect(stream)
                self._next_address(stream)
                return
            try:
                # a few hundred bytes: an empty send buffer takes them whole, or the connection is no use
                if sock.send(stream.request) < len(stream.request):
                    raise ConnectionError("request cut short")
            except OSError:
                self._fail(stream)
                return
            self._selector.modify(sock, selectors.EVENT_READ, stream)
            return
        clock = time.thread_time()
        try:
            size = sock.recv_into(self._received)
            if not size:
                self._fail(stream)
                return
            data = self._view[:size]
            stream.heard = time.monotonic()
            if stream.parser is None:
                data = self._head(stream, data)
                if data is None:
                    return
            parts = stream.parser.feed(data)
        except BlockingIOError:
            return
        except (OSError, ValueError):
            self._fail(stream)
            return
        finally:
            stream.camera.stats.cpu_read += time.thread_time() - clock
        for jpeg in parts:
            self._deliver(stream, jpeg)
        if stream.parser.ended:
            self._fail(stream)

    def _head(self, stream: _Stream, data: bytes) -> bytes | None:
        """Collect the response's head; once whole, check it and return the body bytes after it (None: not yet,
        or the stream was handed on). Raises ValueError for a head that is not HTTP, OSError for a status that
        is not 200 (tried again after the back-off, like a camera still booting)."""
        rest = stream.head.feed(data)
        if rest is None:
            return None
        try:
            stream.parser = stream.head.body()
        except NotMjpeg:  # not for the hub: a thread of its own hands the stream to OpenCV
            stream.source.mjpeg = False
            self._disconnect(stream)
            del self._streams[stream.camera]
            stream.camera.use_thread()
            return None
        stream.source.opened()
        return rest

    def _deliver(self, stream: _Stream, jpeg: bytes) -> None:
        """One part to its camera, as a frame (its bytes only when a window will use it)."""
        camera, source = stream.camera, stream.source
        skip = not camera.wants(source.index, source.start)
        camera.accept(source.frame(jpeg=jpeg, skipped=skip))
