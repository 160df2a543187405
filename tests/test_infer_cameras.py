"""`darkedge infer` on several cameras at once: three loopback MJPEG cameras, batching, metrics, and the pieces.

The cameras are real HTTP servers on 127.0.0.1 (darkedge.bench.loopback.mjpeg) read by darkedge's MJPEG reader
(darkedge.infer.mjpeg), the model a real ONNX Runtime or OpenVINO session. One camera is killed and restarted mid-run, one
serves garbage; the run is ended by SIGTERM like a service.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers_infer import count_lines, run_in_background, wait_for, write_video
from helpers_model import classifier_config
from prometheus_client.parser import text_string_to_metric_families

from darkedge.bench.loopback.mjpeg import MjpegCamera, dark_frames, encode
from darkedge.cli import main
from darkedge.export.onnx import export_onnx
from darkedge.export.openvino import export_openvino
from darkedge.feeding import Feeding
from darkedge.infer.command import InferConfig, infer_cameras
from darkedge.infer.sources import Frame, open_sources, read_sources_file, split_name
from darkedge.infer.stats import LogHistogram, RateMeter, RecentValues
from darkedge.infer.window import SlidingWindow
from darkedge.models import build_model
from darkedge.runtime import load_predictor

T, SIZE = 8, 32  # the conv model's window: 8 frames of 32 x 32


@pytest.fixture(scope="module")
def conv_models(tmp_path_factory) -> dict[str, Path]:
    """A tiny conv classifier (the small preset's kind) as ONNX with a free batch and as a batch-1 OpenVINO IR."""
    folder = tmp_path_factory.mktemp("conv")
    torch.manual_seed(0)
    config = asdict(
        classifier_config(encoder="r2plus1d_nano", head="mean", num_classes=3, num_frames=T, img_size=SIZE)
    )
    model = build_model("classifier", config, load_pretrained=False).eval()
    shape = (1, 3, T, SIZE, SIZE)
    return {
        "onnxruntime": export_onnx(model, shape, folder / "conv.onnx"),
        "openvino": export_openvino(model, shape, folder / "conv.xml", "fp32"),
    }


def events_by_camera(path: Path) -> dict[str, list[dict]]:
    by_camera: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        by_camera.setdefault(event["source"], []).append(event)
    return by_camera


def assert_ordered(events: list[dict]) -> None:
    """Each window once, numbered on from 0, frames and times increasing: per-camera ordering holds."""
    assert [e["window"] for e in events] == list(range(len(events)))
    starts = [e["frames"][0] for e in events]
    times = [e["time"] for e in events]
    # frames read in one burst (a stream catching up) can share a millisecond: times never go back
    assert starts == sorted(set(starts)) and times == sorted(times)


@pytest.mark.parametrize("reader", ["shared", "thread"])
def test_three_cameras_one_killed_and_restarted(tmp_path, models, reader):
    cameras = {name: MjpegCamera(fps=25.0, first=7 * i).start() for i, name in enumerate("abc")}
    events = tmp_path / "events.jsonl"
    sources = [f"{name}={camera.url}" for name, camera in cameras.items()]
    runner, stop, result = run_in_background(sources, models["onnxruntime"], events, mjpeg_reader=reader)

    def counts() -> dict[str, int]:
        by_camera = events_by_camera(events) if events.exists() else {}
        return {name: len(by_camera.get(name, [])) for name in cameras}

    try:
        wait_for(lambda: min(counts().values()) >= 3)
        cameras["b"].stop()  # mid-stream
        down = counts()
        wait_for(lambda: all(counts()[n] >= down[n] + 10 for n in "ac"))  # a and c go on without b
        time.sleep(0.5)
        during = counts()
        cameras["b"].start()  # the same port
        wait_for(lambda: counts()["b"] >= during["b"] + 5)
    finally:
        stop.set()
        runner.join(timeout=30)
        for camera in cameras.values():
            camera.stop()
    assert not runner.is_alive()
    summary = result["summary"]
    by_camera = events_by_camera(events)
    for name in cameras:
        assert_ordered(by_camera[name])
    assert [c.reconnects for c in summary.cameras] == [0, 1, 0]
    times = [e["time"] for e in by_camera["b"]]
    # b's outage is visible in its stream time: it lasted at least the 0.5 s slept above
    assert max(y - x for x, y in zip(times, times[1:], strict=False)) >= 0.5
    assert summary.windows == sum(len(v) for v in by_camera.values())
    lines = summary.format().splitlines()
    assert [line.split(":")[0] for line in lines[-3:]] == ["camera a", "camera b", "camera c"]


def test_garbage_camera_metrics_and_sigterm(tmp_path, models):
    """One camera serves random bytes: one warning, the others go on; /metrics and /healthz; SIGTERM ends it."""
    good = [MjpegCamera(fps=25.0).start(), MjpegCamera(fps=25.0, first=11).start()]
    garbage = MjpegCamera(fps=25.0, garbage=True).start()
    events = tmp_path / "events.jsonl"
    sources = tmp_path / "cameras.txt"
    sources.write_text(f"# the yard\nleft={good[0].url}\nright={good[1].url}\n\nbad={garbage.url}\n")
    command = [sys.executable, "-m", "darkedge", "infer", "--sources", str(sources)]
    options = ["--model", str(models["onnxruntime"]), "--threads", "1", "--events", str(events)]
    process = subprocess.Popen(
        [*command, *options, "--metrics-port", "0", "--hop", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(line.startswith("metrics: ") for line in stderr), seconds=60)
        url = next(line for line in stderr if line.startswith("metrics: ")).split()[1].rsplit("/", 1)[0]

        def scrape() -> dict[tuple, float]:
            text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
            return {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }

        def state(camera: str, name: str) -> float:
            return scrape()[("darkedge_camera_state", (("camera", camera), ("state", name)))]

        def yard_watched() -> bool:  # OpenCV opens one stream at a time: bad's 5 s open may delay the others'
            by_camera = events_by_camera(events) if events.exists() else {}
            return state("bad", "reconnecting") == 1 and all(
                len(by_camera.get(n, [])) >= 3 for n in ("left", "right")
            )

        wait_for(yard_watched, seconds=60)
        metrics = scrape()
        health = urllib.request.urlopen(f"{url}/healthz", timeout=10).read().decode().splitlines()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=10)
        for camera in [*good, garbage]:
            camera.stop()
    assert process.returncode == 143, "".join(stderr)  # 128 + SIGTERM, after the summary
    assert not any("Traceback" in line or "FFMPEG" in line or "[mjpeg" in line for line in stderr)
    warnings = [line for line in stderr if "bad" in line and not line.startswith("camera bad:")]
    assert len(warnings) == 1 and "cannot open stream or decode its frames" in warnings[0]
    for name in ("left", "right"):
        assert state_of(metrics, name, "connected") == 1
        assert metrics[("darkedge_camera_frames_total", (("camera", name),))] > 0
        assert metrics[("darkedge_camera_fps_in", (("camera", name),))] > 0
        assert ("darkedge_camera_lag_p99_seconds", (("camera", name),)) in metrics
    assert metrics[("darkedge_camera_frames_total", (("camera", "bad"),))] == 0
    assert health == ["ok", "camera left: connected", "camera right: connected", "camera bad: reconnecting"]
    by_camera = events_by_camera(events)
    assert set(by_camera) == {"left", "right"}
    for camera_events in by_camera.values():
        assert_ordered(camera_events)
    summary = "".join(stderr).splitlines()
    first = next(i for i, line in enumerate(summary) if line.startswith("infer: "))
    assert summary[first].startswith("infer: 3 source(s), ") and summary[first].endswith(
        "(stopped by SIGTERM)"
    )
    per_camera = [line for line in summary[first:] if line.startswith("camera ")]
    assert [line.split(":")[0] for line in per_camera] == ["camera left", "camera right", "camera bad"]
    assert "camera bad: reconnecting, 0 frames" in per_camera[2]


def state_of(metrics: dict, camera: str, name: str) -> float:
    return metrics[("darkedge_camera_state", (("camera", camera), ("state", name)))]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_files_in_step_share_inference_calls(tmp_path, conv_models, backend):
    """Three files run in lock-step: one call per three windows, and the same events as one file at a time."""
    videos = [write_video(tmp_path / f"{name}.avi", 30) for name in ("x", "y", "z")]
    model = str(conv_models[backend])
    batched = infer_cameras(
        InferConfig([str(v) for v in videos], model, threads=1, hop=2, events=str(tmp_path / "b"))
    )
    assert batched.windows == 3 * 12 and batched.calls == 12
    assert "batching: 36 windows in 12 predictor calls (3.00 windows per call)" in batched.format()
    pairs = infer_cameras(
        InferConfig(
            [str(v) for v in videos], model, threads=1, hop=2, max_batch=2, events=str(tmp_path / "p")
        )
    )
    assert pairs.windows == 36 and pairs.calls == 18
    alone = tmp_path / "alone"
    for video in videos:
        assert infer_cameras(InferConfig(str(video), model, threads=1, hop=2, events=str(alone))).calls == 12
    reference = events_by_camera(alone)
    for path in (tmp_path / "b", tmp_path / "p"):
        together = events_by_camera(path)
        assert set(together) == set(reference)
        for name, events in reference.items():
            assert [e["frames"] for e in together[name]] == [e["frames"] for e in events]
            assert [e["score"] for e in together[name]] == pytest.approx(
                [e["score"] for e in events], abs=1e-4
            )


def test_sources_file_names_and_bad_lists(tmp_path, models):
    clips = tmp_path / "clips"
    (clips / "more").mkdir(parents=True)
    write_video(clips / "a.avi", 10)
    write_video(clips / "more" / "b.avi", 10)
    listing = tmp_path / "cameras.txt"
    listing.write_text("# two cameras\nfront=clips/a.avi\n\n  clips/more  \n")
    assert read_sources_file(listing) == [f"front={clips / 'a.avi'}", str(clips / "more")]
    assert split_name("rtsp://h/x?a=b") == (None, "rtsp://h/x?a=b")
    assert split_name("door=rtsp://h/x?a=b") == ("door", "rtsp://h/x?a=b")
    # an unnamed stream is called by its URL without the password it logs in with
    (live,) = open_sources("rtsp://admin:s3cret@127.0.0.1:8554/s1", required=False)
    assert live.name == "rtsp://127.0.0.1:8554/s1"
    result = CliRunner().invoke(
        main, ["infer", f"hall={clips}", "--sources", str(listing), "--model", str(models["onnxruntime"])]
    )
    assert result.exit_code == 0, result.output
    sources = {json.loads(line)["source"] for line in result.stdout.splitlines()}
    assert sources == {"hall/a.avi", "hall/more/b.avi", "front", str(clips / "more" / "b.avi")}
    assert "infer: 4 source(s), " in result.stderr
    cases = [
        ([], "no SOURCE given"),
        (["--sources", str(tmp_path / "none.txt")], "none.txt: no such sources file"),
        ([str(clips / "a.avi"), str(clips / "a.avi")], "a.avi: given twice (tell the cameras apart"),
        ([str(clips / "a.avi"), "--max-batch", "0"], "max_batch 0: must be at least 1"),
    ]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    cases.append((["--sources", str(tmp_path / "empty.txt")], "empty.txt: lists no sources"))
    for args, message in cases:
        result = CliRunner().invoke(main, ["infer", *args, "--model", str(models["onnxruntime"])])
        assert result.exit_code == 1 and message in result.stderr, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1


def test_several_cameras_skip_a_corrupt_file_and_go_on(tmp_path, models):
    good = write_video(tmp_path / "good.avi", 12)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 300)
    summary = infer_cameras(
        InferConfig([str(bad), str(good)], str(models["onnxruntime"]), threads=1, events=str(tmp_path / "e"))
    )
    assert summary.skipped == [str(bad)] and summary.windows > 0


