"""`darkedge infer` on real video files, a folder with a corrupt file, and bad input; the window and smoothing."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from helpers_infer import FPS, write_video
from helpers_model import CLASSES, FRAMES

from darkedge.cli import main
from darkedge.errors import DarkedgeError
from darkedge.feeding import Feeding
from darkedge.infer.command import InferConfig, infer_cameras
from darkedge.infer.smoothing import Smoother, softmax
from darkedge.infer.sources import Frame, without_credentials
from darkedge.infer.window import SlidingWindow

# `models` (conftest.py) is the tiny classifier of helpers_model


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_windows(num_frames: int, hop: int) -> int:
    return (num_frames - FRAMES) // hop + 1


def test_file_events_are_json_lines_with_windows_and_times(tmp_path, models):
    video = write_video(tmp_path / "clip.avi", 20)
    events = tmp_path / "events.jsonl"
    cfg = InferConfig(str(video), str(models["onnxruntime"]), threads=1, hop=2, smooth=1, events=str(events))
    summary = infer_cameras(cfg)
    lines = read_events(events)
    assert summary.windows == summary.events == len(lines) == expected_windows(20, 2)
    for i, event in enumerate(lines):
        assert set(event) == {"source", "time", "window", "frames", "action", "score", "latency_ms"}
        assert event["window"] == i
        assert event["frames"] == [2 * i, 2 * i + FRAMES - 1]
        assert event["time"] == pytest.approx((2 * i + FRAMES - 1) / FPS, abs=1e-3)
        assert event["action"].startswith("class_")  # a bare ONNX file carries no class names
        assert 1 / 3 <= event["score"] <= 1
    assert set(summary.latency_percentiles()) == {"p50", "p90", "p99"}
    infer_cameras(cfg)  # events are a stream: a second run appends
    assert len(read_events(events)) == 2 * len(lines)


def test_torch_and_onnxruntime_agree(tmp_path, models):
    video = write_video(tmp_path / "clip.avi", 16)
    results = {}
    for backend, model in models.items():
        events = tmp_path / f"{backend}.jsonl"
        infer_cameras(InferConfig(str(video), str(model), threads=1, hop=3, smooth=2, events=str(events)))
        results[backend] = read_events(events)
    torch_events, onnx_events = results["torch"], results["onnxruntime"]
    assert [e["frames"] for e in torch_events] == [e["frames"] for e in onnx_events]
    assert [e["action"] for e in torch_events] == [CLASSES[int(e["action"][6:])] for e in onnx_events]
    assert [e["score"] for e in torch_events] == pytest.approx([e["score"] for e in onnx_events], abs=1e-3)


def test_the_pyav_reader_gives_the_windows_opencvs_gives(tmp_path, models):
    """decoder=pyav: the same windows and frames, and scores within the scaling's rounding (PyAV scales from YUV
    to the model's height in one call, OpenCV converts to full-size BGR that is then resized)."""
    pytest.importorskip("av", reason="PyAV is not installed (darkedge[pyav])")
    video = write_video(tmp_path / "clip.avi", 20, width=128, height=96)
    results = {}
    for decoder in ("ffmpeg", "pyav"):
        events = tmp_path / f"{decoder}.jsonl"
        cfg = InferConfig(str(video), str(models["onnxruntime"]), threads=1, hop=2, smooth=1, events=str(events),
                          decoder=decoder)  # fmt: skip
        infer_cameras(cfg)
        results[decoder] = read_events(events)
    opencv, pyav = results["ffmpeg"], results["pyav"]
    assert len(opencv) == len(pyav) == expected_windows(20, 2)
    assert [e["frames"] for e in opencv] == [e["frames"] for e in pyav]
    assert [e["score"] for e in opencv] == pytest.approx([e["score"] for e in pyav], abs=0.02)


def test_the_pyav_reader_reads_what_opencv_reads_scaled_in_one_call(tmp_path):
    pytest.importorskip("av", reason="PyAV is not installed (darkedge[pyav])")
    from darkedge.infer.pyav import PyAvCapture

    video = write_video(tmp_path / "clip.avi", 6, width=128, height=96)
    opencv, pyav = cv2.VideoCapture(str(video)), PyAvCapture(str(video), height=48)
    assert pyav.isOpened() and pyav.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    assert pyav.grab() and opencv.grab()  # decoded, not converted
    for _ in range(5):
        (ok, full), (ok_pyav, small) = opencv.read(), pyav.read()
        assert ok and ok_pyav and small.shape == (48, 64, 3)
        expected = cv2.resize(full, (64, 48), interpolation=cv2.INTER_AREA).astype(int)
        assert (
            np.abs(small.astype(int) - expected).mean() < 4
        )  # the same picture, within the converters' rounding
    assert not pyav.grab() and not pyav.read()[0]
    assert not PyAvCapture(str(tmp_path / "missing.mp4")).isOpened()


