"""The method's premise on the built-in data, as an ablation: what distillation adds to a student on raw frames,
apart from what its initialisation, its training length and its input normalisation add. 3 seeds by default.

Per seed, `darkedge train` (the default pipeline: enhancer, teacher, student, raw baseline) makes the seed's run;
every other row is one more stage trained in a copy of that run (same enhancer and teacher, same data order) whose
config.json differs from the run's only in the fields the row names. Every row reports top-1 per seed, mean +- std,
its inference cost, and how many epochs it sat at chance; the paired differences below the table isolate one
component each. Writes benchmarks/results/premise.{md,json,png} after every seed; finished stages are kept, so an
interrupted benchmark continues where it stopped.

    python benchmarks/bench_premise.py                  # seeds 0 1 2 on data/synth (generated if absent)
    python benchmarks/bench_premise.py --jobs 2         # two variant trainings at a time, a core each
    python benchmarks/bench_premise.py --seeds 0 --rows teacher student raw
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darkedge.bench.machine import machine_info
from darkedge.cores import usable_cores
from darkedge.fileio import save_figure, write_json, write_text
from darkedge.names import DEFAULT_STAGES
from darkedge.train.engine import RESUME_FILE

RESULTS = Path(__file__).parent / "results"
CHANCE_FACTOR = 1.5  # an epoch "at chance": train top-1 under 1.5 x chance (13.6 % for 11 classes)
DOUBLE = "2x"  # an `epochs` override meaning twice the run's epochs


@dataclass(frozen=True)
class Row:
    """One model of the table: the stage that trains it and the settings it changes from the seed's run."""

    key: str
    label: str
    stage: str
    overrides: dict[str, Any] = field(default_factory=dict)
    inference: str = "raw frames, 1 network"

    @property
    def main(self) -> bool:
        """Trained by the seed's own `darkedge train` (the default pipeline) rather than in a copy."""
        return not self.overrides and self.stage in DEFAULT_STAGES


ROWS = (
    Row("teacher", "Teacher: enhanced input, CE", "teacher", inference="enhancer + classifier"),
    Row("student", "Student: KD from scratch (default)", "student"),
    Row("raw", "Raw: CE from scratch", "raw"),
    Row("raw_long", "Raw: CE from scratch, twice the epochs", "raw", {"epochs": DOUBLE}),
    Row("student_warm", "Student: KD, warm start from the teacher", "student", {"student_init": "teacher"}),
    Row("raw_warm", "Raw: CE only, warm start from the teacher", "student", {"student_init": "teacher", "beta": 0.0}),
    Row("student_tau4", "Student: KD from scratch, tau 4", "student", {"tau": 4.0}),
    Row("student_hint", "Student: KD from scratch + feature hints", "student", {"hint": 1.0}),
    Row("raw_fixed", "Raw: CE from scratch, fixed normalisation", "raw", {"input_norm": "fixed"}),
    Row("student_fixed", "Student: KD from scratch, fixed normalisation", "student", {"input_norm": "fixed"}),
    Row("two_stream", "Two-stream: raw + enhanced streams, CE", "two_stream", inference="enhancer + 2 classifiers"),
)  # fmt: skip

# Paired differences (a - b, per seed): what each one isolates.
COMPARISONS = (
    ("student", "raw", "distillation, from scratch (same init, data order and epochs)"),
    ("student", "raw_long", "distillation against twice the training (the teacher's epochs given to raw)"),
    ("student_warm", "raw_warm", "distillation, warm start (same init from the teacher)"),
    ("raw_warm", "raw", "starting from the teacher's weights, no distillation"),
    ("student_tau4", "student", "temperature 4 instead of 1"),
    ("student_hint", "student", "feature (hint) distillation added to the logit KD"),
    ("raw", "raw_fixed", "per-clip input normalisation, no distillation"),
    ("student_fixed", "raw_fixed", "distillation, with fixed normalisation"),
    ("student", "teacher", "the student on raw frames against its teacher on enhanced frames"),
)


