"""One thread for many MJPEG cameras (darkedge.infer.mjpeg_hub): the incremental multipart parser against the
blocking reader, frame-for-frame reading of real loopback cameras, a camera that boots (503) and one whose stream
ends, and a URL that turns out not to be MJPEG handed back to a thread of its own. And RTSP's shorter probe,
set for FFmpeg only while infer runs RTSP cameras."""

from __future__ import annotations

import os
import random
import socket
import threading

import cv2
import numpy as np
import pytest
from helpers_infer import serve_parts_without_length, wait_for

from darkedge.bench.loopback.mjpeg import MjpegCamera, dark_frames, encode
from darkedge.infer.camera import Camera
from darkedge.infer.mjpeg import Dechunker, MjpegBody, MjpegReader, PartParser
from darkedge.infer.mjpeg_hub import MjpegHub, can_read
from darkedge.infer.sources import FFMPEG_OPTIONS, Backoff, LiveSource, rtsp_probe


def multipart(jpegs: list[bytes], lengths: bool) -> bytes:
    """A multipart body as cameras send it: a preamble line, parts with or without a length, the closing line."""
    body = b"\r\n"
    for i, data in enumerate(jpegs):
        length = b"Content-Length: %d\r\n" % len(data) if lengths or i % 2 else b""
        body += b"--cam\r\nContent-Type: image/jpeg\r\n" + length + b"\r\n" + data + b"\r\n"
    return body + b"--cam--\r\n"


def cut_and_fed(make_parser, data: bytes, seed: int) -> list:
    """For each way of cutting `data` (whole, byte by byte, at random), a new parser fed the pieces: (its parts,
    whether it ended)."""
    rng = random.Random(seed)
    results = []
    for sizes in ([len(data)], [1] * len(data), [rng.randint(1, 700) for _ in range(len(data))]):
        parser, parts, at = make_parser(), [], 0
        while at < len(data):
            size = sizes.pop(0)
            parts += parser.feed(data[at : at + size])
            at += size
        results.append((parts, parser.ended))
    return results


@pytest.mark.parametrize("lengths", [True, False])
def test_the_part_parser_cuts_any_chunking_into_the_same_parts(lengths):
    jpegs = encode(dark_frames(64, 48, count=6, seed=3))
    body = multipart(jpegs, lengths)
    assert cut_and_fed(lambda: PartParser(b"--cam"), body, seed=0) == [(jpegs, True)] * 3
    server = socket.create_server(("127.0.0.1", 0))  # the blocking reader, on the same bytes, agrees

    def serve() -> None:
        client, _ = server.accept()
        with client:
            client.recv(4096)
            client.sendall(
                b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=cam\r\n\r\n" + body
            )

    threading.Thread(target=serve, daemon=True).start()
    reader = MjpegReader(f"http://127.0.0.1:{server.getsockname()[1]}/", timeout=5)
    assert [reader.read() for _ in range(len(jpegs) + 1)] == [*jpegs, None]
    reader.release()
    server.close()


def test_the_part_parser_refuses_what_the_blocking_reader_refuses():
    with pytest.raises(ValueError, match="no multipart boundary"):
        PartParser(b"--cam").feed(bytes(range(256)) * 40)  # random bytes: no framing at all
    with pytest.raises(ValueError, match="no JPEG"):
        PartParser(b"--cam").feed(b"--cam\r\nContent-Length: 5\r\n\r\nhello\r\n--cam\r\n")
    with pytest.raises(ValueError):
        PartParser(b"--cam").feed(b"--cam\r\nContent-Length: x\r\n\r\n")


def chunked(body: bytes, sizes: list[int]) -> bytes:
    """`body` as a chunked HTTP body: chunks of `sizes` bytes (cycled), a chunk extension on one, the last chunk."""
    out, at, i = b"", 0, 0
    while at < len(body):
        piece = body[at : at + sizes[i % len(sizes)]]
        out += b"%x%s\r\n%s\r\n" % (len(piece), b";ext=1" if i == 1 else b"", piece)
        at, i = at + len(piece), i + 1
    return out + b"0\r\n\r\n"