def test_folder_skips_and_names_a_corrupt_file(tmp_path, models):
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "a.avi", 10)
    write_video(folder / "c.avi", 12)
    (folder / "b.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage, not a video" * 20)
    (folder / "notes.txt").write_text("not a video either")
    result = CliRunner().invoke(
        main, ["infer", str(folder), "--model", str(models["torch"]), "--threads", "1", "--hop", "2"]
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(e["source"]).name for e in events].count("a.avi") == expected_windows(10, 2)
    assert [Path(e["source"]).name for e in events].count("c.avi") == expected_windows(12, 2)
    assert {e["action"] for e in events} <= set(CLASSES)
    assert f"skipped 1 unreadable file(s): {folder / 'b.avi'}" in result.stderr
    assert "3 source(s)" in result.stderr


def test_annotated_video_has_every_frame(tmp_path, models):
    video = write_video(tmp_path / "clip.avi", 14)
    out = tmp_path / "out" / "annotated.avi"
    cfg = InferConfig(
        str(video), str(models["onnxruntime"]), threads=1, annotate=str(out), events=str(tmp_path / "e")
    )
    infer_cameras(cfg)
    capture = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 14 and frames[0].shape == (48, 64, 3)
    assert [p.name for p in out.parent.iterdir()] == ["annotated.avi"]  # no partial file left behind
    # The label is drawn in green once the first window has run (frame index FRAMES - 1 on).
    green = [(f[:, :, 1].astype(int) - f[:, :, 2]).max() for f in frames]
    assert max(green[FRAMES:]) > 150 and max(green[: FRAMES - 1]) < max(green[FRAMES:])


def test_max_windows_and_threshold(tmp_path, models):
    video = write_video(tmp_path / "clip.avi", 30)
    events = tmp_path / "events.jsonl"
    summary = infer_cameras(
        InferConfig(
            str(video), str(models["onnxruntime"]), threads=1, hop=1, max_windows=5, events=str(events)
        )
    )
    assert summary.windows == 5 and len(read_events(events)) == 5
    summary = infer_cameras(
        InferConfig(str(video), str(models["onnxruntime"]), threads=1, threshold=1.01, events=str(events))
    )
    assert summary.windows > 0 and summary.events == 0 and len(read_events(events)) == 5


@pytest.mark.parametrize(
    ("source", "extra", "message"),
    [
        ("missing.avi", [], "missing.avi: no such file or folder"),
        ("ftp://example.com/cam", [], "ftp://example.com/cam: unsupported URL scheme 'ftp'"),
        ("http://user:secret@cam:abc/s1", [], "http://cam:abc/s1: the port is not a number"),
        ("rtsp:///s1", [], "rtsp:///s1: no host in this URL"),
        ("57", [], "camera 57: no such device"),
        ("VIDEO", ["--frames", "8"], "the model takes windows of 4 frames, --frames 8 given"),
        ("VIDEO", ["--size", "64"], "the model takes 32x32 frames, --size 64 given"),
        ("VIDEO", ["--reconnect", "fast"], "--reconnect fast: takes two numbers"),
        ("VIDEO", ["--reconnect", "4,1"], "reconnect 4,1: need 0 < first <= maximum"),
        ("VIDEO", ["--hop", "0"], "hop 0: must be at least 1"),
        ("VIDEO", ["--max-windows", "0"], "max_windows 0: must be at least 1"),
        ("VIDEO", ["--frames", "0"], "frames 0: must be at least 1"),
        ("VIDEO", ["--annotate", "out.gif"], "annotate out.gif: cannot write video with extension '.gif'"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, models, source, extra, message):
    if source == "VIDEO":
        source = str(write_video(tmp_path / "clip.avi", 8))
    result = CliRunner().invoke(main, ["infer", source, "--model", str(models["onnxruntime"]), *extra])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "secret" not in result.stderr
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    "url, shown",
    [
        ("rtsp://admin:pa:ss@[fe80::1]:554/s1", "rtsp://[fe80::1]:554/s1"),
        ("http://user@cam/video.mjpg", "http://cam/video.mjpg"),
        ("rtsp://cam:8554/s1", "rtsp://cam:8554/s1"),
    ],
)
def test_a_camera_is_named_without_its_credentials(url, shown):
    assert without_credentials(url) == shown


def test_infer_without_a_model_says_so_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["infer", str(write_video(tmp_path / "clip.avi", 8))])
    assert result.exit_code == 1 and result.stderr.startswith("Error: --model: required")


