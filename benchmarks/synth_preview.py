"""Contact sheet of the synthetic data set: one row per class, a few frames dark (left) and brightened (right).

Usage: python benchmarks/synth_preview.py [--seed 0] [--clip 0] [--frames 4] [--out benchmarks/results/synth_preview.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from darkedge.data.synth import SynthConfig, clip_jobs, render_clip
from darkedge.data.synth.actions import CLASSES


def brighten(frames: np.ndarray) -> np.ndarray:
    """Stretch a dark clip for viewing: gain so the 99th percentile reaches white, then gamma 1/1.5."""
    x = frames.astype(np.float32) / 255.0
    x = np.clip(x / max(np.percentile(x, 99), 1e-3), 0, 1) ** (1 / 1.5)
    return (x * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clip", type=int, default=0, help="which clip of each class")
    parser.add_argument("--frames", type=int, default=4, help="frames shown per clip")
    parser.add_argument("--darkness", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/synth_preview.png"))
    args = parser.parse_args()

    cfg = SynthConfig(seed=args.seed, darkness=args.darkness)
    jobs = [j for j in clip_jobs(cfg) if j.clip == args.clip]
    rows = []
    for job in jobs:
        _, dark = render_clip(cfg, job)
        pick = np.linspace(0, cfg.frames - 1, args.frames).round().astype(int)
        row = np.concatenate([*dark[pick], *brighten(dark)[pick]], axis=1)
        label = f"{CLASSES[job.label]} (mean {dark.mean() / 255:.3f})"
        cv2.putText(row, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
        rows.append(row)
    sheet = np.concatenate(rows, axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet[..., ::-1])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