def test_a_chunked_body_gives_both_readers_the_same_parts():
    """Some cameras send their multipart body with chunked transfer coding: the framing comes off in any cut of
    the bytes, and the blocking reader and the hub read the same frames through the same parsers."""
    jpegs = encode(dark_frames(64, 48, count=5, seed=8))
    wire = chunked(multipart(jpegs, lengths=False), [97, 1, 4000])
    assert cut_and_fed(lambda: MjpegBody(b"--cam", chunked=True), wire, seed=1) == [(jpegs, True)] * 3
    with pytest.raises(ValueError, match="chunk size"):
        Dechunker().feed(b"zz\r\n")
    server = socket.create_server(("127.0.0.1", 0))
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/x-mixed-replace;boundary=cam\r\n\r\n"

    def run() -> None:  # the same response to two clients: the blocking reader, then the hub
        for _ in range(2):
            client, _ = server.accept()
            with client:
                client.recv(4096)
                client.sendall(head + wire)

    threading.Thread(target=run, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    reader = MjpegReader(url, timeout=5)
    assert [reader.read() for _ in range(len(jpegs) + 1)] == [*jpegs, None]
    reader.release()
    hub = MjpegHub()
    camera = hub_camera("chunked", url, hub).start()
    try:
        frames = take(camera, len(jpegs))
    finally:
        camera.close()
        hub.close()
        server.close()
    assert camera._thread.ident is None  # read by the hub, not handed to a thread
    expected = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]
    assert [f.index for f in frames] == list(range(len(jpegs)))
    assert all(np.array_equal(f.pixels, e) for f, e in zip(frames, expected, strict=True))


def hub_camera(name: str, url: str, hub: MjpegHub, backoff: Backoff | None = None) -> Camera:
    """A camera that keeps every frame it reads, full size (the identity as its `prepare`)."""
    source = LiveSource(url, name, backoff or Backoff(0.05, 0.2), required=False)
    return Camera(name, [source], 1000, lambda image: image, arrivals=None, hub=hub)


def take(camera: Camera, count: int) -> list:
    """The camera's first `count` frames, as they come."""
    frames = []

    def enough() -> bool:
        frame = camera.take()
        if frame is not None:
            frames.append(frame)
        return len(frames) >= count

    wait_for(enough)
    return frames


def test_one_hub_reads_three_cameras_frame_for_frame_as_their_threads_would():
    jpegs = encode(dark_frames(96, 72, count=12, seed=4))
    servers = [MjpegCamera(jpegs, fps=60.0, first=5 * i).start() for i in range(3)]
    hub = MjpegHub()
    cameras = [hub_camera(f"c{i}", s.url, hub) for i, s in enumerate(servers)]
    threaded = hub_camera("t", servers[1].url, None)
    assert all(can_read(c.sources[0]) for c in cameras)
    try:
        for camera in [*cameras, threaded]:
            camera.start()
        got = {camera.name: take(camera, 20) for camera in [*cameras, threaded]}
    finally:
        for camera in [*cameras, threaded]:
            camera.close()
        hub.close()
        for server in servers:
            server.stop()
    assert threaded._thread.ident is not None and all(c._thread.ident is None for c in cameras)
    for i, camera in enumerate(cameras):
        frames = got[camera.name]
        assert [f.index for f in frames] == list(range(20)) and not any(f.after_gap for f in frames)
        for k, frame in enumerate(frames):  # each client is served from the camera's `first` frame on
            expected = cv2.imdecode(
                np.frombuffer(jpegs[(5 * i + k) % len(jpegs)], np.uint8), cv2.IMREAD_COLOR
            )
            assert np.array_equal(frame.pixels, expected)
        assert camera.state == "connected" and camera.stats.cpu_read > 0
    same = [f.pixels for f in got["t"]], [f.pixels for f in got["c1"]]
    assert all(np.array_equal(a, b) for a, b in zip(*same, strict=True))  # the thread's reader agrees


