"""`darkedge infer`: cameras -> sliding windows -> one batched predictor -> smoothing -> events, until the end or a signal.

    summary = run_infer(InferConfig(["front=rtsp://10.0.0.7/s1", "back=rtsp://10.0.0.8/s1"], "student_int8.xml"))
    print(summary.format(), file=sys.stderr)

One process, one loaded model, any number of cameras; a single SOURCE is the case of one camera. Each camera
is read on its own thread into its own bounded buffer (darkedge.infer.camera). This loop takes each camera's
frames into that camera's sliding window, gathers the windows that are ready across cameras (at most one per
camera, up to --max-batch) and runs them in one predictor call, then smooths each camera's scores and writes
its events. A camera that is down or slow holds up nobody: live cameras are never waited for.

When every source is a file the loop moves in lock-step instead (it waits for each file's next window), so
the batches, and with them the results, are the same on every run.

Ctrl-C and SIGTERM set a stop flag instead of raising, so the loop finishes the batch in hand, closes the
event file and the annotated videos, and returns the summary (exit code 0 for a requested stop).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkedge.data.writer import FOURCC as VIDEO_FOURCC
from darkedge.errors import DarkedgeError
from darkedge.infer.annotate import Annotator
from darkedge.infer.camera import Arrivals, Camera
from darkedge.infer.events import Event, EventWriter
from darkedge.infer.smoothing import Smoother
from darkedge.infer.sources import (
    Backoff,
    FileSource,
    Frame,
    Source,
    open_sources,
    quiet_video_logs,
    read_sources_file,
    split_name,
)
from darkedge.infer.summary import Summary
from darkedge.infer.window import SlidingWindow, Window, prepare_frame
from darkedge.runtime import Predictor, load_predictor, metadata

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.1  # how long the loop sleeps when no camera has a frame (a new frame wakes it at once)


@dataclass
class InferConfig:
    """Everything `darkedge infer` takes; None means "from the model or its run directory" or "the default"."""

    sources: str | list[str]  # SOURCE or SOURCEs: file, folder, URL, camera index; NAME=SOURCE names one
    model: str
    sources_file: str | None = None  # more SOURCEs, one a line
    backend: str | None = None
    threads: int | None = None
    frames: int | None = None
    size: int | None = None
    stride: int | None = None  # frames between window starts; default half the window's span
    frame_step: int | None = (
        None  # frames between a window's frames; default the model's (its run's stride), else 1
    )
    smooth: int = 4
    threshold: float = 0.0
    events: str | None = None  # None or "-": stdout
    annotate: str | None = None
    max_windows: int | None = None
    max_batch: int = 8  # windows (one per camera) run in one predictor call
    buffer: int = 8  # frames a live camera may queue before the oldest is dropped
    reconnect_initial: float = 0.5
    reconnect_max: float = 8.0
    metrics_port: int | None = None  # serve /metrics and /healthz here (0: any free port)
    metrics_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if isinstance(self.sources, str):
            self.sources = [self.sources]


def window_shape(predictor: Predictor, model: Path, frames: int | None, size: int | None) -> tuple[int, int]:
    """(T, S) for the window: the model's static dims (or its metadata's), checked against --frames/--size."""
    shape = list(predictor.input_shape)
    if len(shape) != 5:
        raise DarkedgeError(f"{model}: expected a clip input (B, 3, T, H, W), the model takes {tuple(shape)}")
    declared = predictor.metadata.get("input_shape")
    if declared is not None:
        shape = [dim if dim is not None else declared[i] for i, dim in enumerate(shape)]
    _, _, model_t, model_h, model_w = shape
    if model_h != model_w:
        raise DarkedgeError(f"{model}: takes {model_h}x{model_w} frames; infer feeds square centre crops")
    if frames is not None and model_t is not None and frames != model_t:
        raise DarkedgeError(f"{model}: the model takes windows of {model_t} frames, --frames {frames} given")
    if size is not None and model_h is not None and size != model_h:
        raise DarkedgeError(f"{model}: the model takes {model_h}x{model_h} frames, --size {size} given")
    num_frames, img_size = model_t or frames, model_h or size
    if num_frames is None or img_size is None:
        raise DarkedgeError(f"{model}: the model's input size is dynamic; pass --frames and --size")
    return int(num_frames), int(img_size)


def describe_feeding(predictor: Predictor, window: SlidingWindow) -> str:
    """One line: how the model is fed and named, and where that came from (its file, its run directory, defaults)."""
    meta = predictor.metadata
    if "metadata_version" in meta:
        origin = "the model file's metadata"
    elif meta.get("frame_step") or meta.get("class_names"):
        origin = "its run directory (the file carries no metadata)"
    else:
        origin = "defaults (the file carries no metadata and sits in no run directory)"
    names = predictor.class_names
    classes = (
        f"{len(names)} classes: {', '.join(names[:5])}{', ...' if len(names) > 5 else ''}"
        if names
        else "no class names"
    )
    resize = round(window.size * window.resize_ratio)
    return (
        f"model {predictor.path.name}: windows of {window.num_frames} frames {window.frame_step} apart, "
        f"resized to {resize} px and cropped to {window.size}; {classes}; from {origin}"
    )


@contextmanager
def stop_on_signals(stop: threading.Event, summary: Summary) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set `stop` (noting which) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: object) -> None:
        summary.stopped_by = signal.Signals(signum).name
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def source_specs(cfg: InferConfig) -> list[str]:
    """Every SOURCE of the run: the ones given, then the sources file's."""
    specs = list(cfg.sources) + (read_sources_file(cfg.sources_file) if cfg.sources_file else [])
    if not specs:
        raise DarkedgeError(
            "no SOURCE given: name a file, folder, URL or camera, or a sources file (--sources)"
        )
    return specs


