"""`darkedge infer`: cameras -> sliding windows -> one batched predictor -> smoothing -> events, until the end or a signal.

    summary = infer_cameras(InferConfig(["front=rtsp://10.0.0.7/s1", "back=rtsp://10.0.0.8/s1"], "student_int8.xml"))
    print(summary.format(), file=sys.stderr)

One process, one loaded model, any number of cameras; a single SOURCE is the case of one camera. Each camera
is read into its own bounded buffer (darkedge.infer.camera): MJPEG-over-HTTP cameras by one shared thread
(darkedge.infer.mjpeg_hub), every other SOURCE on a thread of its own; the loop (darkedge.infer.loop)
takes each camera's frames into that camera's sliding window, runs the windows ready across cameras in one
predictor call, then smooths each camera's scores and writes its events. A camera that is down or slow holds up
nobody. The model is fed as its file says (darkedge.feeding); a window starts every `hop` frames.

Ctrl-C and SIGTERM set a stop flag instead of raising, so the loop finishes the batch in hand, closes the
event file and the annotated videos, and returns the summary; the command then exits 128 + the signal (143 for
SIGTERM, as systemd expects of a stopped service).
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from darkedge.data.writer import FOURCC as VIDEO_FOURCC
from darkedge.errors import DarkedgeError
from darkedge.feeding import Feeding
from darkedge.infer.camera import Arrivals, Camera
from darkedge.infer.events import EventWriter
from darkedge.infer.loop import CameraState, InferLoop
from darkedge.infer.mjpeg_hub import MjpegHub
from darkedge.infer.pyav import require_pyav
from darkedge.infer.smoothing import Smoother
from darkedge.infer.sources import (
    Backoff,
    nvdec_pipeline,
    open_sources,
    quiet_video_logs,
    read_sources_file,
    rtsp_probe,
    split_name,
    url_scheme,
    without_credentials,
)
from darkedge.infer.summary import Summary
from darkedge.infer.window import SlidingWindow, WindowGrid, prepare_frame
from darkedge.runtime import Predictor, load_predictor
from darkedge.settings import at_least

log = logging.getLogger(__name__)

DECODERS = ("ffmpeg", "pyav", "nvdec")
MJPEG_READERS = ("shared", "thread")


@dataclass
class InferConfig:
    """Everything `darkedge infer` takes; None means "from the model or its run directory" or "the default"."""

    sources: str | list[str] = field(default_factory=list)  # SOURCEs: file, folder, URL, camera; NAME=SOURCE
    model: str = ""  # a checkpoint (.pt) or an export (.onnx, .xml, .engine)
    sources_file: str | None = None  # more SOURCEs, one a line
    backend: str | None = None  # None: from the model file's suffix
    threads: int | None = None
    frames: int | None = None  # the window's T, for a model whose input size is dynamic
    size: int | None = None  # the crop, likewise
    # frames between window starts; None: about half the window's span (Feeding.default_hop)
    hop: int | None = None
    frame_step: int | None = None  # frames between a window's frames; None: the model's (darkedge.feeding)
    smooth: int = 4
    threshold: float = 0.0
    events: str | None = None  # None or "-": stdout
    annotate: str | None = None
    max_windows: int | None = None
    max_batch: int = 8  # windows (one per camera) run in one predictor call
    buffer: int = 8  # frames a live camera may queue before the oldest is dropped
    # a stream's reconnect back-off: first and longest wait, s (infer.sources.Backoff's defaults)
    reconnect: tuple[float, float] = (Backoff.initial, Backoff.maximum)
    metrics_port: int | None = None  # serve /metrics and /healthz here (0: any free port)
    metrics_host: str = "127.0.0.1"
    # decode every frame at full size, as darkedge did before it decoded only the frames a window uses (for
    # comparison: the windows are the same within the scaled JPEG decoder's rounding)
    decode_all: bool = False
    # how rtsp:// cameras (and files) are decoded: "ffmpeg" (OpenCV's FFmpeg reader, on the CPU), "pyav" (FFmpeg
    # through PyAV, the frames windows use converted straight to the model's size: darkedge.infer.pyav) or "nvdec"
    # (rtsp:// only: a Jetson's hardware decoder and scaler, through GStreamer: darkedge.infer.sources.nvdec_pipeline)
    decoder: str = "ffmpeg"
    # how MJPEG-over-HTTP cameras are read: "shared" (one thread and a selector for all of them:
    # darkedge.infer.mjpeg_hub) or "thread" (a thread per camera, as every other kind of SOURCE is read)
    mjpeg_reader: str = "shared"
    # seconds FFmpeg probes a new RTSP stream (its analyzeduration) before the first frame; OpenCV opens one stream
    # at a time, so every camera's start and reconnect waits on it (darkedge.infer.sources.rtsp_probe); 0: FFmpeg's
    # default (about 2 s a camera here)
    rtsp_probe_s: float = 0.2

    def __post_init__(self) -> None:
        """Settings that cannot work are a one-line error when the config is built, before a model is loaded;
        what depends on the model (its window, the hop it gives) is checked in feeding_for."""
        if isinstance(self.sources, str):
            self.sources = [self.sources]
        at_least(self, 1, ("hop", "frame_step", "smooth", "buffer", "max_batch", "max_windows", "threads", "frames",
                           "size"))  # fmt: skip
        at_least(self, 0, ("rtsp_probe_s",))  # 0: FFmpeg's default
        if self.decoder not in DECODERS:
            raise DarkedgeError(f"decoder {self.decoder!r}: expected one of {', '.join(DECODERS)}")
        if self.mjpeg_reader not in MJPEG_READERS:
            raise DarkedgeError(
                f"mjpeg_reader {self.mjpeg_reader!r}: expected one of {', '.join(MJPEG_READERS)}"
            )
        first, longest = self.reconnect
        if not 0 < first <= longest:
            raise DarkedgeError(f"reconnect {first:g},{longest:g}: need 0 < first <= maximum")
        if self.annotate is not None and Path(self.annotate).suffix.lower() not in VIDEO_FOURCC:
            raise DarkedgeError(
                f"annotate {self.annotate}: cannot write video with extension {Path(self.annotate).suffix!r} "
                f"(use one of {', '.join(sorted(VIDEO_FOURCC))})"
            )


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


def describe_feeding(predictor: Predictor, feeding: Feeding) -> str:
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
    return (
        f"model {predictor.path.name}: windows of {feeding.frames} frames {feeding.frame_step} apart, "
        f"resized to {feeding.resize} px and cropped to {feeding.crop}; {classes}; from {origin}"
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
    specs: list[str],
    cfg: InferConfig,
    prepare: Callable[[np.ndarray], np.ndarray],
    arrivals: Arrivals,
    grid: WindowGrid | None = None,
    decode_height: int | None = None,
    hub: MjpegHub | None = None,
) -> list[Camera]:
    """One camera per SOURCE, not started. With one SOURCE, a stream that cannot be opened or a file that
    cannot be read is an error; with several, such a camera is retried (streams) or skipped (files)."""
    backoff = Backoff(*cfg.reconnect)
    single = len(specs) == 1
    cameras: list[Camera] = []
    for spec in specs:
        name, target = split_name(spec)
        if cfg.decoder == "nvdec" and url_scheme(target) in ("rtsp", "rtsps"):
            name = name or without_credentials(target)
            target = nvdec_pipeline(target, decode_height)
        pyav = (None if cfg.annotate else decode_height) if cfg.decoder == "pyav" else False
        sources = open_sources(target, backoff, required=single, name=name, pyav_height=pyav)
        camera_name = name or (sources[0].name if sources[0].live else target)
        if any(camera.name == camera_name for camera in cameras):
            raise DarkedgeError(f"{camera_name}: given twice (tell the cameras apart with NAME=SOURCE)")
        strict = single and not Path(target).is_dir()
        keep_images = cfg.annotate is not None
        wanted = grid.needed if grid is not None else None
        camera = Camera(
            camera_name,
            sources,
            cfg.buffer,
            prepare,
            keep_images,
            strict,
            arrivals,
            wanted,
            decode_height,
            hub,
        )
        cameras.append(camera)
    return cameras


def feeding_for(cfg: InferConfig, predictor: Predictor, model: Path) -> tuple[Feeding, int]:
    """How the model is fed (its input shape, its training run's frame step and resize) and the hop between
    windows, with the options that change them checked."""
    num_frames, size = window_shape(predictor, model, cfg.frames, cfg.size)
    # fed the way it was trained: the model file's metadata, else its run directory's, else the defaults
    feeding = Feeding.from_metadata(predictor.metadata, num_frames, size)
    if cfg.frame_step is not None:
        feeding = replace(feeding, frame_step=cfg.frame_step)
    hop = feeding.default_hop if cfg.hop is None else cfg.hop
    return feeding, hop


def infer_cameras(cfg: InferConfig, stop: threading.Event | None = None) -> Summary:
    """Run the model over every window of every camera, writing events; returns the summary."""
    specs = source_specs(cfg)
    if not cfg.model:
        raise DarkedgeError("--model: required (an export: .xml, .onnx, .engine, or a checkpoint .pt)")
    if cfg.decoder == "pyav":
        require_pyav()
    model = Path(cfg.model)
    batch = min(cfg.max_batch, len(specs))  # at most one window per camera in a call
    predictor = load_predictor(model, cfg.backend, cfg.threads, max_batch=batch if batch > 1 else None)
    feeding, hop = feeding_for(cfg, predictor, model)
    stop = stop or threading.Event()
    arrivals = Arrivals()
    summary = Summary()
    events: EventWriter | None = None
    metrics = None
    hub = None
    started = time.perf_counter()
    with quiet_video_logs(), rtsp_probe(specs, cfg.rtsp_probe_s):
        try:
            prepare = functools.partial(prepare_frame, feeding=feeding)
            grid, height = (None, None) if cfg.decode_all else (WindowGrid(feeding, hop), feeding.resize)
            hub = MjpegHub() if cfg.mjpeg_reader == "shared" and len(specs) > 1 else None
            summary.cameras = open_cameras(specs, cfg, prepare, arrivals, grid, height, hub)
            states = [
                CameraState(camera, SlidingWindow(feeding, hop), Smoother(cfg.smooth))
                for camera in summary.cameras
            ]
            if batch > 1 and predictor.max_batch == 1:
                log.info("%s: takes one clip per call; windows run one at a time", model)
            events = EventWriter(cfg.events)
            if cfg.metrics_port is not None:
                from darkedge.infer.metrics import MetricsServer

                metrics = MetricsServer(summary, cfg.metrics_host, cfg.metrics_port, predictor)
                log.info("metrics: %s/metrics  health: %s/healthz", metrics.url, metrics.url)
            for camera in summary.cameras:
                camera.start()
            names = predictor.class_names or []
            described = describe_feeding(predictor, feeding)
            loop = InferLoop(states, predictor, names, cfg, events, summary, stop, arrivals, described)
            with stop_on_signals(stop, summary):
                loop.serve()
        finally:
            for camera in summary.cameras:
                camera.halt()
            for camera in summary.cameras:
                camera.close()
            if hub is not None:
                hub.close()
            if events is not None:
                events.close()
            if metrics is not None:
                metrics.close()
            summary.seconds = time.perf_counter() - started
    return summary