def darkedge(args: list[str], threads: int | None) -> float:
    """Run `darkedge ARGS` (with `threads` torch threads when given); returns its wall time in seconds."""
    env = dict(os.environ, TQDM_DISABLE="1")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "darkedge", *args]
    print("$", shlex.join(command[2:]), file=sys.stderr, flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - started


def main_run(seed: int, data: str | None, out: Path) -> tuple[Path, float | None]:
    """The seed's default pipeline (`darkedge train`) in OUT/seed<S>/main; reused when it finished before."""
    folder = out / f"seed{seed}"
    done = folder / "main.json"
    if done.is_file():
        record = json.loads(done.read_text())
        return Path(record["run"]), record["seconds"]
    args = ["train", "--seed", str(seed), "--out", str(folder), "--calib", ""]
    seconds = darkedge(args + (["--data", data] if data else []), threads=None)
    run = (folder / "latest").resolve()
    write_json(done, {"run": str(run), "seconds": seconds, "command": shlex.join(["darkedge", *args])})
    return run, seconds


def variant_dir(run: Path, row: Row) -> Path:
    """A copy of the seed's run for one row: its config with the row's overrides, the run's enhancer and teacher."""
    folder = run.parent / "variants" / row.key
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    saved = json.loads((run / "config.json").read_text())
    overrides = dict(row.overrides)
    if overrides.get("epochs") == DOUBLE:
        overrides["epochs"] = 2 * saved["train"]["epochs"]
    saved["train"].update(overrides)
    for name in ("enhancer.pt", "teacher.pt"):
        shutil.copy2(run / name, folder / name)
    write_json(folder / "config.json", saved)
    return folder


def train_variant(run: Path, row: Row, threads: int | None) -> Path:
    """Train the row's stage in its copy of the run (skipped when its checkpoint is already there)."""
    folder = variant_dir(run, row)
    if not (folder / f"{row.stage}.pt").is_file() or (folder / row.stage / RESUME_FILE).is_file():
        darkedge(["train", "--run", str(folder), "--stage", row.stage, "--resume", "--calib", ""], threads)
    return folder


def epochs_at_chance(history: list[dict[str, Any]], classes: int) -> int:
    """Leading epochs whose train top-1 stays under CHANCE_FACTOR x chance: the plateau a stage starts with."""
    limit = 100.0 * CHANCE_FACTOR / classes
    count = 0
    for entry in history:
        if entry["train_top1"] >= limit:
            break
        count += 1
    return count


def row_result(folder: Path, row: Row) -> dict[str, Any]:
    """Top-1, top-5, cost, epochs and plateau of one row on one seed."""
    metrics = json.loads((folder / "metrics.json").read_text())[row.stage]
    config = json.loads((folder / "config.json").read_text())
    history = json.loads((folder / row.stage / "history.json").read_text())
    return {
        "top1": metrics["top1"],
        "top5": metrics["top5"],
        "macs": metrics["macs"],
        "params": metrics["params"],
        "epochs": config["train"]["epochs"],
        "epochs_at_chance": epochs_at_chance(history, len(config["class_names"])),
        "train_seconds": round(sum(entry["seconds"] for entry in history), 1),
        "protocol": metrics["protocol"]["text"],
        "n_clips": metrics["n_clips"],
        "folder": str(folder),
    }


def run_seed(seed: int, rows: list[Row], data: str | None, out: Path, jobs: int) -> dict[str, Any]:
    """Every row for one seed: the default pipeline first, then the variants (`jobs` at a time)."""
    run, seconds = main_run(seed, data, out)
    variants = [row for row in rows if not row.main]
    threads = max(1, usable_cores() // jobs) if jobs > 1 else None
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        trained = pool.map(lambda r: train_variant(run, r, threads), variants)
        folders = dict(zip([r.key for r in variants], trained, strict=True))
    results = {row.key: row_result(folders.get(row.key, run), row) for row in rows}
    config = json.loads((run / "config.json").read_text())["train"]
    return {"seed": seed, "run": str(run), "pipeline_seconds": seconds, "config": config, "rows": results}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summary(results: list[dict[str, Any]], rows: list[Row]) -> dict[str, Any]:
    """Mean and std per row, and each comparison's per-seed paired differences with their mean and std."""
    keys = {row.key for row in rows}
    table = {}
    for row in rows:
        values = [r["rows"][row.key]["top1"] for r in results]
        mean, std = mean_std(values)
        table[row.key] = {"top1": values, "mean": mean, "std": std}
    comparisons = []
    for a, b, what in COMPARISONS:
        if a in keys and b in keys:
            diffs = [round(r["rows"][a]["top1"] - r["rows"][b]["top1"], 2) for r in results]
            mean, std = mean_std(diffs)
            wins = sum(d > 0 for d in diffs)
            comparisons.append(
                {"a": a, "b": b, "what": what, "diffs": diffs, "mean": mean, "std": std, "wins": wins}
            )
    return {"rows": table, "comparisons": comparisons}


def _count(n: float) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def report(results: list[dict[str, Any]], rows: list[Row], machine: dict[str, Any], wall: float) -> str:
    """The Markdown report: the table, the paired differences, the plateau, the protocol, the commands, the machine."""
    first = results[0]
    seeds = [r["seed"] for r in results]
    stats = summary(results, rows)
    cfg = first["config"]
    lines = [
        "# Premise: what distillation adds, apart from initialisation, training length and normalisation",
        "",
        f"Data: `{cfg['data']}`; test split of {first['rows'][rows[0].key]['n_clips']} clips; protocol: "
        f"{first['rows'][rows[0].key]['protocol']}. Top-1 (%) on seeds {', '.join(map(str, seeds))}. Every row "
        f"has the default run's settings (preset {cfg['preset']}: {cfg['encoder']}, {cfg['head']} head, input "
        f"normalisation `{cfg['input_norm']}`, {cfg['epochs']} epochs, AdamW lr {cfg['lr']:g}, batch "
        f"{cfg['batch_size']}, KD alpha {cfg['alpha']:g} beta {cfg['beta']:g} tau {cfg['tau']:g}) except what "
        "its name says, the same data order and the same enhancer and teacher.",
        "",
        "| Model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std | epochs | at chance (max) "
        "| MACs / clip | parameters | at inference |",
        "|---|" + "---:|" * len(seeds) + "---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        cells = [r["rows"][row.key] for r in results]
        s = stats["rows"][row.key]
        lines.append(
            f"| {row.label} | "
            + " | ".join(f"{c['top1']:.2f}" for c in cells)
            + f" | {s['mean']:.2f} ± {s['std']:.2f} | {cells[0]['epochs']} | "
            f"{max(c['epochs_at_chance'] for c in cells)} | {_count(cells[0]['macs'])} | "
            f"{_count(cells[0]['params'])} | {row.inference} |"
        )
    lines += [
        "",
        "Paired differences (points of top-1, per seed; a positive mean with every seed positive is a gain):",
        "",
        "| a - b | isolates | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std | a > b |",
        "|---|---|" + "---:|" * len(seeds) + "---:|---:|",
    ]
    labels = {row.key: row.label for row in rows}
    for c in stats["comparisons"]:
        lines.append(
            f"| {labels[c['a']]} − {labels[c['b']]} | {c['what']} | "
            + " | ".join(f"{d:+.2f}" for d in c["diffs"])
            + f" | {c['mean']:+.2f} ± {c['std']:.2f} | {c['wins']} of {len(seeds)} |"
        )
    pipeline = [r["pipeline_seconds"] for r in results if r["pipeline_seconds"]]
    lines += [
        "",
        f'"At chance": leading epochs whose train top-1 stayed under {CHANCE_FACTOR:g} x chance. MACs and '
        "parameters per clip at the model's input shape; the teacher and two-stream include the enhancer.",
        "",
        "Wall time of the default `darkedge train` (enhancer, teacher, student, raw; data present): "
        + ", ".join(
            f"seed {r['seed']} {r['pipeline_seconds'] / 60:.1f} min" for r in results if r["pipeline_seconds"]
        )
        + (f" (mean {statistics.mean(pipeline) / 60:.1f} min)" if pipeline else "")
        + f". Whole benchmark: {wall / 60:.0f} min.",
        "",
        "Per seed: `darkedge train --seed S`; each other row: `darkedge train --run <copy> --stage <stage>` in a copy "
        "of that run whose config.json differs only in the row's settings (listed in premise.json).",
        "",
        f"Produced by `python benchmarks/bench_premise.py` on {time.strftime('%Y-%m-%d')}.",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores, load average at the end "
        f"{machine['load_average_1min']}; {machine['os']}; Python {machine['python']}; "
        + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items()),
    ]
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], rows: list[Row], path: Path) -> None:
    """Top-1 per seed (dots) and the mean (bar) for every row, the default student highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    for y, row in enumerate(reversed(rows)):
        values = [r["rows"][row.key]["top1"] for r in results]
        color = "tab:red" if row.key == "student" else "tab:blue"
        ax.barh(y, statistics.mean(values), color=color, alpha=0.3)
        ax.scatter(values, [y] * len(values), color=color, zorder=3, s=18)
    ax.set_yticks(range(len(rows)), [row.label for row in reversed(rows)], fontsize=8)
    ax.set_xlabel("top-1 (%), test split; dots: seeds, bars: mean")
    ax.set_xlim(0, 100)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Premise on the built-in data")
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--rows", nargs="+", default=[row.key for row in ROWS], help="row keys, in table order"
    )
    parser.add_argument("--data", default=None, help="data set (default: the built-in data/synth)")
    parser.add_argument("--out", type=Path, default=Path("runs/premise"))
    parser.add_argument(
        "--jobs", type=int, default=1, help="variant trainings at a time (each gets cores/jobs)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where premise.{md,json,png} go")
    args = parser.parse_args()
    unknown = set(args.rows) - {row.key for row in ROWS}
    if unknown:
        parser.error(
            f"unknown rows {', '.join(sorted(unknown))} (choose from {', '.join(r.key for r in ROWS)})"
        )
    rows = [row for row in ROWS if row.key in args.rows]
    started = time.perf_counter()
    results = []
    for seed in args.seeds:
        results.append(run_seed(seed, rows, args.data, args.out, args.jobs))
        machine = machine_info()
        stats = summary(results, rows)
        write_json(
            args.results / "premise.json",
            {
                "schema": 2,
                "machine": machine,
                "rows": [r.__dict__ for r in rows],
                "summary": stats,
                "seeds": results,
            },
        )
        write_text(args.results / "premise.md", report(results, rows, machine, time.perf_counter() - started))
        plot(results, rows, args.results / "premise.png")
    print((args.results / "premise.md").read_text())


if __name__ == "__main__":
    main()
