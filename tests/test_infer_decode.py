"""Decoding only what the model looks at: the window grid, scaled JPEG decoding, the MJPEG reader, RTSP cameras
on a real loopback server, a stream that changes resolution, and SIGTERM to a whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers_infer import count_lines, run_in_background, serve_parts_without_length, wait_for
from helpers_video import write_video
from test_infer_cameras import assert_ordered, events_by_camera

from darkedge.bench.loopback.mjpeg import MjpegCamera, dark_frames, encode
from darkedge.bench.loopback.rtsp import RtspCamera, available
from darkedge.feeding import Feeding
from darkedge.infer.mjpeg import MjpegReader, decode_jpeg, jpeg_size, reduction
from darkedge.infer.sources import Backoff, Frame, LiveSource, rtsp_probe
from darkedge.infer.window import SlidingWindow, WindowGrid, prepare_frame

needs_rtsp = pytest.mark.skipif(not available(), reason="no GStreamer RTSP server (.ci/run installs it)")


@pytest.mark.parametrize(
    ("frames", "step", "hop", "start"), [(8, 4, 14, 0), (4, 2, 2, 3), (3, 1, 5, 0), (8, 4, 1, 7)]
)
def test_the_grid_names_exactly_the_frames_the_windows_use(frames, step, hop, start):
    feeding = Feeding(frames, step, 18, 16)
    window, grid = SlidingWindow(feeding, hop), WindowGrid(feeding, hop)
    used: set[int] = set()
    last_first = start
    for index in range(start, start + 120):
        frame = Frame(None, index, index / 15, start=start, pixels=np.zeros((16, 16, 3), np.uint8))
        ready = window.push(frame)
        if ready is not None:
            used.update(range(ready.first.index, ready.last.index + 1, step))
            last_first = ready.first.index
    needed = {i for i in range(start, start + 120) if grid.needed(i, start)}
    assert needed >= used  # every frame a window used was decoded ...
    assert all(
        i >= last_first + hop for i in needed - used
    )  # ... and no other, but of the windows not yet due


@pytest.mark.parametrize("frames, step", [(8, 4), (16, 2), (4, 1), (8, 3)])
def test_the_default_hop_keeps_windows_on_one_grid_so_a_stream_decodes_one_frame_per_step(frames, step):
    feeding = Feeding(frames, step, 54, 48)
    hop = feeding.default_hop
    assert hop % step == 0 and abs(hop - feeding.span / 2) <= step / 2
    grid = WindowGrid(feeding, hop)
    needed = [i for i in range(600) if grid.needed(i)]
    assert needed == list(range(0, 600, step))  # an off-grid hop (14 at step 4) would need every other frame
    assert sum(WindowGrid(feeding, hop + 1).needed(i) for i in range(600)) > len(needed) or step == 1


def test_windows_from_only_the_needed_frames_decoded_small_are_the_old_windows():
    """Feed one stream both ways: every frame decoded whole (before), or only the grid's frames, each at the
    smallest JPEG scale that covers the resize (now): the same windows, the same frames, pixels within rounding."""
    feeding, hop = Feeding(8, 4, 54, 48), 14
    jpegs = encode(dark_frames(320, 240, count=90, seed=2), quality=90)
    assert reduction(240, 54) == 4 and decode_jpeg(jpegs[0], 54).shape == (60, 80, 3)  # OpenCV honours it
    assert jpeg_size(jpegs[0]) == (240, 320)
    old, new = SlidingWindow(feeding, hop), SlidingWindow(feeding, hop)
    grid = WindowGrid(feeding, hop)
    before, after, decoded = [], [], 0
    for i, data in enumerate(jpegs):
        full = Frame(
            None, i, i / 15, pixels=prepare_frame(cv2.imdecode(np.frombuffer(data, np.uint8), 1), feeding)
        )
        if (w := old.push(full)) is not None:
            before.append(w)
        if grid.needed(i):
            decoded += 1
            small = Frame(None, i, i / 15, pixels=prepare_frame(decode_jpeg(data, feeding.resize), feeding))
            if (w := new.push(small)) is not None:
                after.append(w)
    assert [(w.first.index, w.last.index) for w in after] == [(w.first.index, w.last.index) for w in before]
    assert decoded < 0.65 * len(jpegs)  # 8 frames per 14: the rest are never decoded
    for a, b in zip(before, after, strict=True):
        assert np.abs(a.clip - b.clip).mean() < 1.5 / 255  # the scaled decoder's rounding


def test_the_mjpeg_reader_hands_out_each_part_and_refuses_what_is_no_jpeg():
    jpegs = encode(dark_frames(64, 48, count=5))
    with MjpegCamera(jpegs, fps=50.0) as camera:
        reader = MjpegReader(camera.url, timeout=5)
        parts = [reader.read() for _ in range(7)]
        reader.release()
    assert parts[:5] == jpegs and parts[5:] == jpegs[:2]
    with MjpegCamera(fps=50.0, garbage=True) as bad:
        reader = MjpegReader(bad.url, timeout=5)
        assert reader.read() is None
        reader.release()


def test_parts_without_a_length_run_to_the_next_boundary():
    jpegs = encode(dark_frames(64, 48, count=3, seed=5))
    server, url = serve_parts_without_length(jpegs)
    reader = MjpegReader(url, timeout=5)
    assert [reader.read() for _ in range(4)] == [*jpegs, None]
    reader.release()
    server.close()


def test_a_camera_that_answers_503_while_it_boots_is_read_as_mjpeg_once_it_is_up():
    jpegs = encode(dark_frames(64, 48, count=3, seed=6))
    server, url = serve_parts_without_length(jpegs, busy=2)
    source = LiveSource(url, "booting", Backoff(0.05, 0.1), required=False)
    stop = threading.Event()
    frames = []
    for frame in source.frames(stop):
        frames.append(frame)
        if len(frames) == 3:
            stop.set()
    server.close()
    assert [f.jpeg for f in frames] == jpegs  # darkedge's MJPEG reader, not OpenCV's, after the two 503s


def test_a_camera_decodes_only_the_frames_its_windows_use(tmp_path, models):
    camera = MjpegCamera(encode(dark_frames(128, 96, count=40)), fps=30.0).start()
    events = tmp_path / "events.jsonl"
    runner, stop, result = run_in_background([f"cam={camera.url}"], models["onnxruntime"], events)
    try:
        wait_for(lambda: events.exists() and len(events.read_text().splitlines()) >= 10)
    finally:
        stop.set()
        runner.join(timeout=30)
        camera.stop()
    stats = result["summary"].cameras[0].stats
    # the test model: 4 frames, frame step 1, a window every 2 frames: 3 of every 4 frames are never needed... or
    # all of them, by the grid; what matters: decoded <= read, and windows ran
    assert stats.decoded <= stats.frames_in and result["summary"].windows >= 10


def test_a_part_that_is_no_decodable_jpeg_is_counted_as_such_and_the_stream_goes_on(tmp_path, models):
    jpegs = encode(dark_frames(64, 48, count=30, seed=3))
    jpegs[::10] = [
        b"\xff\xd8" + bytes(100) + b"\xff\xd9"
    ] * 3  # starts and ends as a JPEG, decodes to nothing
    camera = MjpegCamera(jpegs, fps=30.0).start()
    events = tmp_path / "events.jsonl"
    runner, stop, result = run_in_background([f"cam={camera.url}"], models["onnxruntime"], events)
    try:
        wait_for(lambda: count_lines(events) >= 20, seconds=60)
    finally:
        stop.set()
        runner.join(timeout=30)
        camera.stop()
    stats = result["summary"].cameras[0].stats
    assert stats.corrupt >= 2 and stats.dropped == 0  # not blamed on inference being behind
    assert "undecodable" in result["summary"].camera_line(result["summary"].cameras[0])


def test_a_stream_that_changes_resolution_mid_way_goes_on(tmp_path, models):
    jpegs = encode(dark_frames(160, 120, count=20, seed=1)) + encode(dark_frames(64, 48, count=20, seed=2))
    camera = MjpegCamera(jpegs, fps=30.0).start()
    events = tmp_path / "events.jsonl"
    runner, stop, result = run_in_background([f"cam={camera.url}"], models["onnxruntime"], events)
    try:
        wait_for(lambda: events.exists() and len(events.read_text().splitlines()) >= 40, seconds=60)
    finally:
        stop.set()
        runner.join(timeout=30)
        camera.stop()
    assert_ordered(events_by_camera(events)["cam"])
    assert result["summary"].cameras[0].error is None


@needs_rtsp
def test_an_rtsp_camera_opened_with_the_short_probe_gives_whole_frames_from_the_start():
    camera = RtspCamera(mounts=1, size="160x120", fps=15).start()
    stop, frames = threading.Event(), []
    try:
        with rtsp_probe([camera.urls[0]], 0.2):
            source = LiveSource(camera.urls[0], "cam", required=True)  # opened here, under the short probe
            for frame in source.frames(stop):
                frames.append(frame)
                if len(frames) == 10:
                    stop.set()
    finally:
        camera.stop()
    assert [f.index for f in frames] == list(range(10))
    assert all(f.image.shape == (120, 160, 3) for f in frames)


@needs_rtsp
def test_an_rtsp_camera_streams_footage_looped_at_its_rate_and_leaves_nothing_behind(tmp_path):
    """A footage camera: the clip's frames (dark, noisy), encoded once at the bitrate cap, sent looped past the
    loop's end at the camera's frame rate; closing it removes the rendered loop."""
    clip = write_video(tmp_path / "night.avi", 30, size=(80, 60), level=40)
    camera = RtspCamera(mounts=1, size="160x120", fps=15, footage=clip, bitrate=256, seconds=2).start()
    folder = camera.folder
    stop, frames = threading.Event(), []
    try:
        assert camera.stream.stat().st_size > 0
        source = LiveSource(camera.urls[0], "cam", required=True)
        for frame in source.frames(stop):
            frames.append((frame, time.monotonic()))
            if frames[-1][1] - frames[0][1] > 7:  # past the 2 s loop's end three times
                stop.set()
    finally:
        camera.close()
    assert not folder.exists()
    images = [f.image for f, _ in frames]
    assert all(image.shape == (120, 160, 3) for image in images)
    assert 30 < np.mean(images) < 50  # the clip's grey 40 with noise, not the test pattern (about 13)
    steady = [t for _, t in frames if t > frames[0][1] + 4]  # the last 3 s, after the opening burst
    assert 12 < len(steady) / 3 < 18


def test_an_mjpeg_camera_serves_footage_scaled_with_sensor_noise(tmp_path):
    """The MJPEG cameras' footage is the RTSP cameras' (darkedge.bench.loopback.footage): the clip scaled to the
    camera's size, looped past its end, every 2nd frame of 30 fps footage at 15, noise of the given level added."""
    from darkedge.bench.loopback.footage import footage_frames

    clip = write_video(tmp_path / "night.avi", 12, size=(80, 60), level=40)  # 10 fps: every frame taken
    frames = list(footage_frames(clip, 160, 120, 15, 30, noise=4.0))
    assert len(frames) == 30 and all(f.shape == (120, 160, 3) for f in frames)
    assert (
        3 < np.std(frames[0].astype(float)) < 5 and abs(np.mean(frames) - 40) < 3
    )  # the codec moves 40 a little
    with MjpegCamera(encode(frames), fps=15) as camera:
        reader = MjpegReader(camera.url, 5.0)
        image = decode_jpeg(reader.read(), None)
        reader.release()
    assert image.shape == (120, 160, 3) and abs(image.mean() - 40) < 3