def open_cameras(
    specs: list[str], cfg: InferConfig, prepare: Callable[[np.ndarray], np.ndarray], arrivals: Arrivals
) -> list[Camera]:
    """One camera per SOURCE, not started. With one SOURCE, a stream that cannot be opened or a file that
    cannot be read is an error; with several, such a camera is retried (streams) or skipped (files)."""
    backoff = Backoff(cfg.reconnect_initial, cfg.reconnect_max)
    single = len(specs) == 1
    cameras: list[Camera] = []
    for spec in specs:
        name, target = split_name(spec)
        sources = open_sources(target, backoff, required=single, name=name)
        camera_name = name or (sources[0].name if sources[0].live else target)
        if any(camera.name == camera_name for camera in cameras):
            raise DarkedgeError(f"{camera_name}: given twice (tell the cameras apart with NAME=SOURCE)")
        strict = single and not Path(target).is_dir()
        keep_images = cfg.annotate is not None
        cameras.append(Camera(camera_name, sources, cfg.buffer, prepare, keep_images, strict, arrivals))
    return cameras


@dataclass(frozen=True)
class Sampling:
    """How a camera's frames become windows: T frames `frame_step` apart every `stride` frames, S x S crops."""

    num_frames: int
    size: int
    stride: int
    frame_step: int
    resize_ratio: float

    def window(self) -> SlidingWindow:
        return SlidingWindow(self.num_frames, self.size, self.stride, self.frame_step, self.resize_ratio)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return prepare_frame(image, self.size, self.resize_ratio)


