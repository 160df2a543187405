"""`data check`: decode every clip of a data set and report counts, unreadable / short / not-dark clips and
brightness statistics. "Dark" is Dark-48's rule: mean luma (YCrCb Y) under 13.8/255 on at least 87.7 % of 8
evenly spaced frames.

Clips are decoded by a pool of worker processes (decoding is CPU-bound and OpenCV releases the GIL only in
parts); results come back in list order and are summed in that order, so the report is the same for any number
of workers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from darkedge.cores import usable_cores
from darkedge.data.lists import DataIndex, Sample, open_dataset
from darkedge.data.video import VideoError, iter_frames, reported_frame_count, video_fps
from darkedge.fileio import ignore_sigint
from darkedge.logs import progress as progress_bar

DARK_LUMA = 13.8  # Dark-48: a frame is dark when its mean luma is below this (0..255)
DARK_FRACTION = 0.877  # ... and a clip is dark when at least this share of its sampled frames is
DARK_SAMPLES = 8
TRUNCATION_SLACK = 2  # a container may over-count its last frames by this many without the file being damaged
PERCENTILES = (1, 5, 50, 95, 99)
LEVELS = np.arange(256)
CHUNK = 4  # clips a worker takes at a time
NO_LABELS = "(no labels)"  # the one "class" of unlabelled footage in the report


@dataclass
class ClipStats:
    """What one pass over a clip's frames measures."""

    num_frames: int
    dark_fraction: float
    channel_sum: np.ndarray  # (3,) sum of pixel values, 0..1
    channel_sq_sum: np.ndarray  # (3,) sum of squared pixel values
    num_pixels: int
    luma_histogram: np.ndarray  # (256,) counts
    seconds: float = 0.0  # the clip's duration at its frame rate


@dataclass
class CheckReport:
    """Result of checking a data set; `ok` is False when any clip is unreadable."""

    path: Path
    fmt: str
    min_frames: int
    counts: dict[str, dict[str, int]]  # split -> class name -> clips
    video_roots: list[Path] = field(default_factory=list)  # where the listed videos were found
    frame_counts: list[int] = field(default_factory=list)  # of the readable clips
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (clip, reason)
    short: list[tuple[str, int]] = field(default_factory=list)  # (clip, frames)
    not_dark: list[tuple[str, float]] = field(default_factory=list)  # (clip, share of dark sampled frames)
    channel_mean: list[float] = field(default_factory=list)  # RGB, raw frames, 0..1
    channel_std: list[float] = field(default_factory=list)
    luma_percentiles: dict[int, float] = field(default_factory=dict)  # percentile -> luma, 0..1
    seconds: float = 0.0  # of video, readable clips

    @property
    def num_clips(self) -> int:
        return sum(sum(per_class.values()) for per_class in self.counts.values())

    @property
    def ok(self) -> bool:
        return not self.unreadable


def _histogram(image: np.ndarray, channel: int = 0) -> np.ndarray:
    """Counts of the 256 levels of one channel of a uint8 image (OpenCV's calcHist: several times faster than
    numpy's bincount or float sums on full-resolution frames)."""
    return cv2.calcHist([image], [channel], None, [256], [0, 256]).ravel().astype(np.int64)