@needs_rtsp
def test_the_pyav_reader_reads_an_rtsp_camera_at_the_models_height(tmp_path):
    pytest.importorskip("av", reason="PyAV is not installed (darkedge[pyav])")
    clip = write_video(tmp_path / "night.avi", 30, size=(80, 60), level=40)
    with RtspCamera(mounts=1, size="160x120", fps=15, footage=clip, bitrate=256, seconds=2) as camera:
        source = LiveSource(camera.urls[0], "cam", required=True, pyav_height=60)
        stop, frames = threading.Event(), []
        for frame in source.frames(stop, wanted=lambda index, start: index % 2 == 0):
            frames.append(frame)
            if len(frames) == 10:
                stop.set()
    assert [f.index for f in frames] == list(range(10))
    assert all(f.image.shape == (60, 80, 3) for f in frames[::2]) and all(f.skipped for f in frames[1::2])
    assert 30 < np.mean([f.image for f in frames[::2]]) < 50


@needs_rtsp
def test_rtsp_cameras_one_killed_and_restarted_while_two_go_on(tmp_path, models):
    cameras = {name: RtspCamera(mounts=1).start() for name in "abc"}
    events = tmp_path / "events.jsonl"
    sources = [f"{name}={camera.urls[0]}" for name, camera in cameras.items()]
    runner, stop, result = run_in_background(sources, models["onnxruntime"], events)

    def counts() -> dict[str, int]:
        by_camera = events_by_camera(events) if events.exists() else {}
        return {name: len(by_camera.get(name, [])) for name in cameras}

    try:
        wait_for(lambda: min(counts().values()) >= 3, seconds=60)
        cameras["b"].stop()
        down = counts()
        wait_for(lambda: all(counts()[n] >= down[n] + 10 for n in "ac"), seconds=60)
        cameras["b"].start()  # the same port and mount
        during = counts()
        wait_for(lambda: counts()["b"] >= during["b"] + 5, seconds=60)
    finally:
        stop.set()
        runner.join(timeout=60)
        for camera in cameras.values():
            camera.stop()
    summary = result["summary"]
    by_camera = events_by_camera(events)
    for name in cameras:
        assert_ordered(by_camera[name])
    assert [c.reconnects for c in summary.cameras] == [0, 1, 0]
    assert all(c.stats.decoded <= c.stats.frames_in for c in summary.cameras)


