"""Measure one model in a fresh process: load it, time it, read its memory high-water mark, score it.

A process per model is the honest way to report peak memory of native runtimes (their allocations are
invisible to tracemalloc) and keeps one runtime's thread pool from disturbing another's timings. For the same
reason darkedge's runtime and data modules are imported inside the functions the child runs, when they are needed.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from darkedge.bench.timing import LatencyStats, TimingProtocol, time_calls
from darkedge.cores import usable_cores
from darkedge.errors import DarkedgeError

T = TypeVar("T")


@dataclass
class MeasureJob:
    """What to measure: a model file on a backend with some threads, and how."""

    path: Path
    backend: str
    threads: int | None
    batch: int = 4
    protocol: TimingProtocol = field(default_factory=TimingProtocol)
    labelled_list: Path | None = None
    video_root: str | None = None  # where the labelled list's videos are looked for first
    max_eval_clips: int | None = None


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    """This process's resident-set high-water mark: VmHWM, which exec resets (ru_maxrss keeps the parent's)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _clip(shape: tuple[int | None, ...], batch: int) -> np.ndarray:
    """A reproducible random batch in [0, 1] of the model's shape (latency does not depend on values)."""
    full = (batch, *shape[1:])
    if any(d is None for d in full):
        raise ValueError(f"cannot time a model with dynamic clip dimensions {shape}")
    return np.random.default_rng(0).random(full, dtype=np.float32)


def top1(
    predictor, labelled_list: Path, max_clips: int | None, video_root: str | None = None
) -> dict[str, Any]:
    """Top-1 of `predictor` on a labelled list, clip by clip, centre clip and crop (unreadable clips skipped),
    sampled the way the model was trained (its metadata: frame step, resize)."""
    from darkedge.data.dataset import ClipDataset
    from darkedge.data.lists import open_dataset

    index = open_dataset(labelled_list, split="all", video_root=video_root)
    frames, size, stride, resize = clip_sampling(predictor)
    dataset = ClipDataset(index, frames, stride=stride, resize=resize, crop=size, skip_unreadable=True)
    count = len(dataset) if max_clips is None else min(max_clips, len(dataset))
    correct = skipped = 0
    for i in range(count):
        item = dataset[i]
        if item is None:
            skipped += 1
            continue
        clip, label = item
        logits = predictor.predict(clip.numpy()[None])
        correct += int(np.argmax(logits[0]) == label)
    scored = count - skipped
    return {"top1": 100.0 * correct / scored if scored else None, "clips": scored, "skipped": skipped}


def clip_sampling(predictor) -> tuple[int, int, int, int]:
    """(frames, crop, frame step, resize) a predictor's model is fed with, from its input shape and metadata."""
    from darkedge.runtime.metadata import frame_step, resize_ratio

    _, _, frames, size, _ = predictor.input_shape
    meta = predictor.metadata
    return frames, size, frame_step(meta), round(size * resize_ratio(meta))


def measure(job: MeasureJob) -> dict[str, Any]:
    """Run in the child process: every figure for one model, as plain data."""
    from darkedge.runtime import load_predictor

    rss_before = _rss_mb()
    t0 = time.perf_counter()
    predictor = load_predictor(job.path, job.backend, job.threads)
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_mb()
    shape = predictor.input_shape
    batch = shape[0] or 1  # a static export is timed at the batch it was exported with
    clip = _clip(shape, batch)
    latency = time_calls(lambda: predictor.predict(clip), job.protocol)
    result: dict[str, Any] = {
        "input_shape": [batch, *shape[1:]],
        "load_s": load_s,
        "latency": latency.to_dict(),
        "class_names": predictor.class_names,
    }
    # the batch-1 high-water mark: before the throughput run (which may compile a reshaped copy of the model)
    # and before scoring (which imports the data pipeline and torch into this process)
    peak = _peak_rss_mb()
    result["throughput"] = _throughput(job, predictor, latency)
    result["memory"] = {
        "rss_before_load_mb": rss_before,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": peak,
        "model_peak_mb": peak - rss_before,
    }
    if job.labelled_list is not None:
        result["accuracy"] = top1(predictor, job.labelled_list, job.max_eval_clips, job.video_root)
    return result


def _reshaped(job: MeasureJob):
    """The static OpenVINO IR reshaped to `job.batch`, or None for other backends or an IR that cannot be."""
    from darkedge.runtime import load_predictor

    if job.backend != "openvino":
        return None
    try:
        return load_predictor(job.path, job.backend, job.threads, batch=job.batch)
    except DarkedgeError:
        return None


def _throughput(job: MeasureJob, predictor, latency: LatencyStats) -> dict[str, Any]:
    """Clips per second at `job.batch`. A static OpenVINO IR is reshaped to that batch; other static exports
    give the rate at the batch they were exported with."""
    static_batch = predictor.input_shape[0]
    if static_batch == job.batch:
        return {"batch": job.batch, "clips_per_s": job.batch * 1000 / latency.p50_ms}
    if static_batch is not None:
        predictor = _reshaped(job)
        if predictor is None:  # the rate at the batch it was exported with
            note = f"static batch-{static_batch} export"
            return {"batch": static_batch, "clips_per_s": static_batch * 1000 / latency.p50_ms, "note": note}
    clips = _clip(predictor.input_shape, job.batch)
    short = TimingProtocol(
        warmup_runs=2, warmup_s=0.5, min_runs=10, min_time_s=2.0, max_time_s=30.0, tolerance=0.05
    )
    stats = time_calls(lambda: predictor.predict(clips), short)
    return {
        "batch": job.batch,
        "clips_per_s": job.batch / (stats.p50_ms / 1000),
        "p50_ms_per_batch": stats.p50_ms,
    }


def measure_interleaved(
    paths: dict[str, Path],
    backend: str,
    threads: int | None,
    protocol: TimingProtocol,
    batch: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Run in a child process: latency per call of several models loaded side by side, timed in turns; at the
    batch they were exported with, or at `batch` (static OpenVINO IRs reshaped to it, for throughput)."""
    from darkedge.bench.timing import time_interleaved
    from darkedge.runtime import load_predictor

    calls = {}
    for name, path in paths.items():
        predictor = load_predictor(path, backend, threads, batch=batch)
        clip = _clip(predictor.input_shape, batch or predictor.input_shape[0] or 1)
        calls[name] = lambda predictor=predictor, clip=clip: predictor.predict(clip)
    return {name: stats.to_dict() for name, stats in time_interleaved(calls, protocol).items()}


def in_subprocess(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a fresh spawned process, so its memory high-water mark and threads are its own."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def cpu_threads_default() -> int:
    """The number of cores this process may use."""
    return usable_cores()
