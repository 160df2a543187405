"""Which zero-reference recipe trains the enhancer a teacher learns best behind: the evidence for the one set of
enhancer defaults `darkedge train` and `darkedge enhance train` share (config.EnhancerTrainConfig).

Until the two shared one config, `darkedge train`'s enhancer stage trained Zero-DCE++ (curves at half resolution,
400 steps, 32-px crops, lr 1e-3) while `darkedge enhance train` trained Zero-DCE (300 steps, 96-px crops, 64 clips,
lr 1e-4, the paper's rate). Per seed and recipe this trains the enhancer (`darkedge train --stage enhancer --set
enhancer.*=...`, the run's own validation split held out as always) and then the teacher behind it (`--stage
teacher`), everything else the small preset's defaults at all labels. It reports the teacher's validation and test
top-1, the enhancer's seconds, its zero-reference loss and the brightness it gives the frames, and the per-seed
paired differences. The recipe is chosen on validation; the test column is reported, never used to choose.

    python benchmarks/bench_enhancer.py                       # seeds 0 1 2 -> benchmarks/results/enhancer.{md,json}
    python benchmarks/bench_enhancer.py --seeds 0 --recipes today
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from darkedge.bench.machine import machine_info, report_footer
from darkedge.fileio import write_json, write_text

RESULTS = Path(__file__).parent / "results"
# Each recipe as the `--set` items that make it from TrainConfig's defaults (the first is today's default).
RECIPES = {
    "today": (
        "Zero-DCE++ at half resolution, 400 steps, 32-px crops, 32 clips, lr 1e-3 (`darkedge train`'s)",
        (),
    ),
    "enhance_before": (
        "Zero-DCE, 300 steps, 96-px crops, 64 clips, lr 1e-4 (`darkedge enhance train`'s before)",
        (
            "enhancer.name=zero_dce",
            "enhancer.scale_factor=1",
            "enhancer.steps=300",
            "enhancer.crop=96",
            "enhancer.clips=64",
            "enhancer.lr=1e-4",
        ),
    ),  # fmt: skip
}
BASELINE = "today"


def darkedge(args: list[str], threads: int) -> None:
    env = dict(os.environ, TQDM_DISABLE="1", OMP_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "darkedge", *args]
    print("$", shlex.join(command[2:]), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, env=env)


def measure(recipe: str, seed: int, data: str | None, out: Path, threads: int) -> dict:
    """The enhancer then the teacher of one recipe and seed, in their own run directory (kept: a rerun reuses it)."""
    folder = out / f"{recipe}_seed{seed}"
    metrics_path = folder / "latest" / "metrics.json"
    if not (metrics_path.is_file() and "teacher" in json.loads(metrics_path.read_text())):
        sets = [item for pair in RECIPES[recipe][1] for item in ("--set", pair)]
        data_args = ["--data", data] if data else []
        started = time.perf_counter()
        darkedge(["train", "--stage", "enhancer", "--out", str(folder), "--seed", str(seed), *data_args, *sets],
                 threads)  # fmt: skip
        darkedge(["train", "--stage", "teacher", "--run", str(folder / "latest")], threads)
        write_json(folder / "seconds.json", {"seconds": time.perf_counter() - started})
    metrics = json.loads(metrics_path.read_text())
    teacher, enhancer = metrics["teacher"], metrics["enhancer"]
    return {
        "seed": seed,
        "teacher_val": teacher["val"]["top1"],
        "teacher_test": teacher["top1"],
        "enhancer_seconds": enhancer["seconds"],
        "loss_last": enhancer["loss_last"],
        "brightness": [enhancer["brightness_raw"], enhancer["brightness_enhanced"]],
        "run": str(folder / "latest"),
    }


def _stat(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else ""
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def report(results: dict[str, list[dict]], machine: dict, seconds: float) -> str:
    seeds = sorted({r["seed"] for rows in results.values() for r in rows})
    lines = [
        "# The enhancer's recipe, measured by the teacher behind it",
        "",
        "Built-in data (`darkedge data synth`), small preset, all labels; each run holds out its validation split (a "
        "scene at a time, 10 % of the training clips) and scores the test split once at the end. Per seed and recipe: "
        "the enhancer trained zero-reference on the training clips' frames, then the teacher (the classifier on the "
        "enhanced frames, 24 epochs). The same seed gives both recipes the same splits, data order and classifier "
        "initialisation: only the enhancer differs. Top-1 (%).",
        "",
        "| Recipe | "
        + " | ".join(f"seed {s} val / test" for s in seeds)
        + " | val mean ± std | test mean ± std | "
        "enhancer s | loss at the end | brightness raw → enhanced |",
        "|---|" + "---:|" * (len(seeds) + 5),
    ]
    for key, rows in results.items():
        by_seed = {r["seed"]: r for r in rows}
        cells = [f"{by_seed[s]['teacher_val']:.1f} / {by_seed[s]['teacher_test']:.1f}" if s in by_seed else ""
                 for s in seeds]  # fmt: skip
        raw, enhanced = zip(*(r["brightness"] for r in rows), strict=True)
        lines.append(
            f"| {RECIPES[key][0]} | " + " | ".join(cells)
            + f" | {_stat([r['teacher_val'] for r in rows])} | {_stat([r['teacher_test'] for r in rows])}"
            + f" | {statistics.mean(r['enhancer_seconds'] for r in rows):.1f}"
            + f" | {statistics.mean(r['loss_last'] for r in rows):.3f}"
            + f" | {statistics.mean(raw):.3f} → {statistics.mean(enhanced):.3f} |"
        )  # fmt: skip
    base = {r["seed"]: r for r in results.get(BASELINE, [])}
    for key, rows in results.items():
        if key == BASELINE:
            continue
        pairs = [(r, base[r["seed"]]) for r in rows if r["seed"] in base]
        for split in ("val", "test"):
            diffs = [a[f"teacher_{split}"] - b[f"teacher_{split}"] for a, b in pairs]
            if diffs:
                lines += ["", f"{key} − {BASELINE}, teacher {split} top-1 per seed: "
                          + ", ".join(f"{d:+.2f}" for d in diffs) + f" (mean {_stat(diffs)})"]  # fmt: skip
    note = f", each run on one torch thread, {seconds / 60:.0f} min in all"
    return "\n".join(lines + report_footer("python benchmarks/bench_enhancer.py", machine, note)) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--data", default=None, help="data set (default: the built-in data/synth)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_enhancer"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    results: dict[str, list[dict]] = {}
    for seed in args.seeds:
        for recipe in args.recipes:
            results.setdefault(recipe, []).append(measure(recipe, seed, args.data, args.out, args.threads))
        machine = machine_info()
        write_json(args.results / "enhancer.json", {"schema": 1, "machine": machine, "results": results})
        write_text(args.results / "enhancer.md", report(results, machine, time.perf_counter() - started))
    print((args.results / "enhancer.md").read_text())


if __name__ == "__main__":
    main()
