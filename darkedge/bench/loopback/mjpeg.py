"""Loopback MJPEG-over-HTTP cameras for `darkedge bench cameras` and the tests: what `darkedge infer` reads from an
IP camera.

    camera = MjpegCamera(encode(dark_frames(320, 240)), fps=15).start()   # http://127.0.0.1:PORT/stream.mjpg
    camera.stop()                                                 # every client sees its stream end mid-way
    camera.start()                                                # the same port again
    MjpegCamera(garbage=True).start()                             # random bytes where the JPEGs should be

    python -m darkedge.bench.loopback.mjpeg --cameras 3 --fps 15 > cameras.txt   # one URL a line, until Ctrl-C
    python -m darkedge.bench.loopback.mjpeg --footage data/synth/clips          # night footage with sensor noise
    kill -USR1 <pid>                     # prints a JSON line: frames sent and skipped per camera (at exit too)
    darkedge infer --sources cameras.txt --model runs/latest/export/student_int8.xml

OpenCV's FFmpeg backend opens a `multipart/x-mixed-replace` stream of JPEG parts over HTTP like any camera
stream (checked with opencv-python-headless 5.0: it reports 25 fps whatever the rate served, and a stream of
non-JPEG parts opens after its probe times out, then every read fails). Frames are JPEG-encoded once, then
sent in a loop at `fps` to each client. Like a camera, the server does not wait for a slow client: a frame
not sent by the time the next is due is skipped for that client and counted in `late`, and the socket's send
buffer is kept small, so a box that cannot keep up loses frames instead of its delay hiding in buffers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from darkedge.bench.loopback.footage import footage_frames

SEND_BUFFER = 64 * 1024  # bytes: two or three 320 x 240 frames in flight, not seconds of them
BOUNDARY = b"frame"


def dark_frames(width: int = 320, height: int = 240, count: int = 30, seed: int = 0) -> list[np.ndarray]:
    """Dark, noisy BGR frames with a brighter patch moving across: what a camera sees at night."""
    rng = np.random.default_rng(seed)
    frames = rng.normal(18, 6, (count, height, width, 3)).clip(0, 255).astype(np.uint8)
    patch_w, patch_h = max(1, width // 8), max(1, height // 4)
    for i, frame in enumerate(frames):
        x = (4 * i) % max(1, width - patch_w)
        frame[height // 2 - patch_h // 2 : height // 2 + patch_h // 2, x : x + patch_w] += 30
    return list(frames)


def encode(images: list[np.ndarray], quality: int = 80) -> list[bytes]:
    """BGR frames as JPEG files, once, to be served by any number of cameras."""
    return [cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes() for image in images]


def video_frames(path: Path, limit: int = 300) -> list[np.ndarray]:
    """Up to `limit` frames of a video file, to serve in a loop."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"{path}: no decodable frames")
    return frames


class _Handler(BaseHTTPRequestHandler):
    """One client: a multipart response, one JPEG part per frame, paced to the camera's clock."""

    server: _Server

    def do_GET(self) -> None:
        camera = self.server.camera
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        with camera.lock:
            camera.clients.add(self.connection)
        try:
            camera.serve(self.wfile)
        except OSError:
            pass  # the client went away, or the camera was stopped
        finally:
            with camera.lock:
                camera.clients.discard(self.connection)

    def log_message(self, *args: object) -> None:
        """Quiet: no access log on stderr."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    camera: MjpegCamera


class MjpegCamera:
    """An MJPEG camera on 127.0.0.1 serving `jpegs` (default: small dark frames) in a loop at `fps`, from
    the `first`-th on; stop() and start() again keep its port."""

    def __init__(
        self,
        jpegs: list[bytes] | None = None,
        fps: float = 25.0,
        port: int = 0,
        garbage: bool = False,
        first: int = 0,
    ):
        self.jpegs = jpegs if jpegs is not None else encode(dark_frames(64, 48))
        self.fps, self.port, self.garbage, self.first = fps, port, garbage, first
        self.sent = 0  # frames sent, over every client
        self.late = 0  # frames skipped because a client had not taken the previous ones in time
        self.clients: set[socket.socket] = set()
        self.lock = threading.Lock()  # the counters and the client set: every client has a thread of its own
        self._server: _Server | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegCamera:
        """Listen (on the same port as before, after a stop) and serve from background threads."""
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.camera = self
        self.port = self._server.server_address[1]
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        serve.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open stream (its client sees the stream end mid-way)."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            connections = list(self.clients)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server = None

    def __enter__(self) -> MjpegCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve(self, out) -> None:
        """Write parts to one client at the camera's frame rate until the camera stops."""
        stopping, period = self._stopping, 1.0 / self.fps
        began, k = time.monotonic(), 0
        while not stopping.is_set():
            behind = time.monotonic() - (began + k * period)
            if behind < 0:
                if stopping.wait(-behind):
                    return
            elif behind > period:  # the client was too slow to take the frames due meanwhile
                skip = int(behind / period)
                with self.lock:
                    self.late += skip
                k += skip
            if self.garbage:
                payload = os.urandom(len(self.jpegs[0]))
            else:
                payload = self.jpegs[(self.first + k) % len(self.jpegs)]
            out.write(
                b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                % (BOUNDARY, len(payload), payload)
            )
            out.flush()
            with self.lock:
                self.sent += 1
            k += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the generated frames")
    parser.add_argument(
        "--video", type=Path, default=None, help="serve this video's frames as they are instead"
    )
    parser.add_argument("--footage", type=Path, default=None,
                        help="serve 10 s of this video or folder of videos at --size, sensor noise added (night "
                        "footage as the RTSP cameras stream it: darkedge.bench.loopback.footage)")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="first port (0: free ports)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.footage:
        jpegs = encode(
            list(footage_frames(args.footage, width, height, round(args.fps), 10 * round(args.fps)))
        )
    else:
        jpegs = encode(video_frames(args.video) if args.video else dark_frames(width, height))
    cameras = [
        MjpegCamera(jpegs, args.fps, args.port + i if args.port else 0, first=7 * i).start()
        for i in range(args.cameras)
    ]
    for camera in cameras:
        print(camera.url, flush=True)

    def counts(*_: object) -> None:
        """One JSON line: frames sent and frames skipped for slow clients, per camera."""
        print(json.dumps({"sent": [c.sent for c in cameras], "late": [c.late for c in cameras]}), flush=True)

    done = threading.Event()
    signal.signal(signal.SIGUSR1, counts)  # counts now, and go on serving
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    stopping = [
        threading.Thread(target=camera.stop) for camera in cameras
    ]  # each waits for its server's poll
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()
    counts()


if __name__ == "__main__":
    main()
