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
from darkedge.feeding import Feeding
from darkedge.names import MIB
from darkedge.runtime.torch_settings import TorchSettings

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
    torch: TorchSettings | None = None  # the torch backend's device, precision and compilation

    def load(self, batch: int | None = None):
        """The predictor this job measures."""
        from darkedge.runtime import load_predictor

        return load_predictor(self.path, self.backend, self.threads, batch, self.torch)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / MIB


def _peak_rss_mb() -> float:
    """This process's resident-set high-water mark: VmHWM, which exec resets (ru_maxrss keeps the parent's)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def on_gpu(predictor) -> bool:
    """Whether the predictor computes on a CUDA device (torch on cuda, or TensorRT)."""
    return predictor.backend == "tensorrt" or str(getattr(predictor, "device", "cpu")).startswith("cuda")


def synchronised_clock(device: str) -> Callable[[], float]:
    """A clock that reads perf_counter after `device` finished its queued work: a call timed between two readings
    is its latency from launch to result, as a caller waiting for the logits sees it."""
    import torch

    def clock() -> float:
        torch.cuda.synchronize(device)
        return time.perf_counter()

    return clock


def timed_call(predictor, batch: int) -> tuple[Callable[[], object], Callable[[], float]]:
    """A call of `predictor` on a reproducible clip batch, and the clock to time it with.

    A torch model on a GPU gets its clips already on the device (host-to-device copies are the data pipeline's
    cost, not the model's) and is timed with a synchronised clock; everything else takes the numpy batch.
    """
    clip = _clip(predictor.input_shape, batch)
    if predictor.backend == "torch" and on_gpu(predictor):
        x = predictor.torch.from_numpy(clip).to(predictor.device)
        return (lambda: predictor.predict_tensor(x)), synchronised_clock(predictor.device)
    return (lambda: predictor.predict(clip)), time.perf_counter


def _gpu_peak_mb(predictor) -> float | None:
    """Peak GPU memory torch allocated in this process so far (MB), for a torch model on CUDA."""
    if predictor.backend != "torch" or not on_gpu(predictor):
        return None
    return predictor.torch.cuda.max_memory_allocated(predictor.device) / MIB


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
    dataset = ClipDataset(index, model_feeding(predictor), skip_unreadable=True)
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


def model_feeding(predictor) -> Feeding:
    """How a predictor's model is fed (darkedge.feeding), from its input shape and metadata."""
    _, _, frames, size, _ = predictor.input_shape
    return Feeding.from_metadata(predictor.metadata, frames, size)


def measure(job: MeasureJob) -> dict[str, Any]:
    """Run in the child process: every figure for one model, as plain data."""
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    predictor = job.load()
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_mb()
    shape = predictor.input_shape
    batch = shape[0] or 1  # a static export is timed at the batch it was exported with
    call, clock = timed_call(predictor, batch)
    latency = time_calls(call, job.protocol, clock)
    result: dict[str, Any] = {
        "input_shape": [batch, *shape[1:]],
        "load_s": load_s,
        "latency": latency.to_dict(),
        "class_names": predictor.class_names,
    }
    # the batch-1 high-water mark: before the throughput run (which may compile a reshaped copy of the model)
    # and before scoring (which imports the data pipeline and torch into this process)
    peak, gpu_peak = _peak_rss_mb(), _gpu_peak_mb(predictor)
    result["throughput"] = _throughput(job, predictor, latency)
    result["memory"] = {
        "rss_before_load_mb": rss_before,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": peak,
        "model_peak_mb": peak - rss_before,
    }
    if gpu_peak is not None:
        result["memory"]["gpu_peak_mb"] = gpu_peak
    if job.labelled_list is not None:
        result["accuracy"] = top1(predictor, job.labelled_list, job.max_eval_clips, job.video_root)
    return result


def _reshaped(job: MeasureJob):
    """The static OpenVINO IR reshaped to `job.batch`, or None for other backends or an IR that cannot be."""
    if job.backend != "openvino":
        return None
    try:
        return job.load(batch=job.batch)
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
    short = TimingProtocol(
        warmup_runs=2, warmup_s=0.5, min_runs=10, min_time_s=2.0, max_time_s=30.0, tolerance=0.05
    )
    call, clock = timed_call(predictor, job.batch)
    stats = time_calls(call, short, clock)
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
    torch_settings: dict[str, TorchSettings] | None = None,
    batch: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Run in a child process: latency per call of several models loaded side by side, timed in turns
    (`torch_settings` by name, for the torch backend); at the batch they were exported with, or at `batch`
    (static OpenVINO IRs reshaped to it, for throughput)."""
    from darkedge.bench.timing import time_interleaved
    from darkedge.runtime import load_predictor

    calls, clock = {}, time.perf_counter
    for name, path in paths.items():
        settings = (torch_settings or {}).get(name)
        predictor = load_predictor(path, backend, threads, batch=batch, torch_settings=settings)
        calls[name], clock = timed_call(predictor, batch or predictor.input_shape[0] or 1)
    stats = time_interleaved(calls, protocol, clock=clock)
    return {name: s.to_dict() for name, s in stats.items()}


def in_subprocess(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a fresh spawned process, so its memory high-water mark and threads are its own."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def cpu_threads_default() -> int:
    """The number of cores this process may use."""
    return usable_cores()
