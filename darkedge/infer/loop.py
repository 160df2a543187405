"""The inference loop over every camera: frames into each camera's window, the ready windows batched into one
predictor call, then each camera's smoothing, events, accounting and annotated video.

Each camera has a `CameraState` (its window, smoothing, current stream, the window ready to run). The loop
takes frames from the cameras whose buffers hold some, gathers the windows that are ready across cameras (at most
one per camera, up to --max-batch, the camera served first turning each round so all get their share) and runs
them in one call. Live cameras are never waited for; when every source is a file the loop moves in lock-step
instead (it waits for each file's next window), so the batches, and with them the results, are the same on every
run.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkedge.infer.annotate import Annotator
from darkedge.infer.camera import Arrivals, Camera
from darkedge.infer.events import Event, EventWriter
from darkedge.infer.smoothing import Smoother
from darkedge.infer.sources import FileSource, Frame, Source
from darkedge.infer.summary import Summary
from darkedge.infer.window import SlidingWindow, Window
from darkedge.runtime import Predictor

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.1  # how long the loop sleeps when no camera has a frame (a new frame wakes it at once)


@dataclass(eq=False)  # one per camera, told apart by identity
class CameraState:
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


class InferLoop:
    """The inference loop over every camera (see the module docstring)."""

    def __init__(
        self,
        states: list[CameraState],
        predictor: Predictor,
        names: list[str],
        cfg,  # darkedge.infer.command.InferConfig: max_batch, max_windows, threshold, annotate
        events: EventWriter,
        summary: Summary,
        stop: threading.Event,
        arrivals: Arrivals,
        describe: str = "",
    ):
        self.states, self.predictor, self.names, self.cfg = states, predictor, names, cfg
        self.describe = describe  # how the model is fed, said once the first window is ready
        self.events, self.summary, self.stop, self.arrivals = events, summary, stop, arrivals
        self.state_of = {state.camera: state for state in states}
        self.strict = [
            state for state in states if state.camera.strict
        ]  # the only cameras that can carry an error
        self.lockstep = not any(state.camera.live for state in states)
        self.several = summary.sources > 1
        self.annotated = annotated_paths(cfg.annotate, states, self.several) if cfg.annotate else {}

    def serve(self) -> None:
        """Until every camera has ended (files) or `stop` is set (a signal, --max-windows)."""
        turn, todo = 0, list(self.states)  # todo: the cameras whose buffers may hold frames
        clock = time.thread_time()
        try:
            while not self.stop.is_set():
                now = time.thread_time()
                self.summary.loop_cpu += now - clock
                clock = now
                self.summary.heartbeat = time.monotonic()
                for state in self.strict:
                    if state.camera.error is not None:
                        raise state.camera.error
                for state in self.states if self.lockstep else todo:
                    self.fill(state)
                first = turn % len(self.states)  # the camera served first this turn, so all get their share
                ready = [
                    state for state in self.states[first:] + self.states[:first] if state.pending is not None
                ]
                if not ready:
                    if all(state.camera.finished and state.camera.error is None for state in self.states):
                        break
                    todo = [self.state_of[camera] for camera in self.arrivals.collect(IDLE_WAIT_S)]
                    continue
                batch = ready[: self.batch_limit()]
                self.infer(batch)
                turn += 1
                arrived = [self.state_of[camera] for camera in self.arrivals.collect()]
                todo = list(dict.fromkeys(batch + arrived))  # a camera just served may hold more frames
                if self.cfg.max_windows is not None and self.summary.windows >= self.cfg.max_windows:
                    self.stop.set()
        except BaseException:
            for state in self.states:
                if state.annotator is not None:
                    state.annotator.discard()
            raise
        for state in self.states:
            if state.annotator is not None:
                state.annotator.close()

    def batch_limit(self) -> int:
        """Windows the next call may take: --max-batch, and no more than --max-windows leaves."""
        limit = self.cfg.max_batch
        if self.cfg.max_windows is not None:
            limit = min(limit, self.cfg.max_windows - self.summary.windows)
        return max(1, limit)

    def fill(self, state: CameraState) -> bool:
        """Take the camera's frames into its window until a window is ready (True) or no frame is left.

        In lock-step (files only) this waits for the file's next frame; a live camera is never waited for.
        """
        while state.pending is None:
            frame = state.camera.take(IDLE_WAIT_S if self.lockstep else 0.0)
            if frame is None:
                if self.lockstep and not (state.camera.finished or self.stop.is_set()):
                    continue
                return False
            state.camera.stats.frame_taken(time.monotonic())
            if frame.source is not state.source:
                self.begin_stream(state, frame.source)
            if frame.after_gap:
                state.smoother.reset()
            state.pending = state.window.push(frame)
            state.camera.stats.windows_skipped = state.window.skipped
            if state.pending is None:
                self.annotate(state, frame)  # the frame that completes a window is drawn with its result
        return True

    def begin_stream(self, state: CameraState, source: Source) -> None:
        """A camera's frames now come from `source` (the next video of a folder): start its windows afresh."""
        if state.annotator is not None:
            state.annotator.close()
        state.source, state.index, state.label, state.annotator = source, 0, "", None
        state.window.reset()
        state.smoother.reset()

    def infer(self, ready: list[CameraState]) -> None:
        """One predictor call for the ready windows, then each camera's smoothing, event and accounting."""
        if self.summary.calls == 0:  # once, when the first window is ready (a bad source fails first)
            log.info("%s", self.describe)
        clips = (
            ready[0].pending.clip
            if len(ready) == 1
            else np.concatenate([state.pending.clip for state in ready])
        )
        began, cpu = time.perf_counter(), time.thread_time()
        logits, calls = self.predictor.predict_many(clips)
        elapsed = time.perf_counter() - began
        self.summary.model_seconds += elapsed
        self.summary.loop_cpu -= time.thread_time() - cpu  # the model's, not the loop's
        latency = elapsed / calls  # each window waited for the call that ran it
        self.summary.calls += calls
        for state, row in zip(ready, logits, strict=True):
            window, state.pending = state.pending, None
            probs = state.smoother.update(row)
            top = int(np.argmax(probs))
            action, score = class_name(self.names, top), float(probs[top])
            if score >= self.cfg.threshold:
                frames = (window.first.index, window.last.index)
                event = Event(
                    state.source.name, window.last.time, state.index, frames, action, score, latency * 1000
                )
                self.events.write(event)
                state.camera.stats.events += 1
            now = time.monotonic()
            state.camera.stats.window_done(now - window.last.arrived, now)
            self.summary.latency.add(latency)
            self.summary.recent_latency.add(latency, now)
            state.index += 1
            state.label = f"{action} {score:.2f}"
            self.annotate(state, window.last)

    def annotate(self, state: CameraState, frame: Frame) -> None:
        """Append the frame, with the camera's current label, to its annotated video (with --annotate)."""
        if self.cfg.annotate is None or frame.image is None:
            return
        if state.annotator is None:
            state.annotator = Annotator(self.annotated[state.camera], state.source.fps)
        state.annotator.write(frame.image, state.label)


def _tag(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def annotated_paths(annotate: str, states: list[CameraState], several: bool) -> dict[Camera, Path]:
    """Where each camera's annotated video goes: OUT itself for one camera; with several, OUT_<video stem> for a
    file and OUT_<camera name> for a stream or folder, the camera's name wherever two stems would collide (two
    cameras never write one file)."""
    out = Path(annotate)
    if not several:
        return {state.camera: out for state in states}

    def short(state: CameraState) -> str:
        first = state.camera.sources[0]
        single_file = len(state.camera.sources) == 1 and isinstance(first, FileSource)
        return _tag(first.path.stem if single_file else state.camera.name)

    tags = [short(state) for state in states]
    tags = [
        tag if tags.count(tag) == 1 else _tag(state.camera.name)
        for tag, state in zip(tags, states, strict=True)
    ]
    return {
        state.camera: out.with_name(f"{out.stem}_{tag}{out.suffix}")
        for tag, state in zip(tags, states, strict=True)
    }


def class_name(names: list[str], label: int) -> str:
    """The class name for `label`, or "class_<n>" when the model carries no names."""
    return names[label] if label < len(names) else f"class_{label}"
