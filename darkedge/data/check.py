"""`data check`: decode every clip of a data set and report counts, unreadable / short / not-dark clips and
brightness statistics. "Dark" is Dark-48's rule: mean luma (YCrCb Y) under 13.8/255 on at least 87.7 % of 8
evenly spaced frames."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from darkedge.data.lists import DataIndex, open_dataset
from darkedge.data.video import VideoError, iter_frames, reported_frame_count

DARK_LUMA = 13.8  # Dark-48: a frame is dark when its mean luma is below this (0..255)
DARK_FRACTION = 0.877  # ... and a clip is dark when at least this share of its sampled frames is
DARK_SAMPLES = 8
TRUNCATION_SLACK = 2  # a container may over-count its last frames by this many without the file being damaged
PERCENTILES = (1, 5, 50, 95, 99)


@dataclass
class ClipStats:
    """What one pass over a clip's frames measures."""

    num_frames: int
    dark_fraction: float
    channel_sum: np.ndarray  # (3,) sum of pixel values, 0..1
    channel_sq_sum: np.ndarray  # (3,) sum of squared pixel values
    num_pixels: int
    luma_histogram: np.ndarray  # (256,) counts


@dataclass
class CheckReport:
    """Result of checking a data set; `ok` is False when any clip is unreadable."""

    path: Path
    fmt: str
    min_frames: int
    counts: dict[str, dict[str, int]]  # split -> class name -> clips
    frame_counts: list[int] = field(default_factory=list)  # of the readable clips
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (clip, reason)
    short: list[tuple[str, int]] = field(default_factory=list)  # (clip, frames)
    not_dark: list[tuple[str, float]] = field(default_factory=list)  # (clip, share of dark sampled frames)
    channel_mean: list[float] = field(default_factory=list)  # RGB, raw frames, 0..1
    channel_std: list[float] = field(default_factory=list)
    luma_percentiles: dict[int, float] = field(default_factory=dict)  # percentile -> luma, 0..1

    @property
    def num_clips(self) -> int:
        return sum(sum(per_class.values()) for per_class in self.counts.values())

    @property
    def ok(self) -> bool:
        return not self.unreadable


def measure_clip(path: Path, listed_frames: int | None = None) -> ClipStats:
    """Decode every frame of a clip once; raise VideoError when it cannot be read, is truncated, or has
    fewer frames than its list says (`listed_frames`: sampling would ask for frames past its end)."""
    channel_sum, channel_sq_sum = np.zeros(3), np.zeros(3)
    histogram = np.zeros(256, np.int64)
    luma_means, num_pixels = [], 0
    for frame in iter_frames(path):
        pixels = frame.reshape(-1, 3).astype(np.float64) / 255.0
        channel_sum += pixels.sum(0)
        channel_sq_sum += (pixels**2).sum(0)
        num_pixels += len(pixels)
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)[..., 0]
        histogram += np.bincount(luma.ravel(), minlength=256)
        luma_means.append(float(luma.mean()))
    reported = reported_frame_count(path)
    if reported is not None and len(luma_means) < reported - TRUNCATION_SLACK:
        raise VideoError(f"{path}: truncated or damaged, only {len(luma_means)} of {reported} frames decode")
    if listed_frames is not None and len(luma_means) < listed_frames:
        raise VideoError(f"{path}: the list says {listed_frames} frames, only {len(luma_means)} decode")
    sampled = np.asarray(luma_means)[np.linspace(0, len(luma_means) - 1, DARK_SAMPLES).round().astype(int)]
    dark_fraction = float((sampled < DARK_LUMA).mean())
    return ClipStats(len(luma_means), dark_fraction, channel_sum, channel_sq_sum, num_pixels, histogram)


def _splits(path: Path, split: str, fold: int) -> dict[str, DataIndex]:
    """The splits to check: a list file is one split; a folder's "all" is its train and test splits."""
    if path.is_file():
        return {path.stem: open_dataset(path, split, fold)}
    if split != "all":
        return {split: open_dataset(path, split, fold)}
    train, test = open_dataset(path, "train", fold), open_dataset(path, "test", fold)
    if train.samples == test.samples:  # a folder per class without train/ and test/: no split to report
        return {"all": train}
    return {"train": train, "test": test}


def check_dataset(
    path: str | Path, split: str = "all", fold: int = 1, min_frames: int = 64, progress: bool = True
) -> CheckReport:
    """Decode every clip of the data set at `path` (folder or list file) and gather a CheckReport."""
    path = Path(path)
    splits = _splits(path, split, fold)
    counts = {
        name: {c: 0 for c in index.class_names} | Counter(index.class_names[s.label] for s in index.samples)
        for name, index in splits.items()
    }
    report = CheckReport(path, next(iter(splits.values())).fmt, min_frames, counts)
    clips = {s.path: s.num_frames for index in splits.values() for s in index.samples}
    totals = [np.zeros(3), np.zeros(3), np.zeros(256, np.int64)]
    num_pixels = 0
    for clip, listed_frames in tqdm(clips.items(), desc="checking clips", unit="clip", disable=not progress):
        try:
            stats = measure_clip(clip, listed_frames)
        except VideoError as error:
            report.unreadable.append((str(clip), str(error).removeprefix(f"{clip}: ")))
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
    if num_pixels:
        mean = totals[0] / num_pixels
        report.channel_mean = mean.tolist()
        report.channel_std = np.sqrt(np.maximum(totals[1] / num_pixels - mean**2, 0)).tolist()
        cumulative = np.cumsum(totals[2]) / totals[2].sum()
        report.luma_percentiles = {p: int(np.searchsorted(cumulative, p / 100)) / 255 for p in PERCENTILES}
    return report


def _shorten(items: list[str], limit: int = 10) -> list[str]:
    return items[:limit] + ([f"... and {len(items) - limit} more"] if len(items) > limit else [])


def format_report(report: CheckReport) -> str:
    """The report as text for the terminal."""
    splits = list(report.counts)
    classes = list(dict.fromkeys(name for per_class in report.counts.values() for name in per_class))
    width = max(len(name) for name in [*classes, "class", "total"]) + 2
    lines = [f"{report.path}: {report.fmt}, {len(classes)} classes, {report.num_clips} clips", ""]
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
            f"frames per clip: min {frames.min()}, median {int(np.median(frames))}, max {frames.max()}"
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
