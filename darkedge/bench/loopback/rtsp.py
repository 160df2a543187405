"""Loopback RTSP cameras serving H.264, for `darkedge bench cameras` and the tests: what most surveillance cameras
speak.

A real RTSP server, GStreamer's (Debian: gstreamer1.0-rtsp, gir1.2-gst-rtsp-server-1.0, python3-gi,
gstreamer1.0-plugins-ugly for x264enc, -plugins-bad for x265enc; .ci/run installs them), run by the system Python
that has GStreamer's bindings. Each mount is one live stream encoded as camera substreams are: H.264 baseline (or
H.265), no B-frames, a key frame every 2 s, a bitrate cap (`bitrate` kbps, constant bitrate); every client of a
mount gets the same encoded stream, as several viewers of one camera do, so N cameras cost the box N streams to
receive and decode.

What it streams:
  - footage (`footage`: a video file or a folder of them, e.g. the built-in dark clips or real ARID clips): its
    frames scaled to the stream's size, sensor noise added at that size (`noise`, 8-bit levels: read noise at
    the stream's own resolution, which upscaled small clips lack), looped. The loop (a whole number of key-frame
    intervals, so that it starts on a key frame) is rendered once (darkedge.bench.loopback.footage, in the
    caller's Python: OpenCV), encoded once when the server starts (`encode`) and then sent looped without re-encoding:
    the server spends no encoder on the box's cores while the cameras are measured. Night footage is noise, and
    noise is what an encoder spends its bits on: such a stream decodes as dearly as real dark footage at the same
    settings (benchmarks/bench_streams.py measures both).
  - otherwise a dark test scene with a ball moving across, encoded live (fast, for the tests; it decodes 3x or
    more cheaper than night footage at the same bitrate: no figure of cameras per box should use it).

    python -m darkedge.bench.loopback.rtsp --port 8554 --mounts 2 --size 320x240 --fps 15
    # prints rtsp://127.0.0.1:8554/cam0 and /cam1, then serves until SIGTERM / Ctrl-C
    python -m darkedge.bench.loopback.rtsp --footage data/synth/clips --bitrate 512 --codec h265

From Python (tests, benchmarks): `RtspCamera(port, mounts=1, footage=...).start()` runs it in a subprocess
(started with /usr/bin/python3), `.stop()` kills it (clients see the stream end), `.start()` again serves the same
URLs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi: the one that can import GStreamer's bindings
START_TIMEOUT_S = 60.0  # a 640 x 360 footage loop is encoded before the server listens
KEY_INTERVAL_S = 2  # a key frame every 2 s, as camera substreams are set up
BITRATES = (256, 512, 1024)  # kbps: the caps camera substreams are set to
CODECS = {  # codec: (encoder with its caps, parser, RTP payloader)
    "h264": ("x264enc tune=zerolatency speed-preset=ultrafast pass=cbr bitrate={kbps} key-int-max={key} bframes=0 "
             "! video/x-h264,profile=baseline,stream-format=byte-stream", "h264parse", "rtph264pay"),
    "h265": ("x265enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max={key} "
             "! video/x-h265,stream-format=byte-stream", "h265parse", "rtph265pay"),
}  # fmt: skip


def encoder(codec: str, kbps: int, fps: int) -> str:
    """The encoder part of a pipeline: `codec` at `kbps`, a key frame every KEY_INTERVAL_S, no B-frames."""
    return CODECS[codec][0].format(kbps=kbps, key=KEY_INTERVAL_S * fps)


def pattern(width: int, height: int, fps: int, frames: int | None = None) -> str:
    """A dark test scene, a ball moving across: live, or `frames` frames."""
    timing = "is-live=true" if frames is None else f"num-buffers={frames}"
    return (
        f"videotestsrc {timing} pattern=ball background-color=0xff0c0c0c foreground-color=0xff303030 "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 ! videoconvert"
    )


def pattern_pipeline(width: int, height: int, fps: int, codec: str, kbps: int) -> str:
    """The live test scene, encoded as it is sent (fast to start; easy to decode: for the tests)."""
    _, _, pay = CODECS[codec]
    return f"( {pattern(width, height, fps)} ! {encoder(codec, kbps, fps)} ! {pay} name=pay0 pt=96 config-interval=1 )"


def loop_pipeline(stream: str, codec: str, fps: int) -> str:
    """An encoded loop (`encode`'s file) sent over and over, paced at `fps`, without re-encoding."""
    _, parse, pay = CODECS[codec]
    caps = f"video/x-{codec},stream-format=byte-stream,framerate={fps}/1"
    return (
        f'( multifilesrc location={stream} loop=true caps="{caps}" ! {parse} '
        f"! {pay} name=pay0 pt=96 config-interval=1 )"
    )


def loop_frames(seconds: float, fps: int) -> int:
    """Frames in a footage loop about `seconds` long: a whole number of key-frame intervals, so that the loop starts
    on a key frame."""
    return max(1, round(seconds / KEY_INTERVAL_S)) * KEY_INTERVAL_S * fps


def encode(raw: str, out: str, width: int, height: int, fps: int, codec: str, kbps: int) -> None:
    """Encode the footage loop's raw frames to the elementary stream `out` (needs GStreamer's Python bindings)."""
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"filesrc location={raw} ! rawvideoparse width={width} height={height} format=i420 framerate={fps}/1 "
        f"! {encoder(codec, kbps, fps)} ! filesink location={out}"
    )
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    pipeline.set_state(Gst.State.NULL)
    if message.type == Gst.MessageType.ERROR:
        raise SystemExit(f"rtsp_server: encoding {raw} failed: {message.parse_error()[0].message}")