def test_annotated_video_per_camera(tmp_path, models):
    videos = [write_video(tmp_path / f"{name}.avi", 10 + i) for i, name in enumerate(("x", "y"))]
    out = tmp_path / "out" / "seen.avi"
    cfg = InferConfig(
        [str(v) for v in videos], str(models["onnxruntime"]), annotate=str(out), events=str(tmp_path / "e")
    )
    infer_cameras(cfg)
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "seen_x.avi",
        "seen_y.avi",
    ]  # nothing half-written
    for name, count in (("seen_x.avi", 10), ("seen_y.avi", 11)):
        capture = cv2.VideoCapture(str(out.parent / name))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == count
        capture.release()


def frame(index: int, after_gap: bool = False) -> Frame:
    return Frame(np.full((40, 60, 3), index, np.uint8), index, index / 10, after_gap)


def test_window_grid_skips_windows_whose_frames_were_dropped():
    window = SlidingWindow(Feeding(3, 2, 18, 16), hop=2)  # spans 5 frames, due at 4, 6, 8 ...
    kept = [i for i in range(20) if i not in (9, 12, 13)]  # a live camera's buffer dropped 9, 12 and 13
    ran = [w for i in kept if (w := window.push(frame(i))) is not None]
    # window 10 takes frames 6, 8, 10 (9 is not one of them); 12's last frame is gone; 14 and 16 need frame 12
    assert [w.last.index for w in ran] == [4, 6, 8, 10, 18] and window.skipped == 3
    assert [round(v * 255) for v in ran[-1].clip[0, 0, :, 0, 0]] == [14, 16, 18]  # frame_step apart, no hole


