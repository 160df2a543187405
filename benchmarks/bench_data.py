"""Data pipeline benchmark: synthetic data-set generation time, clip decoding and DataLoader throughput.

    python benchmarks/bench_data.py            # writes benchmarks/results/data.md

Decoding: read_frames of one centred clip per video, one process. Loading: a training epoch of ClipDataset
(random offset, multi-scale crop to 112, flip) through a DataLoader with 2 workers, batch 8, the workers'
start-up included. Both on the default synthetic data set (128 x 96, 32 frames a clip: T = 64 wraps around)
and on ARID-sized videos (320 x 240, 150 frames, mp4v) written here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from darkedge.bench.machine import machine_info
from darkedge.data.dataset import ClipDataset, collate_clips
from darkedge.data.lists import DataIndex, Sample, open_dataset
from darkedge.data.sampling import sample_indices
from darkedge.data.synth import SynthConfig, synthesize
from darkedge.data.video import count_frames, read_frames
from darkedge.fileio import write_text

CLIP_LENGTHS = (16, 64)
ARID_SIZE, ARID_FRAMES, ARID_CLIPS = (320, 240), 150, 24


def write_arid_sized(folder: Path) -> DataIndex:
    """ARID-sized dark videos with moving texture, as an index of one class."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, (ARID_SIZE[1], ARID_SIZE[0] * 2, 3), dtype=np.uint8)
    samples = []
    for i in range(ARID_CLIPS):
        path = folder / f"clip_{i:02d}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, ARID_SIZE)
        for t in range(ARID_FRAMES):
            writer.write(np.ascontiguousarray(texture[:, t : t + ARID_SIZE[0]]))
        writer.release()
        samples.append(Sample(path, 0))
    return DataIndex(samples, ["texture"], folder, "folders")


def decode_rate(index: DataIndex, length: int) -> float:
    """Clips per second decoding one centred clip of `length` frames per video, one process."""
    start = time.perf_counter()
    for sample in index.samples:
        read_frames(sample.path, sample_indices(count_frames(sample.path), length)[0])
    return len(index.samples) / (time.perf_counter() - start)


def load_rate(index: DataIndex, length: int) -> float:
    """Clips per second through a DataLoader (2 workers) of training clips at 112 px."""
    dataset = ClipDataset(index, num_frames=length, train=True, resize=128, crop=112)
    loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=2, collate_fn=collate_clips)
    start = time.perf_counter()
    count = sum(len(labels) for _, labels, _ in loader)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig()
        start = time.perf_counter()
        synth_root = synthesize(cfg, Path(tmp) / "synth", progress=False)
        generation_s = time.perf_counter() - start
        synth = open_dataset(synth_root, "all")
        (Path(tmp) / "arid").mkdir()
        arid = write_arid_sized(Path(tmp) / "arid")
        rows = []
        for name, index, size in (
            (f"synthetic ({cfg.width}x{cfg.height}, {cfg.frames} frames)", synth, len(synth.samples)),
            (f"ARID-sized ({ARID_SIZE[0]}x{ARID_SIZE[1]}, {ARID_FRAMES} frames)", arid, ARID_CLIPS),
        ):
            for length in CLIP_LENGTHS:
                rows.append((name, size, length, decode_rate(index, length), load_rate(index, length)))
                print(*rows[-1], file=sys.stderr)
    machine = machine_info()
    lines = [
        "# Data pipeline benchmark",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores. Load average (1 min) {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after the run"
        + (": other work shared the cores, so these are lower bounds." if load_before > 1 else "."),
        f"Python {machine['python']}; "
        + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
        + ".",
        "",
        f"Default synthetic data set (`SynthConfig()`: {cfg.clips_per_class} clips per class x 11 classes, "
        f"{cfg.frames} frames, {cfg.width}x{cfg.height}): generated in **{generation_s:.1f} s** "
        "(`synthesize`, 2 workers).",
        "",
        "Decode: `read_frames` of one centred clip per video, one process. Load: one training epoch of "
        "`ClipDataset` (random offset, multi-scale crop to 112 x 112, flip, float32 tensor) through a "
        "`DataLoader` with 2 workers, batch 8, worker start-up included.",
        "",
        "| videos | clips | T | decode (clips/s) | load, 2 workers (clips/s) |",
        "|---|---:|---:|---:|---:|",
        *(f"| {name} | {n} | {t} | {dec:.1f} | {load:.1f} |" for name, n, t, dec, load in rows),
        "",
        f"Produced by `python benchmarks/bench_data.py` on {time.strftime('%Y-%m-%d')}.",
    ]
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
