"""End to end on real video files: decode, preprocess, enhance (designs that enhance) and inference, each timed.

The enhance stage runs the run's enhancer alone, on the same backend, on the clip's T frames: it is the share of
the teacher's or two-stream's inference spent enhancing, measured separately (their exports contain it).

Each measurement runs in a fresh process that imports this module: darkedge's modules that load torch are imported
inside the functions that need them, so that a child timing an ONNX or OpenVINO model holds no torch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from darkedge.bench.measure import in_subprocess, model_feeding
from darkedge.errors import DarkedgeError
from darkedge.names import BACKEND_SUFFIXES

ENHANCING = ("teacher", "two_stream")


def enhancer_file(run, backend: str, shape: tuple[int, ...]) -> Path:
    """The run's enhancer exported for `backend` at (T, 3, S, S) into RUN/bench/models (made once)."""
    if backend == "torch":
        return run.checkpoint("enhancer")
    if backend not in ("openvino", "onnxruntime"):
        raise DarkedgeError(
            f"--e2e --backend {backend}: end-to-end timing runs on torch, openvino or onnxruntime"
        )
    suffix = BACKEND_SUFFIXES[backend]
    path = run.path / "bench" / "models" / f"enhancer_t{shape[0]}_s{shape[-1]}{suffix}"
    if not path.is_file():
        from darkedge.enhance import load_enhancer

        enhancer = load_enhancer(run.checkpoint("enhancer")).eval()
        if backend == "openvino":
            from darkedge.export.openvino import export_openvino

            export_openvino(enhancer, shape, path, "fp32")
        else:
            from darkedge.export.onnx import export_onnx

            export_onnx(enhancer, shape, path, "fp32")
    return path


def _enhancer_runner(path: Path, backend: str, threads: int):
    """A function frames (T, 3, S, S) -> enhanced frames, on `backend`."""
    if backend != "torch":
        from darkedge.runtime import load_predictor

        return load_predictor(path, backend, threads).predict
    import torch

    from darkedge.enhance import load_enhancer

    torch.set_num_threads(threads)
    enhancer = load_enhancer(path).eval()

    def run(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return enhancer(torch.from_numpy(frames)).numpy()

    return run


def time_pipeline(
    model_path: Path,
    backend: str,
    threads: int,
    enhancer_path: Path | None,
    videos: list[Path],
) -> dict[str, float]:
    """Run in a child process: median ms per clip of each stage over `videos` (the first clip is warm-up)."""
    from darkedge.data.sampling import sample_indices
    from darkedge.data.transforms import to_tensor, transform_clip
    from darkedge.data.video import VideoError, count_frames, read_frames
    from darkedge.runtime import load_predictor

    predictor = load_predictor(model_path, backend, threads)
    feed = model_feeding(predictor)  # as the model was trained
    enhance = _enhancer_runner(enhancer_path, backend, threads) if enhancer_path else None
    stages: dict[str, list[float]] = {"decode": [], "preprocess": [], "enhance": [], "inference": []}
    for i, video in enumerate([videos[0], *videos]):
        t0 = time.perf_counter()
        try:
            indices = sample_indices(count_frames(video), feed.frames, feed.frame_step)[0]
            raw = read_frames(video, indices)
        except VideoError:
            continue  # a corrupt file: skipped, the stage medians come from the others
        t1 = time.perf_counter()
        clip = to_tensor(transform_clip(raw, False, feed.resize, feed.crop, 1, None)[0]).numpy()[None]
        t2 = time.perf_counter()
        if enhance is not None:
            enhance(np.ascontiguousarray(clip[0].transpose(1, 0, 2, 3)))
        t3 = time.perf_counter()
        predictor.predict(clip)
        t4 = time.perf_counter()
        if i == 0:
            continue
        for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stages[stage].append(seconds)
    medians = {stage: 1000 * float(np.median(v)) for stage, v in stages.items() if v}
    if enhance is None:
        medians.pop("enhance", None)
    medians["total"] = sum(ms for stage, ms in medians.items() if stage != "enhance")
    return medians


def run_e2e(run, candidates, options, threads: int, max_clips: int = 20) -> dict[str, Any]:
    """Stage times per model on the labelled list's videos (or the run's test split), each model in its own process."""
    from darkedge.data.lists import open_dataset

    source = options.labelled_list or run.config.data
    video_root = options.video_root if options.labelled_list else run.config.video_root
    split = "all" if options.labelled_list else "test"
    index = open_dataset(source, split=split, fold=run.config.fold, video_root=video_root)
    videos = [s.path for s in index.samples[:max_clips]]
    teacher = run.config.feeding("teacher")  # the designs that enhance are fed the teacher's clips
    shape = (teacher.frames, 3, teacher.crop, teacher.crop)
    results = {}
    for candidate in candidates:
        enhancer = enhancer_file(run, options.backend, shape) if candidate.model in ENHANCING else None
        results[candidate.name] = in_subprocess(
            time_pipeline, candidate.path, options.backend, threads, enhancer, videos
        )
    return {"source": str(source), "clips": len(videos), "models": results}
