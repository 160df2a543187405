"""Frames per second of `darkedge enhance apply`'s enhancer on each runtime: PyTorch (before issue 12, the only
path), OpenVINO and ONNX Runtime, for Zero-DCE and Zero-DCE++ at 320 x 240 and 640 x 480.

    python benchmarks/bench_enhance.py          # writes benchmarks/results/enhance.{md,json}
    python benchmarks/bench_enhance.py --min-time 1 --sizes 320x240 --out /tmp/enhance.md   # a smoke run

Each row is `FrameEnhancer` (uint8 frame in, enhanced uint8 frame out, conversion included) called frame by
frame on dark random-texture frames, as `enhance apply` calls it between decoding and encoding: one warm-up call
(which converts and compiles the model for that frame size: "compile s"), then calls for at least --min-time
seconds. Random weights (speed does not depend on them), every usable core (each runtime's default threads).
Zero-DCE++ runs at scale factor 1 (a public checkpoint's default) and 2 (`darkedge train`'s default).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from darkedge.bench.machine import machine_info
from darkedge.cores import usable_cores
from darkedge.enhance import EnhancerConfig, build_enhancer
from darkedge.enhance.frames import FrameEnhancer
from darkedge.fileio import write_json, write_text
from darkedge.names import ENHANCE_BACKENDS

MODELS = {
    "Zero-DCE": EnhancerConfig(name="zero_dce"),
    "Zero-DCE++": EnhancerConfig(name="zero_dce_pp", scale_factor=1),
    "Zero-DCE++ (scale 2)": EnhancerConfig(name="zero_dce_pp", scale_factor=2),
}
SIZES = ("320x240", "640x480")
BASELINE = "torch"  # the path `enhance apply` had before


def frames_per_second(enhancer: FrameEnhancer, frames: np.ndarray, min_time: float) -> tuple[float, float]:
    """(compile seconds, frames/s): the first call converts and compiles, the rest run for `min_time` s."""
    start = time.perf_counter()
    enhancer(frames[0])
    compile_s = time.perf_counter() - start
    done, start = 0, time.perf_counter()
    while done < 3 or time.perf_counter() - start < min_time:
        enhancer(frames[done % len(frames)])
        done += 1
    return compile_s, done / (time.perf_counter() - start)


def run(sizes: list[str], backends: list[str], min_time: float) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for name, cfg in MODELS.items():
        model = build_enhancer(cfg).eval()
        for size in sizes:
            width, height = (int(v) for v in size.split("x"))
            frames = rng.integers(0, 40, (8, height, width, 3), dtype=np.uint8)
            for backend in backends:
                compile_s, fps = frames_per_second(FrameEnhancer(model, backend), frames, min_time)
                rows.append(
                    {"model": name, "size": size, "backend": backend, "compile_s": compile_s, "fps": fps}
                )
                print(rows[-1], file=sys.stderr)
    baseline = {(r["model"], r["size"]): r["fps"] for r in rows if r["backend"] == BASELINE}
    for row in rows:
        reference = baseline.get((row["model"], row["size"]))
        row["vs_torch"] = row["fps"] / reference if reference else None
    return rows


def markdown(rows: list[dict], machine: dict, load_before: float, command: str) -> str:
    lines = [
        "# `darkedge enhance apply`: enhancer frames per second by runtime",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')}. `FrameEnhancer` frame by frame (uint8 in and "
        "out, conversion included), random weights, every usable core; compile s is the first call, which "
        "converts the model in memory and compiles it for the frame size.",
        "",
        "| model | size | backend | compile s | frames/s | vs torch |",
        "|---|---|---|---:|---:|---:|",
        *(
            f"| {r['model']} | {r['size']} | {r['backend']} | {r['compile_s']:.1f} | {r['fps']:.1f} | "
            + (f"{r['vs_torch']:.2f}x |" if r["vs_torch"] else "- |")
            for r in rows
        ),
        "",
        f"Machine: {machine['cpu']} ({machine['architecture']}), {machine['usable_cores']} usable cores, "
        f"load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after"
        + (" (other work shared the cores: lower bounds)" if load_before > 1 else "")
        + f", {machine['os']}, Python {machine['python']}.",
        "",
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "enhance.md")
    parser.add_argument("--sizes", default=",".join(SIZES), help="WIDTHxHEIGHT,... (e.g. 850x478 too)")
    parser.add_argument("--backends", default=",".join(ENHANCE_BACKENDS))
    parser.add_argument("--min-time", type=float, default=5.0, help="Seconds timed per row.")
    args = parser.parse_args()
    torch.set_num_threads(usable_cores())
    load_before = os.getloadavg()[0]
    rows = run(args.sizes.split(","), args.backends.split(","), args.min_time)
    machine = machine_info()
    command = " ".join(["python benchmarks/bench_enhance.py", *sys.argv[1:]])
    write_json(args.out.with_suffix(".json"), {"command": command, "machine": machine, "rows": rows})
    text = markdown(rows, machine, load_before, command)
    write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
