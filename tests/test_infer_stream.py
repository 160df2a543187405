"""`darkedge infer` on a live network stream: an MJPEG-over-HTTP camera on the loopback interface, run by the test.

The stream is read by darkedge's MJPEG reader with the same reconnecting source an RTSP camera goes through
(tests/test_infer_decode.py runs RTSP cameras on a real RTSP server). The camera (darkedge.bench.loopback.mjpeg) is
killed mid-stream and restarted on the same port.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from helpers_infer import count_lines, run_in_background, wait_for
from helpers_video import write_video

from darkedge.bench.loopback.mjpeg import MjpegCamera
from darkedge.errors import DarkedgeError
from darkedge.feeding import Feeding
from darkedge.infer.camera import Camera
from darkedge.infer.sources import FileSource, LiveSource
from darkedge.infer.window import prepare_frame


@pytest.fixture
def stream() -> Iterator[MjpegCamera]:
    with MjpegCamera(fps=25.0) as camera:
        yield camera


def test_live_source_drops_old_frames_when_the_reader_is_slow(stream):
    prepare = lambda image: prepare_frame(image, Feeding(8, 1, 18, 16))  # noqa: E731
    source = Camera("mjpeg", [LiveSource(stream.url, "mjpeg")], 3, prepare, keep_images=True).start()
    try:
        time.sleep(1.0)  # about 25 frames arrive while nobody reads
        received = [source.take(wait=5.0) for _ in range(6)]
    finally:
        source.close()
    assert source.stats.dropped >= 5
    indices = [f.index for f in received]
    assert indices == sorted(set(indices)) and indices[0] >= 5  # only the newest frames were kept
    assert received[0].image.shape == (48, 64, 3)
    assert all(b.time > a.time for a, b in zip(received, received[1:], strict=False))


def test_stream_that_cannot_be_opened_is_a_one_line_error():
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DarkedgeError, match=rf"^http://127.0.0.1:{port}/x: cannot open stream$"):
        LiveSource(f"http://127.0.0.1:{port}/x", f"http://127.0.0.1:{port}/x")


def test_stream_reconnects_after_the_server_dies_and_never_repeats_a_window(tmp_path, models):
    server = MjpegCamera(fps=25.0).start()
    events = tmp_path / "events.jsonl"
    runner, stop, result = run_in_background(server.url, models["onnxruntime"], events)
    try:
        wait_for(lambda: count_lines(events) >= 5)
        server.stop()  # mid-stream
        time.sleep(1.0)  # several failed reconnect attempts: nothing listens on the port
        before = count_lines(events)
        server.start()  # the same port
        wait_for(lambda: count_lines(events) >= before + 5)
    finally:
        stop.set()
        runner.join(timeout=20)
        server.stop()
    assert not runner.is_alive()
    summary = result["summary"]
    assert summary.reconnects >= 1
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert summary.windows == len(lines)
    assert [e["window"] for e in lines] == list(range(len(lines)))  # each window once, numbering continued
    starts = [e["frames"][0] for e in lines]
    times = [e["time"] for e in lines]
    assert starts == sorted(set(starts)) and times == sorted(set(times))
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) >= 1.0  # the outage is visible in time


def test_sigterm_ends_a_live_run_cleanly_with_a_summary(tmp_path, stream, models):
    events = tmp_path / "events.jsonl"
    command = [
        sys.executable,
        "-m",
        "darkedge",
        "infer",
        stream.url,
        "--model",
        str(models["onnxruntime"]),
    ]
    process = subprocess.Popen(
        [*command, "--threads", "1", "--events", str(events)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: count_lines(events) >= 3, seconds=60)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stderr  # 128 + SIGTERM, after the summary
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    summary = lines[next(i for i, line in enumerate(lines) if line.startswith("infer: ")) :]
    assert summary[0].startswith("infer: 1 source(s), ") and summary[0].endswith("(stopped by SIGTERM)")
    assert summary[1].startswith("latency ms: p50 ") and " p99 " in summary[1]
    assert summary[2].startswith("dropped frames: ") and "reconnects: 0" in summary[2]
    windows = int(summary[0].split(", ")[1].split()[0])
    assert windows == count_lines(events) >= 3  # every window was written out before exit
    assert all(json.loads(line)["source"] == stream.url for line in events.read_text().splitlines())


def test_an_unexpected_error_in_one_video_of_a_folder_is_skipped_and_named(tmp_path, caplog):
    """Any exception while reading or preparing a video ends only that video (counted, one warning line), not
    the reader thread: the next video of the camera is still read in full."""
    write_video(tmp_path / "a.avi", num_frames=4)
    write_video(tmp_path / "b.avi", num_frames=5)
    calls = {"n": 0}

    def prepare(image):
        calls["n"] += 1
        if calls["n"] == 2:  # the second frame of the first video: an error no reader expects
            raise RuntimeError("odd frame")
        return image

    sources = [FileSource(tmp_path / "a.avi"), FileSource(tmp_path / "b.avi")]
    camera = Camera("folder", sources, buffer=64, prepare=prepare).start()
    frames = []
    while not camera.finished:
        frame = camera.take(wait=0.1)
        if frame is not None:
            frames.append(frame)
    camera.close()
    assert camera.stats.skipped == [str(tmp_path / "a.avi")] and camera.error is None
    assert len(frames) == 1 + 5  # a.avi's frame before the error, then all of b.avi
    assert any("RuntimeError: odd frame" in r.getMessage() for r in caplog.records)