def sampling_for(cfg: InferConfig, predictor: Predictor, model: Path) -> Sampling:
    """The model's window (its input shape, its training run's frame step and crop) and the options, checked."""
    num_frames, size = window_shape(predictor, model, cfg.frames, cfg.size)
    # fed the way it was trained: the model file's metadata, else its run directory's, else the defaults
    frame_step = metadata.frame_step(predictor.metadata) if cfg.frame_step is None else cfg.frame_step
    resize_ratio = metadata.resize_ratio(predictor.metadata)
    stride = max(1, ((num_frames - 1) * frame_step + 1) // 2) if cfg.stride is None else cfg.stride
    for option, value in (
        ("--stride", stride),
        ("--frame-step", frame_step),
        ("--smooth", cfg.smooth),
        ("--buffer", cfg.buffer),
    ):
        if value < 1:
            raise DarkedgeError(f"{option} {value}: must be at least 1")
    if not 0 < cfg.reconnect_initial <= cfg.reconnect_max:
        raise DarkedgeError(
            f"--reconnect {cfg.reconnect_initial:g},{cfg.reconnect_max:g}: need 0 < first <= maximum"
        )
    return Sampling(num_frames, size, stride, frame_step, resize_ratio)


def run_infer(cfg: InferConfig, stop: threading.Event | None = None) -> Summary:
    """Run the model over every window of every camera, writing events; returns the summary."""
    specs = source_specs(cfg)
    model = Path(cfg.model)
    for option, value in (
        ("--max-batch", cfg.max_batch),
        ("--max-windows", cfg.max_windows),
        ("--threads", cfg.threads),
        ("--frames", cfg.frames),
        ("--size", cfg.size),
    ):
        if value is not None and value < 1:
            raise DarkedgeError(f"{option} {value}: must be at least 1")
    if cfg.annotate is not None and Path(cfg.annotate).suffix.lower() not in VIDEO_FOURCC:
        raise DarkedgeError(
            f"--annotate {cfg.annotate}: cannot write video with extension {Path(cfg.annotate).suffix!r} "
            f"(use one of {', '.join(sorted(VIDEO_FOURCC))})"
        )
    batch = min(cfg.max_batch, len(specs))  # at most one window per camera in a call
    predictor = load_predictor(model, cfg.backend, cfg.threads, max_batch=batch if batch > 1 else None)
    sampling = sampling_for(cfg, predictor, model)
    stop = stop or threading.Event()
    arrivals = Arrivals()
    summary = Summary()
    events: EventWriter | None = None
    metrics = None
    started = time.perf_counter()
    with quiet_video_logs():
        try:
            summary.cameras = open_cameras(specs, cfg, sampling.prepare, arrivals)
            runs = [CameraRun(camera, sampling.window(), Smoother(cfg.smooth)) for camera in summary.cameras]
            if batch > 1 and predictor.max_batch == 1:
                log.info("%s: takes one clip per call; windows run one at a time", model)
            events = EventWriter(cfg.events)
            if cfg.metrics_port is not None:
                from darkedge.infer.metrics import MetricsServer

                metrics = MetricsServer(summary, cfg.metrics_host, cfg.metrics_port, predictor)
                log.info("metrics: %s/metrics  health: %s/healthz", metrics.url, metrics.url)
            for camera in summary.cameras:
                camera.start()
            loop = Loop(runs, predictor, predictor.class_names or [], cfg, events, summary, stop, arrivals)
            with stop_on_signals(stop, summary):
                loop.run()
        finally:
            for camera in summary.cameras:
                camera.halt()
            for camera in summary.cameras:
                camera.close()
            if events is not None:
                events.close()
            if metrics is not None:
                metrics.close()
            summary.seconds = time.perf_counter() - started
    return summary


@dataclass(eq=False)  # one per camera, told apart by identity
class CameraRun:
    """The loop's state for one camera: its window and smoothing, the stream its frames now come from (a
    folder moves from video to video), the next window's number in that stream, the window ready to run."""

    camera: Camera
    window: SlidingWindow
    smoother: Smoother
    source: Source | None = None
    index: int = 0
    label: str = ""
    annotator: Annotator | None = None
    pending: Window | None = None


class Loop:
    """The inference loop over every camera (see the module docstring)."""

    def __init__(
        self,
        runs: list[CameraRun],
        predictor: Predictor,
        names: list[str],
        cfg: InferConfig,
        events: EventWriter,
        summary: Summary,
        stop: threading.Event,
        arrivals: Arrivals,
    ):
        self.runs, self.predictor, self.names, self.cfg = runs, predictor, names, cfg
        self.events, self.summary, self.stop, self.arrivals = events, summary, stop, arrivals
        self.run_of = {run.camera: run for run in runs}
        self.strict = [run for run in runs if run.camera.strict]  # the only cameras that can carry an error
        self.lockstep = not any(run.camera.live for run in runs)
        self.several = summary.sources > 1
        self.annotated = annotated_paths(cfg.annotate, runs, self.several) if cfg.annotate else {}

    def run(self) -> None:
        """Until every camera has ended (files) or `stop` is set (a signal, --max-windows)."""
        turn, todo = 0, list(self.runs)  # todo: the cameras whose buffers may hold frames
        try:
            while not self.stop.is_set():
                self.summary.heartbeat = time.monotonic()
                for run in self.strict:
                    if run.camera.error is not None:
                        raise run.camera.error
                for run in self.runs if self.lockstep else todo:
                    self.fill(run)
                first = turn % len(self.runs)  # the camera served first this turn, so all get their share
                ready = [run for run in self.runs[first:] + self.runs[:first] if run.pending is not None]
                if not ready:
                    if all(run.camera.finished and run.camera.error is None for run in self.runs):
                        break
                    todo = [self.run_of[camera] for camera in self.arrivals.collect(IDLE_WAIT_S)]
                    continue
                batch = ready[: self.batch_limit()]
                self.infer(batch)
                turn += 1
                arrived = [self.run_of[camera] for camera in self.arrivals.collect()]
                todo = list(dict.fromkeys(batch + arrived))  # a camera just served may hold more frames
                if self.cfg.max_windows is not None and self.summary.windows >= self.cfg.max_windows:
                    self.stop.set()
        except BaseException:
            for run in self.runs:
                if run.annotator is not None:
                    run.annotator.discard()
            raise
        for run in self.runs:
            if run.annotator is not None:
                run.annotator.close()

    def batch_limit(self) -> int:
        """Windows the next call may take: --max-batch, and no more than --max-windows leaves."""
        limit = self.cfg.max_batch
        if self.cfg.max_windows is not None:
            limit = min(limit, self.cfg.max_windows - self.summary.windows)
        return max(1, limit)

    def fill(self, run: CameraRun) -> bool:
        """Take the camera's frames into its window until a window is ready (True) or no frame is left.

        In lock-step (files only) this waits for the file's next frame; a live camera is never waited for.
        """
        while run.pending is None:
            frame = run.camera.take(IDLE_WAIT_S if self.lockstep else 0.0)
            if frame is None:
                if self.lockstep and not (run.camera.finished or self.stop.is_set()):
                    continue
                return False
            run.camera.stats.frame_taken(time.monotonic())
            if frame.source is not run.source:
                self.begin_stream(run, frame.source)
            if frame.after_gap:
                run.smoother.reset()
            run.pending = run.window.push(frame)
            run.camera.stats.windows_skipped = run.window.skipped
            if run.pending is None:
                self.annotate(run, frame)  # the frame that completes a window is drawn with its result
        return True

    def begin_stream(self, run: CameraRun, source: Source) -> None:
        """A camera's frames now come from `source` (the next video of a folder): start its windows afresh."""
        if run.annotator is not None:
            run.annotator.close()
        run.source, run.index, run.label, run.annotator = source, 0, "", None
        run.window.reset()
        run.smoother.reset()

    def infer(self, ready: list[CameraRun]) -> None:
        """One predictor call for the ready windows, then each camera's smoothing, event and accounting."""
        if self.summary.calls == 0:  # once, when the first window is ready (a bad source fails first)
            log.info("%s", describe_feeding(self.predictor, ready[0].window))
        clips = (
            ready[0].pending.clip if len(ready) == 1 else np.concatenate([run.pending.clip for run in ready])
        )
        began = time.perf_counter()
        logits, calls = self.predictor.predict_many(clips)
        latency = (time.perf_counter() - began) / calls  # each window waited for the call that ran it
        self.summary.calls += calls
        for run, row in zip(ready, logits, strict=True):
            window, run.pending = run.pending, None
            probs = run.smoother.update(row)
            top = int(np.argmax(probs))
            action, score = class_name(self.names, top), float(probs[top])
            if score >= self.cfg.threshold:
                frames = (window.first.index, window.last.index)
                event = Event(
                    run.source.name, window.last.time, run.index, frames, action, score, latency * 1000
                )
                self.events.write(event)
                run.camera.stats.events += 1
            now = time.monotonic()
            run.camera.stats.window_done(now - window.last.arrived, now)
            self.summary.latency.add(latency)
            self.summary.recent_latency.add(latency, now)
            run.index += 1
            run.label = f"{action} {score:.2f}"
            self.annotate(run, window.last)

    def annotate(self, run: CameraRun, frame: Frame) -> None:
        """Append the frame, with the camera's current label, to its annotated video (with --annotate)."""
        if self.cfg.annotate is None or frame.image is None:
            return
        if run.annotator is None:
            run.annotator = Annotator(self.annotated[run.camera], run.source.fps)
        run.annotator.write(frame.image, run.label)


def _tag(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def annotated_paths(annotate: str, runs: list[CameraRun], several: bool) -> dict[Camera, Path]:
    """Where each camera's annotated video goes: OUT itself for one camera; with several, OUT_<video stem> for a
    file and OUT_<camera name> for a stream or folder, the camera's name wherever two stems would collide (two
    cameras never write one file)."""
    out = Path(annotate)
    if not several:
        return {run.camera: out for run in runs}

    def short(run: CameraRun) -> str:
        first = run.camera.sources[0]
        single_file = len(run.camera.sources) == 1 and isinstance(first, FileSource)
        return _tag(first.path.stem if single_file else run.camera.name)

    tags = [short(run) for run in runs]
    tags = [
        tag if tags.count(tag) == 1 else _tag(run.camera.name) for tag, run in zip(tags, runs, strict=True)
    ]
    return {
        run.camera: out.with_name(f"{out.stem}_{tag}{out.suffix}")
        for tag, run in zip(tags, runs, strict=True)
    }


def class_name(names: list[str], label: int) -> str:
    """The class name for `label`, or "class_<n>" when the model carries no names."""
    return names[label] if label < len(names) else f"class_{label}"
