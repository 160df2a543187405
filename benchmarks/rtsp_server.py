"""Loopback RTSP cameras serving H.264, for the tests and bench_cameras.py: what most surveillance cameras speak.

A real RTSP server, GStreamer's (Debian: gstreamer1.0-rtsp, gir1.2-gst-rtsp-server-1.0, python3-gi,
gstreamer1.0-plugins-ugly for x264enc; .ci/run installs them), run by the system Python that has GStreamer's
bindings. Each mount is one live H.264 stream (baseline profile, no B-frames, a key frame every 2 s, as camera
substreams are set up) of a dark scene with a ball moving across; every client of a mount gets the same encoded
stream, as several viewers of one camera do, so N cameras cost the box N streams to receive and decode, and the
server one encoder per mount.

    python benchmarks/rtsp_server.py --port 8554 --mounts 2 --size 320x240 --fps 15
    # prints rtsp://127.0.0.1:8554/cam0 and /cam1, then serves until SIGTERM / Ctrl-C

From Python (tests, benchmarks): `RtspCamera(port, mounts=1).start()` runs it in a subprocess (started with
/usr/bin/python3), `.stop()` kills it (clients see the stream end), `.start()` again serves the same URLs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi: the one that can import GStreamer's bindings
START_TIMEOUT_S = 20.0


def pipeline(width: int, height: int, fps: int) -> str:
    """A live dark test scene encoded as a camera substream: H.264 baseline, no B-frames, key frame every 2 s."""
    return (
        f"( videotestsrc is-live=true pattern=ball background-color=0xff0c0c0c foreground-color=0xff303030 "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 ! videoconvert "
        f"! x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max={2 * fps} bframes=0 "
        f"! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def serve(port: int, mounts: int, width: int, height: int, fps: int) -> None:
    """Run the server in this process (needs GStreamer's Python bindings) until SIGTERM or SIGINT."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    for i in range(mounts):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(pipeline(width, height, fps))
        factory.set_shared(True)
        server.get_mount_points().add_factory(f"/cam{i}", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"rtsp_server: cannot listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    for i in range(mounts):
        print(f"rtsp://127.0.0.1:{port}/cam{i}", flush=True)
    loop.run()


def available() -> bool:
    """Whether this machine can run the server: the system Python imports GStreamer's RTSP server and finds x264."""
    if not Path(SYSTEM_PYTHON).is_file():
        return False
    check = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "raise SystemExit(Gst.ElementFactory.find('x264enc') is None)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return (
        subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, env=env, check=False).returncode
        == 0
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RtspCamera:
    """RTSP mounts on 127.0.0.1:`port`, served by a subprocess; stop() kills it, start() serves them again."""

    def __init__(self, port: int | None = None, mounts: int = 1, size: str = "320x240", fps: int = 15):
        self.port = port or free_port()
        self.mounts, self.size, self.fps = mounts, size, fps
        self.process: subprocess.Popen | None = None

    @property
    def urls(self) -> list[str]:
        return [f"rtsp://127.0.0.1:{self.port}/cam{i}" for i in range(self.mounts)]

    def start(self) -> RtspCamera:
        args = [
            "--port",
            str(self.port),
            "--mounts",
            str(self.mounts),
            "--size",
            self.size,
            "--fps",
            str(self.fps),
        ]
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, __file__, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
            start_new_session=True,  # its own process group: a test's SIGTERM to infer's group spares it
        )
        try:
            self._wait_until_listening(time.monotonic() + START_TIMEOUT_S)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        return self

    def _wait_until_listening(self, deadline: float) -> None:
        """It prints its URLs once it listens; then its port takes a connection."""
        printed = 0
        while printed < self.mounts:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RuntimeError(f"rtsp_server: not listening after {START_TIMEOUT_S:g} s")
            if not self.process.stdout.readline():
                raise RuntimeError("rtsp_server: exited before it listened")
            printed += 1
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.1)
        raise RuntimeError(f"rtsp_server: nothing listens on {self.port}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()  # as a camera losing power: no goodbye to its clients
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.process = None

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mounts", type=int, default=1)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    serve(args.port, args.mounts, width, height, args.fps)


if __name__ == "__main__":
    sys.exit(main())
