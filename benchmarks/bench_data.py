"""Data pipeline benchmark: synthetic data-set generation time, clip decoding, DataLoader throughput and
`darkedge data check` with 1 ... N worker processes.

    python benchmarks/bench_data.py            # writes benchmarks/results/data.md
    python benchmarks/bench_data.py --synth data/synth --check-only --workers 1,2 --out /tmp/check.md
    python benchmarks/bench_data.py --cache data/arid6   # the clip cache on real H.264 clips: cache.md

--cache DATA: seconds per training epoch (ClipDataset through the training DataLoader, 1 worker as on a CPU, the
training split of DATA) without the clip cache and with it, its first epoch (which builds it) and the ones after,
at the feeding of each preset that trains on such clips; the cache in a fresh temporary folder.

Decoding: read_frames of one centred clip per video, one process. Loading: a training epoch of ClipDataset
(random offset, multi-scale crop to 112, flip) through a DataLoader with 2 workers, batch 8, the workers'
start-up included. Check: `check_dataset` (every frame decoded, brightness statistics, Dark-48's darkness rule)
with each worker count, its pool start-up included. All on the default synthetic data set (128 x 96, 32 frames a
clip: T = 64 wraps around; generated here unless --synth names one) and on ARID-sized videos (320 x 240, 150
frames, mp4v) written here.
"""

from __future__ import annotations

import argparse
import json
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
from darkedge.cores import usable_cores
from darkedge.data.check import check_dataset
from darkedge.data.dataset import ClipDataset, collate_clips
from darkedge.data.lists import DataIndex, Sample, open_dataset
from darkedge.data.sampling import sample_indices
from darkedge.data.synth import SynthConfig, synthesize
from darkedge.data.video import count_frames, read_frames
from darkedge.feeding import Feeding
from darkedge.fileio import write_text

CLIP_LENGTHS = (16, 64)
ARID_SIZE, ARID_FRAMES, ARID_CLIPS = (320, 240), 150, 96


def write_arid_sized(folder: Path) -> DataIndex:
    """ARID-sized dark videos with moving texture in folder/texture/ (a folder-per-class set), as an index."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, (ARID_SIZE[1], ARID_SIZE[0] * 2, 3), dtype=np.uint8)
    samples = []
    (folder / "texture").mkdir(parents=True)
    for i in range(ARID_CLIPS):
        path = folder / "texture" / f"clip_{i:02d}.mp4"
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
    dataset = ClipDataset(index, Feeding(length, 1, 128, 112), train=True)
    loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=2, collate_fn=collate_clips)
    start = time.perf_counter()
    count = sum(len(labels) for _, labels, _ in loader)
    return count / (time.perf_counter() - start)


def check_rate(root: Path, workers: int) -> tuple[float, int]:
    """(clips/s, clips) of `check_dataset` over every clip of the data set at `root` with `workers` processes."""
    start = time.perf_counter()
    report = check_dataset(root, "all", progress=False, workers=workers)
    return report.num_clips / (time.perf_counter() - start), report.num_clips


def default_workers() -> list[int]:
    """1, 2, 4 ... up to every usable core, and every usable core itself."""
    counts, n = [], 1
    while n < usable_cores():
        counts.append(n)
        n *= 2
    return [*counts, usable_cores()]


def check_table(sets: list[tuple[str, Path]], workers: list[int]) -> list[str]:
    """The `data check` rows: clips/s per worker count, and the speed-up over one worker."""
    lines = [
        "| videos | clips | workers | check (clips/s) | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, root in sets:
        single = None
        for n in workers:
            rate, clips = check_rate(root, n)
            single = single or rate
            lines.append(f"| {name} | {clips} | {n} | {rate:.1f} | {rate / single:.2f}x |")
            print(lines[-1], file=sys.stderr)
    return lines


def epoch_seconds(index: DataIndex, feeding: Feeding, cache, epoch: int) -> float:
    """One training epoch's wall time: every clip of `index` through the training DataLoader (1 worker)."""
    from darkedge.data.loader import make_loader

    dataset = ClipDataset(index, feeding, train=True, skip_unreadable=True, cache=cache)
    dataset.set_epoch(epoch)
    loader = make_loader(
        dataset, batch_size=8, workers=1, device="cpu", shuffle=True, generator=torch.Generator()
    )
    started = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - started