def test_a_booting_camera_is_read_once_up_and_an_ended_stream_is_reconnected():
    jpegs = encode(dark_frames(64, 48, count=3, seed=6))
    server, url = serve_parts_without_length(jpegs, busy=2)  # two 503s, then three parts and the end
    hub = MjpegHub()
    camera = hub_camera("booting", url, hub).start()
    try:
        frames = take(camera, 3)
        wait_for(lambda: camera.state == "reconnecting")  # the stream ended: tried again with back-off
    finally:
        camera.close()
        hub.close()
        server.close()
    assert [f.index for f in frames] == [0, 1, 2]
    assert [cv2.imdecode(np.frombuffer(j, np.uint8), 1).shape for j in jpegs] == [
        f.pixels.shape for f in frames
    ]


def test_an_http_url_that_is_not_mjpeg_goes_back_to_a_thread_of_its_own():
    server = socket.create_server(("127.0.0.1", 0))

    def run() -> None:  # a web page, to every client, until the server is closed
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                client.recv(4096)
                client.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello"
                )

    threading.Thread(target=run, daemon=True).start()
    hub = MjpegHub()
    camera = hub_camera("page", f"http://127.0.0.1:{server.getsockname()[1]}/", hub).start()
    try:
        wait_for(lambda: camera._thread.ident is not None)
        assert not camera.sources[0].mjpeg  # OpenCV's reader is tried from now on, on the camera's own thread
    finally:
        camera.close()
        hub.close()
        server.close()


def test_the_short_rtsp_probe_is_set_only_for_rtsp_cameras_and_never_over_the_users_options(monkeypatch):
    monkeypatch.delenv(FFMPEG_OPTIONS, raising=False)
    with rtsp_probe(["gate=rtsp://10.0.0.7/s1", "http://10.0.0.8/video.mjpg"], 0.2):
        assert os.environ[FFMPEG_OPTIONS] == "analyzeduration;200000"
    assert FFMPEG_OPTIONS not in os.environ  # as it was, after the run
    for specs, seconds in ((["video.mp4", "http://10.0.0.8/v.mjpg"], 0.2), (["rtsp://10.0.0.7/s1"], 0.0)):
        with rtsp_probe(specs, seconds):
            assert FFMPEG_OPTIONS not in os.environ
    monkeypatch.setenv(FFMPEG_OPTIONS, "rtsp_transport;tcp")  # the user's own options win
    with rtsp_probe(["rtsp://10.0.0.7/s1"], 0.2):
        assert os.environ[FFMPEG_OPTIONS] == "rtsp_transport;tcp"
    assert os.environ[FFMPEG_OPTIONS] == "rtsp_transport;tcp"


def test_a_camera_whose_frames_fail_is_reconnected_and_the_others_go_on():
    jpegs = encode(dark_frames(64, 48, count=6, seed=7))
    servers = [MjpegCamera(jpegs, fps=40.0).start() for _ in range(2)]
    hub = MjpegHub()
    good = hub_camera("good", servers[0].url, hub)
    source = LiveSource(servers[1].url, "bad", Backoff(0.05, 0.2), required=False)

    def refuse(image):
        raise ValueError("a frame this camera cannot prepare")

    bad = Camera("bad", [source], 1000, refuse, hub=hub)
    try:
        good.start()
        bad.start()
        frames = take(good, 30)
        wait_for(lambda: bad.reconnects >= 1 or bad.state == "reconnecting")
        frames += take(good, 10)  # the hub's thread is still reading the others
    finally:
        good.close()
        bad.close()
        hub.close()
        for server in servers:
            server.stop()
    assert [f.index for f in frames] == list(range(40))
