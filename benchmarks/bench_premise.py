"""The method's premise on the built-in data: the teacher (enhanced input) and the distilled student both beat the
raw baseline, the student at the raw baseline's inference cost. Runs `darkedge train` (the default small preset)
once per seed and writes benchmarks/results/premise.md (and .json) after every seed. A second raw baseline gets the
teacher's and the student's epochs together (the student starts from the teacher, so it has seen twice the raw
stage's updates): the matched-total-compute comparison.

    python benchmarks/bench_premise.py                 # seeds 0 1 2, data/synth (generated if absent)
    python benchmarks/bench_premise.py --seeds 0 --data /path/to/ARID
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from darkedge.bench.machine import machine_info
from darkedge.fileio import write_json, write_text

STAGES = ("teacher", "student", "raw", "raw_matched", "two_stream")
RESULTS = Path(__file__).parent / "results"


def train(args: list[str], out: Path) -> tuple[str, float, dict]:
    """Run `darkedge train ARGS --out OUT`; returns the command, its wall time and the run's metrics.json."""
    command = ["darkedge", "train", *args, "--out", str(out)]
    print("$", shlex.join(command), file=sys.stderr, flush=True)
    started = time.time()
    subprocess.run(command, check=True)
    seconds = time.time() - started
    return shlex.join(command), seconds, json.loads(((out / "latest") / "metrics.json").read_text())


def run_seed(seed: int, data: str | None, out: Path) -> dict:
    """The whole pipeline for one seed, then the matched-compute raw baseline; metrics, commands, wall time."""
    data_args = ["--data", data] if data else []
    command, seconds, metrics = train(["--seed", str(seed), *data_args], out)
    epochs = 2 * json.loads(((out / "latest") / "config.json").read_text())["train"]["epochs"]
    raw_command, _, raw_metrics = train(
        ["--seed", str(seed), "--stage", "raw", "--epochs", str(epochs), *data_args], out / "raw_matched"
    )
    return {
        "seed": seed,
        "command": command,
        "raw_matched_command": raw_command,
        "run": str((out / "latest").resolve()),
        "seconds": round(seconds, 1),
        **metrics,
        "raw_matched": {**raw_metrics["raw"], "epochs": epochs},
    }


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


def report(results: list[dict], machine: dict) -> str:
    """The Markdown report: top-1 per seed and mean ± std, the verdict, the protocol, the commands, the machine."""
    first = results[0]
    lines = [
        "# Premise: teacher and distilled student vs the raw baseline (built-in data)",
        "",
        f"Data: `{first['data']}`. Protocol: {first['teacher']['protocol']['text']}, test split "
        f"({first['teacher']['n_clips']} clips). Preset: small (the default). Top-1 accuracy (%).",
        "",
        "| Seed | Teacher (enhanced input) | Student (distilled, raw input) | Raw baseline | "
        f"Raw, {first['raw_matched']['epochs']} epochs | Two-stream | Wall time of `darkedge train` |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        cells = " | ".join(f"{r[s]['top1']:.2f}" for s in STAGES)
        lines.append(f"| {r['seed']} | {cells} | {r['seconds'] / 60:.1f} min |")
    means = " | ".join(_mean_std([r[s]["top1"] for r in results]) for s in STAGES)
    lines.append(f"| mean ± std | {means} | |")
    lines.append("")
    lines.append("| Model | MACs / clip | Parameters | At inference |")
    lines.append("|---|---:|---:|---|")
    for s in (s for s in STAGES if s != "raw_matched"):
        m = first[s]
        lines.append(f"| {s} | {m['macs'] / 1e6:.1f} M | {m['params'] / 1e3:.1f} k | {m['inference']} |")
    teacher_wins = sum(r["teacher"]["top1"] > r["raw"]["top1"] for r in results)
    student_wins = sum(r["student"]["top1"] > r["raw"]["top1"] for r in results)
    matched_wins = sum(r["student"]["top1"] > r["raw_matched"]["top1"] for r in results)
    lines += [
        "",
        f"- Teacher beats raw in {teacher_wins} of {len(results)} seeds.",
        f"- Distilled student beats raw in {student_wins} of {len(results)} seeds "
        "(same architecture, MACs and parameters, same data order and per-stage epochs; the student starts "
        "from the teacher's classifier weights, the raw baseline from scratch: `student_init` in config.json).",
        f"- Distilled student beats the raw baseline trained for the teacher's and student's epochs together "
        f"({first['raw_matched']['epochs']}) in {matched_wins} of {len(results)} seeds.",
        "",
        "Commands (per seed: the pipeline, then the matched-compute raw baseline):",
        "",
        *[f"    {r['command']}\n    {r['raw_matched_command']}" for r in results],
        "",
        f"Produced by `python benchmarks/bench_premise.py` on {time.strftime('%Y-%m-%d')}.",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores, load average at the end "
        f"{machine['load_average_1min']}; {machine['os']}; Python {machine['python']}; "
        + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", default=None, help="data set (default: the built-in data/synth)")
    parser.add_argument("--out", type=Path, default=Path("runs/premise"))
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        results.append(run_seed(seed, args.data, args.out))
        machine = machine_info()
        write_json(RESULTS / "premise.json", {"schema": 1, "machine": machine, "runs": results})
        write_text(RESULTS / "premise.md", report(results, machine))
    print((RESULTS / "premise.md").read_text())


if __name__ == "__main__":
    main()