def cache_report(data: Path, out: Path) -> None:
    """--cache: epochs with and without the clip cache on a real data set's training clips."""
    from darkedge.config import PRESETS
    from darkedge.data.cache import ClipCache, pays

    index = open_dataset(data, "train")
    rows = []
    for preset in ("small", "real"):
        feeding = PRESETS[preset].feeding("teacher")
        plain = [epoch_seconds(index, feeding, None, e) for e in range(2)]
        with tempfile.TemporaryDirectory() as tmp:
            cache = ClipCache(Path(tmp) / "clips")
            cached = [epoch_seconds(index, feeding, cache, e) for e in range(3)]
            size = cache.size()
        later = sum(cached[1:]) / 2
        rows.append((preset, feeding, plain, cached, sum(plain) / 2 / later, size))
        print(rows[-1], file=sys.stderr)
    machine = machine_info()
    lines = [
        "# The clip cache: decode once",
        "",
        f"Data: {data} ({len(index.samples)} training clips; inter-coded: {pays(index.samples[0].path)}). One "
        "training epoch: every clip through `ClipDataset` (random offset and crop, flip) and the training "
        "DataLoader, 1 worker (a CPU run's default), batch 8; no model.",
        "",
        "| preset feeding | no cache: epoch 1, 2 (s) | cache: epoch 1 (builds), 2, 3 (s) | later epochs, cached vs not | cache on disk |",
        "|---|---|---|---:|---:|",
        *(
            f"| {p}: {f.frames} x {f.crop} px, step {f.frame_step}, {f.resize} px high | "
            f"{plain[0]:.1f}, {plain[1]:.1f} | {cached[0]:.1f}, {cached[1]:.1f}, {cached[2]:.1f} | "
            f"**{speed:.1f}x** faster | {size / 2**20:.0f} MiB |"
            for p, f, plain, cached, speed, size in rows
        ),
        "",
        f"Produced by `python benchmarks/bench_data.py --cache {data}` on {time.strftime('%Y-%m-%d')}, load "
        f"average {os.getloadavg()[0]:.1f} at the end. Machine: {machine['cpu']}, {machine['usable_cores']} usable "
        f"cores; Python {machine['python']}; "
        + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items()),
    ]
    write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data.md")
    parser.add_argument("--synth", type=Path, default=None, help="An existing synthetic set (not generated).")
    parser.add_argument("--workers", default=None, help="Worker counts for data check, e.g. 1,2,4.")
    parser.add_argument("--check-only", action="store_true", help="Only the data check table.")
    parser.add_argument(
        "--cache", type=Path, default=None, help="A real data set: the clip cache's report only."
    )
    args = parser.parse_args()
    if args.cache:
        if not args.cache.exists():
            print(f"{args.cache}: no such data set (benchmarks/arid_subset.py builds the real one); skipped")
            return
        torch.set_num_threads(1)
        cache_report(args.cache, args.out.with_name("cache.md"))
        return
    workers = [int(n) for n in args.workers.split(",")] if args.workers else default_workers()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    cfg = SynthConfig()
    generation_s = None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        synth_root = args.synth
        if synth_root is None:
            start = time.perf_counter()
            synth_root = synthesize(cfg, Path(tmp) / "synth", progress=False)
            generation_s = time.perf_counter() - start
        else:
            cfg = SynthConfig(**json.loads((synth_root / "synth_config.json").read_text()))
        synth = open_dataset(synth_root, "all")
        arid = write_arid_sized(Path(tmp) / "arid")
        synth_name = f"synthetic ({cfg.width}x{cfg.height}, {cfg.frames} frames)"
        arid_name = f"ARID-sized ({ARID_SIZE[0]}x{ARID_SIZE[1]}, {ARID_FRAMES} frames)"
        if not args.check_only:
            for name, index, size in ((synth_name, synth, len(synth.samples)), (arid_name, arid, ARID_CLIPS)):
                for length in CLIP_LENGTHS:
                    rows.append((name, size, length, decode_rate(index, length), load_rate(index, length)))
                    print(*rows[-1], file=sys.stderr)
        checks = check_table([(synth_name, synth_root), (arid_name, Path(tmp) / "arid")], workers)
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
    ]
    if generation_s is not None:
        lines += [
            f"Default synthetic data set (`SynthConfig()`: {cfg.clips_per_class} clips per class x 11 classes, "
            f"{cfg.frames} frames, {cfg.width}x{cfg.height}): generated in **{generation_s:.1f} s** "
            "(`synthesize`, 2 workers).",
            "",
        ]
    if rows:
        lines += [
            "Decode: `read_frames` of one centred clip per video, one process. Load: one training epoch of "
            "`ClipDataset` (random offset, multi-scale crop to 112 x 112, flip, float32 tensor) through a "
            "`DataLoader` with 2 workers, batch 8, worker start-up included.",
            "",
            "| videos | clips | T | decode (clips/s) | load, 2 workers (clips/s) |",
            "|---|---:|---:|---:|---:|",
            *(f"| {name} | {n} | {t} | {dec:.1f} | {load:.1f} |" for name, n, t, dec, load in rows),
            "",
        ]
    lines += [
        "`darkedge data check`: every frame of every clip decoded, brightness statistics and Dark-48's darkness "
        "rule, on a pool of worker processes (`--workers`, default every usable core), pool start-up included; "
        "the report is the same for every worker count.",
        "",
        *checks,
        "",
        f"Produced by `python benchmarks/bench_data.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
        f"on {time.strftime('%Y-%m-%d')}.",
    ]
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