def test_log_histogram_percentiles_are_within_one_percent_in_fixed_memory():
    rng = np.random.default_rng(0)
    values = rng.lognormal(-5, 1.5, 200_000)
    histogram = LogHistogram()
    size = histogram.counts.nbytes
    for value in values:
        histogram.add(float(value))
    exact = np.percentile(values, [50, 90, 99])
    got = histogram.percentiles((50, 90, 99))
    assert [got[q] for q in (50, 90, 99)] == pytest.approx(exact, rel=0.01)
    assert histogram.counts.nbytes == size and histogram.count == len(values)
    assert histogram.count_at_most(1e9) == len(values)
    assert histogram.count_at_most(float(exact[0])) == pytest.approx(len(values) / 2, rel=0.02)


def test_recent_values_and_rates_forget_the_past():
    recent, rate = RecentValues(horizon=10, cap=100), RateMeter(horizon=10, cap=100)
    rate.created = 0.0
    for t in range(1000):
        recent.add(float(t), now=float(t))
        rate.tick(now=t / 5)  # 5 a second
    assert recent.percentiles((50,), now=999.0) == {50: pytest.approx(994.0)}  # the last 10 s only
    assert len(recent._items) <= 100
    assert rate.rate(now=200.0) == pytest.approx(5.0, rel=0.05)
    assert rate.rate(now=1000.0) == 0.0