def measure_clip(path: Path, listed_frames: int | None = None) -> ClipStats:
    """Decode every frame of a clip once; raise VideoError when it cannot be read, is truncated, or has
    fewer frames than its list says (`listed_frames`: sampling would ask for frames past its end).

    Sums and sums of squares come from per-channel level histograms, so they are exact."""
    channel_histograms = np.zeros((3, 256), np.int64)
    luma_histogram = np.zeros(256, np.int64)
    luma_means = []
    for frame in iter_frames(path):
        for channel in range(3):
            channel_histograms[channel] += _histogram(frame, channel)
        frame_luma = _histogram(cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb))
        luma_histogram += frame_luma
        luma_means.append(float(frame_luma @ LEVELS) / frame_luma.sum())
    reported, fps = reported_frame_count(path), video_fps(path)
    if reported is not None and len(luma_means) < reported - TRUNCATION_SLACK:
        raise VideoError(f"{path}: truncated or damaged, only {len(luma_means)} of {reported} frames decode")
    if listed_frames is not None and len(luma_means) < listed_frames:
        raise VideoError(f"{path}: the list says {listed_frames} frames, only {len(luma_means)} decode")
    sampled = np.asarray(luma_means)[np.linspace(0, len(luma_means) - 1, DARK_SAMPLES).round().astype(int)]
    dark_fraction = float((sampled < DARK_LUMA).mean())
    values = LEVELS / 255.0
    return ClipStats(
        len(luma_means),
        dark_fraction,
        channel_histograms @ values,
        channel_histograms @ values**2,
        int(channel_histograms[0].sum()),
        luma_histogram,
        len(luma_means) / fps,
    )


def _measure_or_error(job: tuple[Path, int | None]) -> ClipStats | str:
    """measure_clip for a worker process: the stats, or the reason the clip is unreadable."""
    clip, listed_frames = job
    try:
        return measure_clip(clip, listed_frames)
    except VideoError as error:
        return str(error).removeprefix(f"{clip}: ")