def _process_group_sigterm(command: list[str], ready: str, tmp_path: Path) -> tuple[int, list[str]]:
    """Start `command` in its own session, wait for `ready` on stderr, SIGTERM the whole group (systemd's stop)."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=tmp_path,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(ready in line for line in lines), seconds=120)
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    reader.join(timeout=10)
    return process.returncode, lines


def test_sigterm_to_the_process_group_ends_train_and_its_workers_in_one_line(tmp_path):
    from helpers_run import make_tiny_data

    data = make_tiny_data(tmp_path / "data")
    command = [sys.executable, "-m", "darkedge", "train", "--preset", "test", "--data", str(data)]
    command += ["--epochs", "500", "--workers", "1", "--calib", "", "--stage", "raw"]
    code, lines = _process_group_sigterm(command, "raw epoch 1/500", tmp_path)  # into the second epoch
    text = "".join(lines)
    assert code == 143 and "Traceback" not in text, text[-2000:]
    assert text.strip().splitlines()[-1].strip() == "interrupted by SIGTERM"
    assert not list(tmp_path.rglob("*.tmp"))


def test_sigterm_to_the_process_group_ends_infer_with_its_summary(tmp_path, models):
    camera = MjpegCamera(fps=25.0).start()
    try:
        command = [
            sys.executable,
            "-m",
            "darkedge",
            "infer",
            camera.url,
            "--model",
            str(models["onnxruntime"]),
        ]
        code, lines = _process_group_sigterm([*command, "--threads", "1"], "model ", tmp_path)
    finally:
        camera.stop()
    text = "".join(lines)
    assert code == 143 and "Traceback" not in text, text[-2000:]
    assert "(stopped by SIGTERM)" in text


def test_a_gstreamer_source_needs_an_opencv_built_with_it(tmp_path, models):
    from click.testing import CliRunner

    from darkedge.cli import main
    from darkedge.infer.sources import gstreamer_in_opencv

    if gstreamer_in_opencv():
        pytest.skip("this OpenCV has GStreamer")
    source = "gst:videotestsrc ! videoconvert ! appsink"
    result = CliRunner().invoke(main, ["infer", source, "--model", str(models["onnxruntime"])])
    assert result.exit_code == 1 and "needs OpenCV built with GStreamer" in result.output
    assert len(result.output.strip().splitlines()) == 1


# The Jetson pipeline, run by the system GStreamer with its NVIDIA elements swapped for CPU ones: the same
# depayloading, parsing, caps and appsink, frames pulled until 5 have come.
PULL_FRAMES = """
import sys, gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
pipeline = Gst.parse_launch(sys.argv[1].replace("appsink", "appsink name=sink emit-signals=false"))
sink = pipeline.get_by_name("sink")
pipeline.set_state(Gst.State.PLAYING)
heights = []
for _ in range(5):
    sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
    if sample is None:
        break
    structure = sample.get_caps().get_structure(0)
    heights.append((structure.get_value("format"), structure.get_value("height")))
pipeline.set_state(Gst.State.NULL)
print(heights)
"""


@needs_rtsp
def test_the_jetson_nvdec_pipeline_runs_with_cpu_elements_in_their_place(tmp_path):
    from darkedge.bench.loopback.rtsp import SYSTEM_PYTHON
    from darkedge.infer.sources import nvdec_pipeline

    with RtspCamera(mounts=1) as camera:
        pipeline = nvdec_pipeline(camera.urls[0], height=54)
        assert "nvv4l2decoder" in pipeline and "height=54" in pipeline and pipeline.startswith("gst:")
        cpu = (
            pipeline.removeprefix("gst:")
            .replace("nvv4l2decoder", "avdec_h264")
            .replace("nvvidconv", "videoscale ! videoconvert")
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", PULL_FRAMES, cpu], capture_output=True, text=True, env=env, timeout=60
        )
    if "no element" in done.stderr:
        pytest.skip(f"a GStreamer element is missing here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str([("BGR", 54)] * 5)