def test_predict_many_chunks_and_pads_to_what_the_model_takes(conv_models):
    clips = np.random.default_rng(0).random((5, 3, T, SIZE, SIZE), dtype=np.float32)
    free = load_predictor(conv_models["onnxruntime"], threads=1)
    reference = np.concatenate([free.predict(clip[None]) for clip in clips])
    assert free.max_batch is None
    logits, calls = free.predict_many(clips)
    assert calls == 1 and logits == pytest.approx(reference, abs=1e-4)
    bounded = load_predictor(conv_models["openvino"], threads=1, max_batch=2)
    assert bounded.input_shape[0] is None and bounded.max_batch == 2
    logits, calls = bounded.predict_many(clips)
    assert calls == 3 and logits == pytest.approx(reference, abs=1e-4)
    # One OpenVINO model of an IR alive at a time: with two, a pytest process that forked DataLoader workers
    # before (tests/test_data_dataset.py) crashes a few tests later (OpenVINO 2026.4; main does it too).
    del bounded
    fixed = load_predictor(
        conv_models["openvino"], threads=1, batch=4
    )  # a fixed batch of 4: pad the last call
    logits, calls = fixed.predict_many(clips)
    assert calls == 2 and logits.shape == (5, 3) and logits == pytest.approx(reference, abs=1e-4)


@pytest.mark.slow
def test_soak_memory_stays_flat(tmp_path, models):
    """Three cameras for a few minutes (DARKEDGE_SOAK_S, default 180), one cut and restored every 30 s:
    the process's resident memory at the end is within 10 % of what it was after the first minute."""
    import os

    import psutil

    seconds = float(os.environ.get("DARKEDGE_SOAK_S", "180"))
    jpegs = encode(dark_frames(160, 120))
    cameras = [MjpegCamera(jpegs, fps=25.0, first=9 * i).start() for i in range(3)]
    events = tmp_path / "events.jsonl"
    command = [sys.executable, "-m", "darkedge", "infer", *(c.url for c in cameras)]
    options = ["--model", str(models["onnxruntime"]), "--threads", "1", "--hop", "1", "--smooth", "1"]
    process = subprocess.Popen(
        [*command, *options, "--events", str(events), "--reconnect", "0.2,1", "--metrics-port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    began, rss = time.monotonic(), {}
    try:
        wait_for(lambda: count_lines(events) >= 30, seconds=60)
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < seconds:
            if int(elapsed) % 30 == 15 and cameras[1]._server is not None:
                cameras[1].stop()
            elif int(elapsed) % 30 == 25 and cameras[1]._server is None:
                cameras[1].start()
            if elapsed >= 60 and "minute" not in rss:
                rss["minute"] = psutil.Process(process.pid).memory_info().rss
            time.sleep(0.5)
        rss["end"] = psutil.Process(process.pid).memory_info().rss
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        for camera in cameras:
            camera.stop()
    assert process.returncode == 143, stderr  # 128 + SIGTERM, after the summary
    assert abs(rss["end"] - rss["minute"]) <= 0.10 * rss["minute"], rss
    summary = stderr[stderr.index("infer: ") :]
    for camera_events in events_by_camera(events).values():
        assert_ordered(camera_events)
    print(
        f"soak {seconds:.0f} s: RSS {rss['minute'] / 2**20:.1f} MiB after 1 min, {rss['end'] / 2**20:.1f} at the end"
    )
    print(summary)