def _measure_all(jobs: list[tuple[Path, int | None]], workers: int) -> Iterator[ClipStats | str]:
    """measure_clip over every job, in order, on `workers` processes (1: in this process).

    The workers come from a fork server, not forked from this process: a fork of a process whose other threads
    hold locks (FFmpeg's, OpenMP's) can deadlock in the child."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(_measure_or_error, jobs)
        return
    context = get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(min(workers, len(jobs)), context, initializer=ignore_sigint) as pool:
        try:
            yield from pool.map(_measure_or_error, jobs, chunksize=CHUNK)
        finally:
            pool.shutdown(cancel_futures=True)


def _splits(
    path: Path, split: str, fold: int, video_root: str | Path | None, unlabeled: bool = False
) -> dict[str, DataIndex]:
    """The splits to check: a list file is one split; a folder's "all" is its train and test splits; unlabelled
    footage (a folder of videos, a list, a video) is one split of one "class"."""
    if unlabeled:
        # imported here: it loads torch, which checking a labelled data set does without
        from darkedge.data.unlabeled import find_videos

        samples = [Sample(video, 0) for video in find_videos(path)]
        return {"unlabeled": DataIndex(samples, [NO_LABELS], path, "unlabelled footage")}
    if path.is_file():
        return {path.stem: open_dataset(path, split, fold, video_root)}
    if split != "all":
        return {split: open_dataset(path, split, fold, video_root)}
    train, test = open_dataset(path, "train", fold, video_root), open_dataset(path, "test", fold, video_root)
    if train.samples == test.samples:  # a folder per class without train/ and test/: no split to report
        return {"all": train}
    return {"train": train, "test": test}


def check_dataset(
    path: str | Path,
    split: str = "all",
    fold: int = 1,
    min_frames: int = 64,
    progress: bool = True,
    workers: int | None = None,
    video_root: str | Path | None = None,
    unlabeled: bool = False,
) -> CheckReport:
    """Decode every clip of the data set at `path` (folder or list file) and gather a CheckReport.

    `workers` processes decode (default: every usable core); `video_root` is where the listed videos are
    looked for first. `unlabeled`: `path` is unlabelled footage (darkedge.data.unlabeled.find_videos), reported
    the same way, with its duration. With more than one worker, processes come from a fork server, which imports
    the main module again: a script calling this needs the usual `if __name__ == "__main__":` guard.
    """
    path = Path(path)
    splits = _splits(path, split, fold, video_root, unlabeled)
    counts = {
        name: {c: 0 for c in index.class_names} | Counter(index.class_names[s.label] for s in index.samples)
        for name, index in splits.items()
    }
    roots = list(dict.fromkeys(root for index in splits.values() for root in index.video_roots))
    report = CheckReport(path, next(iter(splits.values())).fmt, min_frames, counts, roots)
    jobs = list({s.path: s.num_frames for index in splits.values() for s in index.samples}.items())
    results = _measure_all(jobs, usable_cores() if workers is None else workers)
    totals = [np.zeros(3), np.zeros(3), np.zeros(256, np.int64)]
    num_pixels = 0
    bar = progress_bar(results, total=len(jobs), desc="checking clips", unit="clip", disable=not progress)
    for (clip, _), stats in zip(jobs, bar, strict=True):
        if isinstance(stats, str):
            report.unreadable.append((str(clip), stats))
            continue
        report.frame_counts.append(stats.num_frames)
        if stats.num_frames < min_frames:
            report.short.append((str(clip), stats.num_frames))
        if stats.dark_fraction < DARK_FRACTION:
            report.not_dark.append((str(clip), stats.dark_fraction))
        totals[0] += stats.channel_sum
        totals[1] += stats.channel_sq_sum
        totals[2] += stats.luma_histogram
        num_pixels += stats.num_pixels
        report.seconds += stats.seconds
    if num_pixels:
        mean = totals[0] / num_pixels
        report.channel_mean = mean.tolist()
        report.channel_std = np.sqrt(np.maximum(totals[1] / num_pixels - mean**2, 0)).tolist()
        cumulative = np.cumsum(totals[2]) / totals[2].sum()
        report.luma_percentiles = {p: int(np.searchsorted(cumulative, p / 100)) / 255 for p in PERCENTILES}
    return report


def _duration(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{s:02d}"


def _shorten(items: list[str], limit: int = 10) -> list[str]:
    return items[:limit] + ([f"... and {len(items) - limit} more"] if len(items) > limit else [])


def format_report(report: CheckReport) -> str:
    """The report as text for the terminal."""
    splits = list(report.counts)
    classes = list(dict.fromkeys(name for per_class in report.counts.values() for name in per_class))
    width = max(len(name) for name in [*classes, "class", "total"]) + 2
    what = f"{len(classes)} classes" if classes != [NO_LABELS] else "no labels"
    lines = [f"{report.path}: {report.fmt}, {what}, {report.num_clips} clips"]
    lines += [f"videos in {root}" for root in report.video_roots] + [""]
    lines.append("class".ljust(width) + "".join(f"{s:>8}" for s in splits))
    for name in [*classes, "total"]:
        row = [
            sum(report.counts[s].values()) if name == "total" else report.counts[s].get(name, 0)
            for s in splits
        ]
        lines.append(name.ljust(width) + "".join(f"{n:>8}" for n in row))
    lines.append("")
    if report.frame_counts:
        frames = np.asarray(report.frame_counts)
        lines.append(
            f"frames per clip: min {frames.min()}, median {int(np.median(frames))}, max {frames.max()}; "
            f"{_duration(report.seconds)} of video"
        )
    lines.append(f"shorter than {report.min_frames} frames (they wrap around): {len(report.short)}")
    lines += _shorten([f"  {clip} ({n} frames)" for clip, n in report.short])
    lines.append(f"not dark by Dark-48's rule: {len(report.not_dark)}")
    lines += _shorten([f"  {clip} ({share:.0%} of sampled frames dark)" for clip, share in report.not_dark])
    if report.channel_mean:
        lines.append("raw-frame mean (RGB): " + " ".join(f"{v:.3f}" for v in report.channel_mean))
        lines.append("raw-frame std  (RGB): " + " ".join(f"{v:.3f}" for v in report.channel_std))
        percentiles = ", ".join(f"p{p} {v:.3f}" for p, v in report.luma_percentiles.items())
        lines.append(f"luma percentiles: {percentiles}")
    lines.append(f"unreadable: {len(report.unreadable)}")
    lines += [f"  {clip}: {reason}" for clip, reason in report.unreadable]
    return "\n".join(lines)
