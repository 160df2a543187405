"""What the infer tests share: a small real video, waiting for a condition, infer_cameras on live sources in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from darkedge.infer.command import InferConfig, infer_cameras

FPS = 10.0  # the test videos' frame rate


def write_video(path: Path, num_frames: int, width: int = 64, height: int = 48) -> Path:
    """A real MJPEG .avi whose frames change from one to the next (noise over a moving gradient)."""
    rng = np.random.default_rng(len(path.name) + num_frames)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    assert writer.isOpened()
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    for i in range(num_frames):
        frame = np.clip(np.roll(ramp, 5 * i, axis=1) + rng.normal(0, 20, (height, width, 3)), 0, 255)
        writer.write(frame.astype(np.uint8))
    writer.release()
    return path


def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def run_in_background(
    sources: str | list[str], model: Path, events: Path, **settings: object
) -> tuple[threading.Thread, threading.Event, dict]:
    """infer_cameras on live sources in a thread (reconnecting fast) until the event is set; result["summary"] then."""
    cfg = InferConfig(
        sources,
        str(model),
        threads=1,
        hop=2,
        smooth=1,
        events=str(events),
        reconnect=(0.1, 0.4),
        **settings,
    )
    stop, result = threading.Event(), {}
    runner = threading.Thread(target=lambda: result.update(summary=infer_cameras(cfg, stop)))
    runner.start()
    return runner, stop, result


def serve_parts_without_length(jpegs: list[bytes], busy: int = 0) -> tuple[socket.socket, str]:
    """A one-client server whose multipart parts give no Content-Length (some cameras do so); the first `busy`
    connections are answered 503, as a camera that is still booting does."""
    server = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        for _ in range(busy):
            client, _ = server.accept()
            client.recv(4096)
            client.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            client.close()
        client, _ = server.accept()
        client.recv(4096)
        client.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=xyz\r\n\r\n")
        for data in jpegs:
            client.sendall(b"--xyz\r\nContent-Type: image/jpeg\r\n\r\n" + data + b"\r\n")
        client.sendall(b"--xyz--\r\n")
        client.close()

    threading.Thread(target=run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.getsockname()[1]}/video"