def test_single_corrupt_file_is_an_error_not_a_skip(tmp_path, models):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 300)
    result = CliRunner().invoke(main, ["infer", str(bad), "--model", str(models["onnxruntime"])])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {bad}: cannot open video (corrupt or unsupported format)"


def frame(index: int, after_gap: bool = False) -> Frame:
    return Frame(np.full((40, 60, 3), index, np.uint8), index, index / FPS, after_gap)


def test_sliding_window_span_hop_and_gap():
    window = SlidingWindow(Feeding(3, 2, 18, 16), hop=2)  # spans 5 frames
    ready = [(i, window.push(frame(i))) for i in range(10)]
    runs = [(i, w) for i, w in ready if w is not None]
    assert [i for i, _ in runs] == [4, 6, 8]
    clip = runs[0][1].clip
    assert clip.shape == (1, 3, 3, 16, 16) and clip.dtype == np.float32
    assert clip[0, 0, :, 0, 0] * 255 == pytest.approx([0, 2, 4])  # frames 0, 2, 4 of the span
    assert (runs[0][1].first.index, runs[0][1].last.index) == (0, 4)
    # After a reconnect the window starts over: no clip mixes frames from both sides of the gap.
    assert [window.push(frame(i, after_gap=i == 20)) is not None for i in range(20, 26)] == [0, 0, 0, 0, 1, 0]


def test_smoother_is_the_mean_of_recent_softmaxes():
    smoother = Smoother(2)
    a, b, c = np.array([2.0, 0.0]), np.array([0.0, 2.0]), np.array([1.0, 1.0])
    assert smoother.update(a) == pytest.approx(softmax(a))
    assert smoother.update(b) == pytest.approx([0.5, 0.5])
    assert smoother.update(c) == pytest.approx((softmax(b) + softmax(c)) / 2)


def test_class_names_come_from_the_export_manifest_beside_a_bare_model(tmp_path, models):
    """An engine or ONNX file not listed in manifest.json takes the names of the run's other exports."""
    export = tmp_path / "export"
    export.mkdir()
    onnx_path = export / "student_fp16.onnx"
    onnx_path.write_bytes(models["onnxruntime"].read_bytes())
    manifest = {"files": {"student_int8.onnx": {"file": "student_int8.onnx", "class_names": CLASSES}}}
    (export / "manifest.json").write_text(json.dumps(manifest))
    events = tmp_path / "events.jsonl"
    infer_cameras(
        InferConfig(str(write_video(tmp_path / "clip.avi", 8)), str(onnx_path), threads=1, events=str(events))
    )
    assert {e["action"] for e in read_events(events)} <= set(CLASSES)


def test_an_older_export_in_a_run_directory_is_fed_clips_the_way_its_run_was_trained(tmp_path):
    """An export made before files described themselves: its run directory's config.json says how to feed it."""
    from darkedge.config import make_config
    from darkedge.run import save_run_config
    from darkedge.runtime.metadata import from_run_directory

    cfg = make_config("test")
    save_run_config(tmp_path, cfg, ["a", "b"])
    (tmp_path / "export").mkdir()
    for model in (tmp_path / "student.pt", tmp_path / "export" / "student_int8.xml"):
        metadata = from_run_directory(model)
        assert Feeding.from_metadata(metadata, cfg.num_frames, cfg.crop) == cfg.feeding("student")
        assert metadata["class_names"] == ["a", "b"]
    alone = from_run_directory(tmp_path.parent / "elsewhere.onnx")
    assert alone == {} and Feeding.from_metadata(alone, 8, 112) == Feeding(8, 1, 128, 112)


@pytest.mark.parametrize(
    "bad",
    [{"decoder": "vaapi"}, {"hop": 0}, {"reconnect": (2.0, 1.0)}, {"annotate": "out.txt"}, {"max_batch": 0}],
)
def test_infer_settings_check_themselves_when_built(bad):
    from darkedge.infer.command import InferConfig

    with pytest.raises(DarkedgeError):
        InferConfig(model="m.xml", **bad)


def test_stride_is_a_one_line_error_that_names_hop(tmp_path):
    result = CliRunner().invoke(main, ["infer", str(tmp_path / "x.mp4"), "--model", "m.xml", "--stride", "4"])
    assert (
        result.exit_code != 0
        and "--stride: renamed --hop" in result.output
        and "Traceback" not in result.output
    )
