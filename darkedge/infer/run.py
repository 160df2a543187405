"""`darkedge infer`: frames -> sliding window -> predictor -> smoothing -> events, until the source ends or a signal.

    summary = run_infer(InferConfig(source="rtsp://cam/stream", model="runs/latest/export/student_int8.xml"))
    print(summary.format(), file=sys.stderr)

Ctrl-C and SIGTERM set a stop flag instead of raising, so the loop finishes the window in hand, closes the
event file and the annotated video, and returns the summary (exit code 0 for a requested stop).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkedge.data.video import VideoError
from darkedge.errors import DarkedgeError
from darkedge.infer.annotate import Annotator
from darkedge.infer.events import Event, EventWriter
from darkedge.infer.smoothing import Smoother
from darkedge.infer.sources import Backoff, FileSource, LiveSource, open_sources
from darkedge.infer.window import SlidingWindow
from darkedge.runtime import Predictor, load_predictor, metadata

log = logging.getLogger(__name__)


@dataclass
class InferConfig:
    """Everything `darkedge infer` takes; None means "from the model or its run directory" or "the default"."""

    source: str
    model: str
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
    buffer: int = 8  # frames a live source may queue before the oldest is dropped
    reconnect_initial: float = 0.5
    reconnect_max: float = 8.0


@dataclass
class Summary:
    """What a run did; `format` is the report printed to stderr at the end."""

    windows: int = 0
    events: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    dropped: int = 0
    reconnects: int = 0
    skipped: list[str] = field(default_factory=list)
    sources: int = 0
    seconds: float = 0.0
    stopped_by: str | None = None  # the signal's name when one ended the run

    def latency_percentiles(self) -> dict[str, float]:
        """p50 / p90 / p99 of the per-window latency in ms (empty when no window ran)."""
        if not self.latencies_ms:
            return {}
        values = np.percentile(self.latencies_ms, [50, 90, 99])
        return {f"p{q}": float(v) for q, v in zip((50, 90, 99), values, strict=True)}

    def format(self) -> str:
        """A few lines for a person: counts, throughput, latency percentiles, drops, reconnects, skipped files."""
        rate = self.windows / self.seconds if self.seconds > 0 else 0.0
        ending = f" (stopped by {self.stopped_by})" if self.stopped_by else ""
        lines = [
            f"infer: {self.sources} source(s), {self.windows} windows, {self.events} events "
            f"in {self.seconds:.1f} s ({rate:.2f} windows/s){ending}"
        ]
        latency = self.latency_percentiles()
        if latency:
            lines.append("latency ms: " + "  ".join(f"{k} {v:.1f}" for k, v in latency.items()))
        lines.append(f"dropped frames: {self.dropped}, reconnects: {self.reconnects}")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable file(s): {', '.join(self.skipped)}")
        return "\n".join(lines)


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


def run_infer(cfg: InferConfig, stop: threading.Event | None = None) -> Summary:
    """Run the model over every window of cfg.source, writing events; returns the summary."""
    model = Path(cfg.model)
    predictor = load_predictor(model, cfg.backend, cfg.threads)
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
    window = SlidingWindow(num_frames, size, stride, frame_step, resize_ratio)
    sources = open_sources(cfg.source, cfg.buffer, Backoff(cfg.reconnect_initial, cfg.reconnect_max))
    skip_unreadable = Path(cfg.source).is_dir()
    stop = stop or threading.Event()
    summary = Summary(sources=len(sources))
    events: EventWriter | None = None
    started = time.perf_counter()
    try:
        events = EventWriter(cfg.events)
        with stop_on_signals(stop, summary):
            for source in sources:
                if stop.is_set():
                    break
                annotate = annotated_path(cfg.annotate, source, several=len(sources) > 1)
                try:
                    window.reset()
                    run_source(source, predictor, window, cfg, events, annotate, summary, stop)
                except VideoError as e:
                    if not skip_unreadable:
                        raise
                    summary.skipped.append(source.name)
                    log.warning("skipped: %s", e)
    finally:
        for source in sources:
            source.close()
        if events is not None:
            events.close()
        summary.seconds = time.perf_counter() - started
    return summary


def annotated_path(annotate: str | None, source: FileSource | LiveSource, several: bool) -> Path | None:
    """Where this source's annotated video goes: OUT itself, or OUT_<video stem> when SOURCE is a folder."""
    if annotate is None:
        return None
    out = Path(annotate)
    return out.with_name(f"{out.stem}_{source.path.stem}{out.suffix}") if several else out


def run_source(
    source: FileSource | LiveSource,
    predictor: Predictor,
    window: SlidingWindow,
    cfg: InferConfig,
    events: EventWriter,
    annotate: Path | None,
    summary: Summary,
    stop: threading.Event,
) -> None:
    """The loop for one source; sets `stop` when --max-windows is reached."""
    smoother = Smoother(cfg.smooth)
    names = predictor.class_names or []
    annotator: Annotator | None = None
    label = ""
    index = 0
    try:
        for frame in source.frames(stop):
            if frame.after_gap:
                smoother.reset()
            clip = window.push(frame)
            if clip is not None:
                if summary.windows == 0:  # once, when the first window is ready (a bad source fails first)
                    log.info("%s", describe_feeding(predictor, window))
                began = time.perf_counter()
                logits = predictor.predict(clip.clip)[0]
                latency_ms = (time.perf_counter() - began) * 1000
                probs = smoother.update(logits)
                top = int(np.argmax(probs))
                action = class_name(names, top)
                score = float(probs[top])
                summary.windows += 1
                summary.latencies_ms.append(latency_ms)
                if score >= cfg.threshold:
                    frames = (clip.first.index, clip.last.index)
                    events.write(Event(source.name, clip.last.time, index, frames, action, score, latency_ms))
                    summary.events += 1
                label = f"{action} {score:.2f}"
                index += 1
            if annotate is not None:
                annotator = annotator or Annotator(annotate, source.fps)
                annotator.write(frame.image, label)
            if cfg.max_windows is not None and summary.windows >= cfg.max_windows:
                stop.set()
    except BaseException:
        if annotator is not None:
            annotator.discard()
        raise
    finally:
        source.close()
        summary.dropped += source.dropped
        summary.reconnects += source.reconnects
    if annotator is not None:
        annotator.close()


def class_name(names: list[str], label: int) -> str:
    """The class name for `label`, or "class_<n>" when the model carries no names."""
    return names[label] if label < len(names) else f"class_{label}"