def encode_file(raw: Path, out: Path, size: str, fps: int, codec: str, kbps: int) -> Path:
    """`encode` run under the system Python (from the project's): the footage loop's frames to an elementary stream."""
    args = ["--raw", str(raw), "--encode-only", str(out), "--size", size, "--fps", str(fps), "--codec", codec,
            "--bitrate", str(kbps)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    subprocess.run([SYSTEM_PYTHON, __file__, *args], check=True, env=env, stdout=subprocess.DEVNULL)
    return out


def serve(port: int, mounts: int, launch: str) -> None:
    """Serve `launch` (a pipeline ending in a payloader pay0) on `mounts` mounts until SIGTERM or SIGINT (needs
    GStreamer's Python bindings)."""
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
        factory.set_launch(launch)
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
        "raise SystemExit(any(Gst.ElementFactory.find(e) is None for e in ('x264enc', 'h264parse', 'multifilesrc')))"
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
    """RTSP mounts on 127.0.0.1:`port`, served by a subprocess; stop() kills it, start() serves them again.

    With `footage`, its loop is rendered once (here, `seconds` long) into a temporary folder that close() removes;
    without, the live test pattern."""

    def __init__(self, port: int | None = None, mounts: int = 1, size: str = "320x240", fps: int = 15,
                 footage: str | Path | None = None, codec: str = "h264", bitrate: int = 512,
                 noise: float | None = None, seconds: int = 10):  # fmt: skip
        self.port = port or free_port()
        self.mounts, self.size, self.fps = mounts, size, fps
        self.footage, self.codec, self.bitrate = footage, codec, bitrate
        self.noise, self.seconds = noise, seconds
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None

    @property
    def stream(self) -> Path | None:
        """The encoded loop the server sends (once started with footage)."""
        return self.folder / f"loop.{self.codec}" if self.folder else None

    def _render(self) -> Path:
        """The footage loop as raw frames (in the project's Python: OpenCV), once."""
        from darkedge.bench.loopback.footage import NOISE
        from darkedge.errors import DarkedgeError

        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="rtsp_loop_"))
            width, height = (int(v) for v in self.size.split("x"))
            noise = NOISE if self.noise is None else self.noise
            count = loop_frames(self.seconds, self.fps)
            # in a process of its own: OpenCV's thread pool would hang this process's later forks
            command = [sys.executable, "-m", "darkedge.bench.loopback.footage", str(self.footage),
                       str(self.folder / "loop.yuv"), str(width), str(height), str(self.fps), str(count), str(noise)]  # fmt: skip
            try:
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode:
                    raise DarkedgeError(
                        (done.stderr.strip().splitlines() or ["rendering the footage failed"])[-1]
                    )
            except BaseException:
                self.close()
                raise
        return self.folder / "loop.yuv"

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
            "--codec",
            self.codec,
            "--bitrate",
            str(self.bitrate),
        ]
        if self.footage is not None:
            args += ["--raw", str(self._render())]
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

    def close(self) -> None:
        """Stop, and remove the rendered loop."""
        self.stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mounts", type=int, default=1)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--codec", choices=list(CODECS), default="h264")
    parser.add_argument("--bitrate", type=int, default=512, help="kbps (cameras' substreams: 256, 512, 1024)")
    parser.add_argument("--footage", help="a video file or a folder of them (default: a test pattern)")
    parser.add_argument(
        "--noise", type=float, default=None, help="sensor noise added to footage (8-bit levels)"
    )
    parser.add_argument("--raw", help=argparse.SUPPRESS)  # a loop RtspCamera rendered
    parser.add_argument("--encode-only", help=argparse.SUPPRESS)  # encode --raw there, serve nothing
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.footage is not None:  # in the project's Python: render here, serve under the system's
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leave through `with`: the loop's folder goes
        camera = RtspCamera(args.port, args.mounts, args.size, args.fps, args.footage, args.codec, args.bitrate,
                            args.noise)  # fmt: skip
        with contextlib.suppress(KeyboardInterrupt), camera:
            print("\n".join(camera.urls), flush=True)
            signal.pause()
        return
    if args.raw is None:
        serve(args.port, args.mounts, pattern_pipeline(width, height, args.fps, args.codec, args.bitrate))
        return
    stream = args.encode_only or str(Path(args.raw).with_name(f"loop.{args.codec}"))
    encode(args.raw, stream, width, height, args.fps, args.codec, args.bitrate)
    if args.encode_only is None:
        serve(args.port, args.mounts, loop_pipeline(stream, args.codec, args.fps))


if __name__ == "__main__":
    sys.exit(main())
