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

With --label-fractions, the study of distillation on unlabelled clips (issue 20) instead: per fraction F, each
seed's run keeps a class-stratified fraction F of the training labels (`--set label_fraction=F`) and hands the
other training clips to the student unlabelled; the rows (UNLABELED_ROWS) are its controls, every stage with the
same optimiser steps (the whole split's `epochs` passes, darkedge.train.command.labelled_budget). Writes
benchmarks/results/unlabeled.{md,json,png}:

    python benchmarks/bench_premise.py --label-fractions 0.1 0.25 1.0 --jobs 2
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

from darkedge.bench.machine import machine_info, machine_line
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
    before: tuple[
        str, ...
    ] = ()  # stages the copy trains first, with the row's settings (its own teacher, say)

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

UNLABELED_ROWS = (
    Row("teacher", "Teacher: enhanced input, CE on the labelled clips", "teacher", inference="enhancer + classifier"),
    Row("raw", "Raw: CE on the labelled clips", "raw"),
    Row("student", "Student: KD on labelled + unlabelled clips (default)", "student"),
    Row("student_labelled", "Student: KD on the labelled clips only", "student", {"unlabeled_ratio": 0.0}),
    Row("self_train", "Self-training: the raw baseline as teacher, labelled + unlabelled", "self_train"),
    Row("raw_long", "Raw: CE, twice the steps (the student's and its teacher's)", "raw", {"epochs": DOUBLE}),
)  # fmt: skip

# The few-labels study (issue 27): the default run now holds out a validation split, its teacher learns from the
# unlabelled clips too (FixMatch with a mean teacher, on the enhanced view) and a guard decides on validation what the
# student distils from. Each row changes one thing from that run.
FEW_LABEL_ROWS = (
    Row("raw", "Raw: CE on the labelled clips", "raw"),
    Row("raw_noval", "Raw: CE on every labelled clip (no validation split)", "raw", {"val_fraction": 0.0}),
    Row("raw_long", "Raw: CE, twice the steps", "raw", {"epochs": DOUBLE}),
    Row("raw_semi", "Raw: semi-supervised (FixMatch on raw frames, no enhancer)", "raw", {"semi": "teacher,raw"}),
    Row("teacher_sup", "Teacher: enhanced input, CE on the labelled clips (before)", "teacher", {"semi": "off"},
        inference="enhancer + classifier"),
    Row("student_sup", "Student of that teacher, no guard (the recipe before)", "student",
        {"semi": "off", "guard": False}, before=("teacher",)),
    Row("teacher", "Teacher: enhanced input, semi-supervised (default)", "teacher", inference="enhancer + classifier"),
    Row("student_noguard", "Student of the semi-supervised teacher, guard off", "student", {"guard": False}),
    Row("student", "Student: the guard's choice (default)", "student"),
    Row("student_refit", "Student: the guard's choice, then the validation clips too (refit)", "student",
        {"refit": True}),
)  # fmt: skip

FEW_LABEL_COMPARISONS = (
    ("student", "raw", "the default recipe against no teacher (same labelled clips and steps)"),
    ("student", "raw_long", "the default against the raw baseline given twice the steps"),
    ("student", "raw_semi", "the default against the same semi-supervised recipe on raw frames"),
    ("raw_semi", "raw", "semi-supervised learning on raw frames, no enhanced view"),
    ("raw_noval", "raw", "the labelled clips the validation split takes (scenes held out whole)"),
    ("teacher", "teacher_sup", "the teacher learning from the unlabelled clips too"),
    ("teacher", "raw_semi", "the enhanced view, both semi-supervised"),
    ("student", "student_noguard", "the teacher guard"),
    ("student", "student_sup", "the new recipe against the one before"),
    ("student_sup", "raw", "the recipe before against no teacher"),
    (
        "student",
        "raw_noval",
        "the default against raw frames given every labelled clip (what a user would train)",
    ),
    ("student_refit", "raw_noval", "the teacher, with the same labelled clips (all) and steps"),
    (
        "student_refit",
        "student",
        "refit: the validation clips given to the student once the guard has chosen",
    ),
)

UNLABELED_COMPARISONS = (
    (
        "student",
        "raw",
        "distillation with the unlabelled clips, against no teacher (same labelled clips and steps)",
    ),
    ("student", "student_labelled", "what the unlabelled clips add to distillation"),
    (
        "student",
        "self_train",
        "the enhanced teacher against a raw-frame teacher of the student's architecture",
    ),
    ("self_train", "raw", "self-training on the unlabelled clips, no enhanced view"),
    ("student", "raw_long", "distillation against the raw baseline given the student's whole budget"),
    ("student", "teacher", "the student on raw frames against its teacher on enhanced frames"),
)

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


def torch_threads(threads: int | None) -> int:
    """The torch threads a `darkedge` child process runs on: `threads` when given, else OMP_NUM_THREADS from the
    environment, else torch's default on this machine."""
    if threads:
        return threads
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return int(os.environ["OMP_NUM_THREADS"])
    import torch

    return torch.get_num_threads()


def main_run(
    seed: int, data: str | None, out: Path, extra: tuple[str, ...] = (), threads: int | None = None
) -> tuple[Path, float | None]:
    """The seed's default pipeline (`darkedge train`, with `extra` arguments) in OUT/seed<S>/main; reused when it
    finished before."""
    folder = out / f"seed{seed}"
    done = folder / "main.json"
    if done.is_file():
        record = json.loads(done.read_text())
        return Path(record["run"]), record["seconds"]
    args = ["train", "--seed", str(seed), "--out", str(folder), "--calib", "", *extra]
    if (folder / "latest" / "config.json").is_file():  # interrupted before: its finished stages are kept
        args = ["train", "--out", str(folder), "--resume", "--calib", ""]
    seconds = darkedge(args + (["--data", data] if data else []), threads=threads)
    run = (folder / "latest").resolve()
    command = shlex.join(["darkedge", *args])
    write_json(
        done, {"run": str(run), "seconds": seconds, "command": command, "threads": torch_threads(threads)}
    )
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
    # the run's enhancer, teacher and raw baseline (all but the stages the row trains), the labels it kept
    # (label_fraction < 1) when it held some back and its validation split
    trained = {row.stage, *row.before}
    kept = (
        "enhancer.pt",
        "teacher.pt",
        "raw.pt",
        "labels.json",
        *(("val.json",) if overrides.get("val_fraction") != 0 else ()),
    )
    for name in kept:
        if (run / name).is_file() and Path(name).stem not in trained:
            shutil.copy2(run / name, folder / name)
    # and what the run measured of them, so that a student's guard decides on the same validation results
    measured = json.loads((run / "metrics.json").read_text())
    copied = {k: v for k, v in measured.items() if k in ("enhancer", "teacher", "raw") and k not in trained}
    if copied:
        write_json(folder / "metrics.json", copied)
    write_json(folder / "config.json", saved)
    return folder


THREADS_FILE = "threads.json"  # in a variant's folder: the torch threads its stages trained on


def train_variant(run: Path, row: Row, threads: int | None) -> Path:
    """Train the row's stage in its copy of the run (skipped when its checkpoint is already there)."""
    folder = variant_dir(run, row)
    for stage in (*row.before, row.stage):
        if not (folder / f"{stage}.pt").is_file() or (folder / stage / RESUME_FILE).is_file():
            darkedge(["train", "--run", str(folder), "--stage", stage, "--resume", "--calib", ""], threads)
            write_json(folder / THREADS_FILE, {"threads": torch_threads(threads)})
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


def stage_seconds(folder: Path) -> dict[str, float]:
    """Training seconds of every stage trained in a run folder: its epochs times its median epoch time (from each
    history.json), so that a pause of the shared machine (one epoch of a study once took 3,248 s, its median 2 s)
    does not count as training."""
    seconds = {}
    for path in sorted(folder.glob("*/history.json")):
        history = json.loads(path.read_text())
        if isinstance(history, dict):  # the enhancer's: its steps, and its time among its metrics
            seconds[path.parent.name] = round(history["metrics"]["seconds"], 1)
        elif history:
            epoch = statistics.median(e.get("seconds", 0) for e in history)
            seconds[path.parent.name] = round(epoch * len(history), 1)
    return seconds


def row_result(folder: Path, row: Row) -> dict[str, Any]:
    """Top-1, top-5, cost, epochs and plateau of one row on one seed, and the seconds of each stage its folder
    trained."""
    measured = json.loads((folder / "metrics.json").read_text())
    metrics = measured[row.stage]
    config = json.loads((folder / "config.json").read_text())
    history = json.loads((folder / row.stage / "history.json").read_text())
    return {
        "top1": metrics["top1"],
        "top5": metrics["top5"],
        "macs": metrics["macs"],
        "params": metrics["params"],
        "epochs": config["train"]["epochs"],
        "steps": sum(entry.get("steps", 0) for entry in history),
        "epochs_at_chance": epochs_at_chance(history, len(config["class_names"])),
        "train_seconds": round(sum(entry["seconds"] for entry in history), 1),
        "stage_seconds": stage_seconds(folder),
        **({"before_top1": {stage: measured[stage]["top1"] for stage in row.before}} if row.before else {}),
        "protocol": metrics["protocol"]["text"],
        "n_clips": metrics["n_clips"],
        "folder": str(folder),
        **(
            {"val_top1": metrics["val"]["top1"], "val_clips": metrics["val"]["n_clips"]}
            if metrics.get("val")
            else {}
        ),
        **({"distilled_from": metrics["distilled_from"]} if "distilled_from" in metrics else {}),
    }


def run_seed(
    seed: int,
    rows: list[Row],
    data: str | None,
    out: Path,
    jobs: int,
    extra: tuple[str, ...] = (),
    same_as_main: tuple[str, ...] = (),
    threads: int | None = None,
) -> dict[str, Any]:
    """Every row for one seed: the default pipeline first, then the variants (`jobs` at a time), all with `threads`
    torch threads when given (else the variants get cores/jobs each); a row in `same_as_main` trains exactly as
    the main run's stage does, which stands for it."""
    run, seconds = main_run(seed, data, out, extra, threads)
    main_threads = json.loads((out / f"seed{seed}" / "main.json").read_text()).get("threads")
    variants = [row for row in rows if not row.main and row.key not in same_as_main]
    if threads is None and jobs > 1:  # a study that fixes the threads fixes them for every row
        threads = max(1, usable_cores() // jobs)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        trained = pool.map(lambda r: train_variant(run, r, threads), variants)
        folders = dict(zip([r.key for r in variants], trained, strict=True))
    results = {row.key: row_result(folders.get(row.key, run), row) for row in rows}
    for result in results.values():  # the torch threads each row trained on (None: not recorded)
        recorded = Path(result["folder"]) / THREADS_FILE
        result["threads"] = (
            json.loads(recorded.read_text())["threads"] if recorded.is_file() else main_threads
        )
    config = json.loads((run / "config.json").read_text())["train"]
    return {"seed": seed, "run": str(run), "pipeline_seconds": seconds, "config": config, "rows": results}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summary(results: list[dict[str, Any]], rows: list[Row], pairs: tuple = COMPARISONS) -> dict[str, Any]:
    """Mean and std per row, and each comparison's per-seed paired differences with their mean and std."""
    keys = {row.key for row in rows}
    table = {}
    for row in rows:
        values = [r["rows"][row.key]["top1"] for r in results]
        mean, std = mean_std(values)
        table[row.key] = {"top1": values, "mean": mean, "std": std}
    comparisons = []
    for a, b, what in pairs:
        if a in keys and b in keys:
            diffs = [round(r["rows"][a]["top1"] - r["rows"][b]["top1"], 2) for r in results]
            mean, std = mean_std(diffs)
            wins = sum(d > 0 for d in diffs)
            comparisons.append(
                {"a": a, "b": b, "what": what, "diffs": diffs, "mean": mean, "std": std, "wins": wins}
            )
    return {"rows": table, "comparisons": comparisons}


def score_cells(row: Row, results: list[dict[str, Any]], stats: dict[str, Any]) -> str:
    """The start of a row's Markdown line: its label, top-1 per seed, mean ± std."""
    s = stats["rows"][row.key]
    per_seed = " | ".join(f"{r['rows'][row.key]['top1']:.2f}" for r in results)
    return f"| {row.label} | {per_seed} | {s['mean']:.2f} ± {s['std']:.2f}"


def comparison_lines(stats: dict[str, Any], rows: list[Row], seeds: list[int]) -> list[str]:
    """The paired differences of `summary` as a Markdown table."""
    labels = {row.key: row.label for row in rows}
    lines = [
        "| a - b | isolates | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std | a > b |",
        "|---|---|" + "---:|" * len(seeds) + "---:|---:|",
    ]
    for c in stats["comparisons"]:
        lines.append(
            f"| {labels[c['a']]} − {labels[c['b']]} | {c['what']} | "
            + " | ".join(f"{d:+.2f}" for d in c["diffs"])
            + f" | {c['mean']:+.2f} ± {c['std']:.2f} | {c['wins']} of {len(seeds)} |"
        )
    return lines


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
        lines.append(
            score_cells(row, results, stats) + f" | {cells[0]['epochs']} | "
            f"{max(c['epochs_at_chance'] for c in cells)} | {_count(cells[0]['macs'])} | "
            f"{_count(cells[0]['params'])} | {row.inference} |"
        )
    lines += [
        "",
        "Paired differences (points of top-1, per seed; a positive mean with every seed positive is a gain):",
        "",
        *comparison_lines(stats, rows, seeds),
    ]
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
        machine_line(machine),
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


def fraction_label(fraction: float) -> str:
    return "all labels" if fraction >= 1 else f"{100 * fraction:g} % of the labels"


# At all labels, the premise study (premise.json) has the rows that exist without unlabelled clips: {row: premise row}
ALL_LABELS = {"teacher": "teacher", "raw": "raw", "student": "student", "student_labelled": "student",
              "raw_long": "raw_long"}  # fmt: skip


def all_labels(results: Path) -> dict[str, list[float]]:
    """{row: top-1 per seed} at label fraction 1 from benchmarks/results/premise.json, when it is there."""
    path = results / "premise.json"
    if not path.is_file():
        return {}
    table = json.loads(path.read_text())["summary"]["rows"]
    return {key: table[source]["top1"] for key, source in ALL_LABELS.items() if source in table}


def unlabeled_report(
    studies: dict[float, list[dict[str, Any]]],
    machine: dict[str, Any],
    full: dict[str, list[float]],
) -> str:
    """The Markdown report of the label-fraction study: a table and paired differences per fraction, and the
    all-labels rows the premise study measured (`full`)."""
    rows = list(UNLABELED_ROWS)
    first = next(iter(studies.values()))[0]
    cfg, clips = first["config"], first["rows"]["teacher"]
    lines = [
        "# Distillation on unlabelled clips: few labels, the rest of the footage unlabelled",
        "",
        f"Data: `{cfg['data']}`; test split of {clips['n_clips']} clips; protocol: {clips['protocol']}. Per label "
        "fraction F, each seed's run keeps a class-stratified fraction F of the training split's labels (fixed by "
        "the seed: `darkedge train --set label_fraction=F`) and hands the other training clips to the student as "
        "unlabelled clips, whose labels no stage reads. Every stage trains for the same optimiser steps whatever "
        f"F: {cfg['epochs']} passes' worth of the whole training split (steps column), batch {cfg['batch_size']}; "
        f"the student's batches add {cfg['unlabeled_ratio']:g} unlabelled clip per labelled clip (KL to the teacher "
        f"only). Recipe otherwise the default ({cfg['encoder']}, input normalisation `{cfg['input_norm']}`, AdamW "
        f"lr {cfg['lr']:g}, KD alpha {cfg['alpha']:g} beta {cfg['beta']:g} tau {cfg['tau']:g}). Top-1 (%).",
    ]
    for fraction, results in studies.items():
        seeds = [r["seed"] for r in results]
        stats = summary(results, rows, UNLABELED_COMPARISONS)
        lines += [
            "",
            f"## {fraction_label(fraction)} (label_fraction {fraction:g})",
            "",
            "| Model | "
            + " | ".join(f"seed {s}" for s in seeds)
            + " | mean ± std | steps | labelled + unlabelled clips |",
            "|---|" + "---:|" * len(seeds) + "---:|---:|---|",
        ]
        for row in rows:
            first = results[0]["rows"][row.key]
            lines.append(
                score_cells(row, results, stats) + f" | {first.get('steps', '')} | {first.get('clips', '')} |"
            )
        lines += ["", *comparison_lines(stats, rows, seeds)]
    if full:
        labels = {row.key: row.label for row in rows}
        lines += [
            "",
            "## all labels (label_fraction 1): from premise.md",
            "",
            "With every label kept there are no unlabelled clips: the student is KD on the labelled clips, and the "
            "rows below are premise.md's (`python benchmarks/bench_premise.py`, 3 seeds, the same recipe and budget: "
            "24 epochs of the whole split; measured on another machine, see premise.md). The self-training control "
            "was not run at all labels.",
            "",
            "| Model | per seed | mean ± std |",
            "|---|---|---:|",
        ]
        for key, values in full.items():
            mean, std = mean_std(values)
            lines.append(
                f"| {labels[key]} | {', '.join(f'{v:.2f}' for v in values)} | {mean:.2f} ± {std:.2f} |"
            )
    lines += [
        "",
        f"Produced by `python benchmarks/bench_premise.py --label-fractions "
        f"{' '.join(f'{f:g}' for f in studies)}` on {time.strftime('%Y-%m-%d')}; {study_minutes(studies):.0f} min of "
        "training in all (each seed's `darkedge train`, wall time, plus its variants' training time; the variants ran "
        "two at a time on the 2 cores, so each took longer than alone).",
        "",
        machine_line(machine),
    ]
    return "\n".join(lines) + "\n"


def study_minutes(studies: dict[float, list[dict[str, Any]]]) -> float:
    """The study's training time: every seed's pipeline plus the variants trained beside it (not the wall time of
    one process, which a resumed study does not know)."""
    seconds = 0.0
    for results in studies.values():
        for r in results:
            own = {v["folder"]: v["train_seconds"] for v in r["rows"].values() if v["folder"] != r["run"]}
            seconds += (r["pipeline_seconds"] or 0) + sum(own.values())
    return seconds / 60


def unlabeled_plot(
    studies: dict[float, list[dict[str, Any]]], full: dict[str, list[float]], path: Path
) -> None:
    """Top-1 against the label fraction, one line per row (mean, std as error bars; all labels from premise.md)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fractions = sorted(studies) + ([1.0] if full and 1.0 not in studies else [])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in UNLABELED_ROWS:
        means, stds, xs = [], [], []
        for f in fractions:
            values = [r["rows"][row.key]["top1"] for r in studies[f]] if f in studies else full.get(row.key)
            if not values:
                continue
            mean, std = mean_std(values)
            means.append(mean)
            stds.append(std)
            xs.append(f)
        style = dict(lw=2.5, color="black") if row.key == "student" else dict(lw=1.2)
        ax.errorbar([100 * f for f in xs], means, yerr=stds, marker="o", capsize=3, label=row.label, **style)
    ax.set_xscale("log")
    ax.set_xticks([100 * f for f in fractions], [f"{100 * f:g} %" for f in fractions])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("training labels kept (the rest: unlabelled clips for the student)")
    ax.set_ylabel("top-1 (%), test split; mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Distillation on unlabelled clips, built-in data")
    save_figure(fig, path)


def unlabeled_rerender(args) -> None:
    """--report-only: unlabeled.md and .png again from unlabeled.json (and premise.json)."""
    saved = json.loads((args.results / "unlabeled.json").read_text())
    studies = {float(f): study["seeds"] for f, study in saved["studies"].items()}
    full = all_labels(args.results)
    write_text(args.results / "unlabeled.md", unlabeled_report(studies, saved["machine"], full))
    unlabeled_plot(studies, full, args.results / "unlabeled.png")


def unlabeled_study(args) -> None:
    """--label-fractions: every fraction's seeds and rows, reports written after every seed."""
    rows = list(UNLABELED_ROWS)
    studies: dict[float, list[dict[str, Any]]] = {}
    for fraction in args.label_fractions:
        out = args.out.parent / f"{args.out.name}_unlabeled" / f"labels{fraction:g}"
        same = ("student_labelled",) if fraction >= 1 else ()
        for seed in args.seeds:
            result = run_seed(
                seed, rows, args.data, out, args.jobs, ("--set", f"label_fraction={fraction:g}"), same
            )
            for key in same:
                result["rows"][key] = dict(result["rows"]["student"], same_as="student")
            for key, row in result["rows"].items():
                metrics = json.loads((Path(row["folder"]) / "metrics.json").read_text())
                stage = next(r.stage for r in rows if r.key == key)
                unlabeled = (metrics[stage].get("unlabeled") or {}).get("clips", 0)
                row["clips"] = f"{metrics[stage].get('labelled_clips', '?')} + {unlabeled}"
            studies.setdefault(fraction, []).append(result)
            machine = machine_info()
            full = all_labels(args.results)
            write_json(args.results / "unlabeled.json", {"schema": 1, "machine": machine, "rows": [r.__dict__ for r in rows],
                        "studies": {f"{f:g}": {"summary": summary(r, rows, UNLABELED_COMPARISONS), "seeds": r} for f, r in studies.items()}})  # fmt: skip
            write_text(args.results / "unlabeled.md", unlabeled_report(studies, machine, full))
            unlabeled_plot(studies, full, args.results / "unlabeled.png")
    print((args.results / "unlabeled.md").read_text())


def study_key(fraction: float, threads: int | None) -> str:
    """A study's key in few_labels.json: the label fraction, and the torch threads when they were fixed."""
    return f"{fraction:g}" + (f" threads {threads}" if threads else "")


def parse_key(key: str) -> tuple[str, int | None]:
    """`study_key` read back: the label fraction as written, and the fixed torch threads (None: not fixed)."""
    fraction, _, threads = key.partition(" threads ")
    return fraction, int(threads) if threads else None


def no_unlabelled(results: list[dict[str, Any]]) -> bool:
    """Whether no row of a study had an unlabelled clip (label_fraction 1 without --unlabeled)."""
    clips = [c["clips"] for r in results for c in r["rows"].values() if "clips" in c]
    return bool(clips) and all(c.endswith(" + 0") for c in clips)


def comparisons_for(results: list[dict[str, Any]]) -> tuple:
    """The study's paired differences: without unlabelled clips, none that isolates semi-supervised learning (its
    rows then train as the supervised ones; the torch-threads section compares them)."""
    if not no_unlabelled(results):
        return FEW_LABEL_COMPARISONS
    return tuple(c for c in FEW_LABEL_COMPARISONS if "raw_semi" not in c[:2])


def present_rows(results: list[dict[str, Any]], rows: tuple[Row, ...]) -> list[Row]:
    """The rows every seed of a study has (a study grows over sessions, a row at a time)."""
    return [row for row in rows if all(row.key in r["rows"] for r in results)]


def threads_line(results: list[dict[str, Any]], rows: list[Row]) -> str:
    """Which torch threads each seed's rows trained on: its own run's rows, the others (variants)."""

    def text(found: set[int | None]) -> str:
        return "/".join("?" if t is None else str(t) for t in sorted(found, key=str))

    main = {row.key for row in rows if row.main}
    others = {row.key for row in rows if not row.main}
    parts = []
    for r in results:
        own = {r["rows"][k].get("threads") for k in main if k in r["rows"]}
        other = {r["rows"][k].get("threads") for k in others if k in r["rows"]}
        parts.append(
            f"seed {r['seed']} {text(own)}" + (f" and {text(other)}" if other and other != own else "")
        )
    return ("Torch threads (the seed's own run, and the other rows where they differ): " + ", ".join(parts)
            + ". The floating-point kernels, and so the rounding, differ with the thread count as they do from "
            "machine to machine.")  # fmt: skip


def recipe_seconds(result: dict[str, Any]) -> dict[str, float] | None:
    """One seed's training time, the default recipe's stages (enhancer, semi-supervised teacher, raw baseline,
    student) against the recipe before (the same enhancer and raw baseline, a labelled-only teacher and its
    student): None unless the seed has the student_sup row and the stages' times."""
    rows = result["rows"]
    main = rows.get("student", {}).get("stage_seconds", {})
    before = rows.get("student_sup", {}).get("stage_seconds", {})
    if not all(stage in main for stage in ("raw", "teacher", "student")) or not all(
        stage in before for stage in ("teacher", "student")
    ):
        return None
    shared = main.get("enhancer", 0) + main["raw"]
    return {"default": shared + main["teacher"] + main["student"], "before": shared + before["teacher"]
            + before["student"]}  # fmt: skip


SUP_TEACHER = "its teacher: enhanced input, CE on the labelled clips (before)"  # trained inside student_sup


def thread_scores(studies: dict[str, list[dict[str, Any]]]) -> tuple[dict, list[tuple]]:
    """Every top-1 whose torch threads were recorded, by label fraction, seed, thread count and row label (the
    labelled-only teacher inside the student_sup row too); and the repeats: a row trained twice on the same threads,
    which should agree to the last digit."""
    scores: dict[str, dict[int, dict[int, dict[str, float]]]] = {}
    repeats = []
    for key, results in studies.items():
        fraction = parse_key(key)[0]
        for r in results:
            own = r["rows"].get("student", r["rows"].get("raw", {})).get("threads")  # the seed's own run's
            for row in FEW_LABEL_ROWS:
                cell = r["rows"].get(row.key)
                if not cell or cell.get("threads") is None:
                    continue
                if not row.main and cell["threads"] != own and (row.stage != "raw" or row.before):
                    continue  # a copy of a run on other threads: its enhancer (and teacher) came from that run
                label = row.label
                if row.key == "raw_semi" and cell.get("clips", "").endswith(" + 0"):
                    label = FEW_LABEL_ROWS[0].label  # no unlabelled clip: it trained as the raw baseline does
                found = [(label, cell["top1"])]
                if "teacher" in cell.get("before_top1", {}):
                    found.insert(0, (SUP_TEACHER, cell["before_top1"]["teacher"]))
                seen = (
                    scores.setdefault(fraction, {}).setdefault(r["seed"], {}).setdefault(cell["threads"], {})
                )
                for label, top1 in found:
                    if label in seen:
                        repeats.append((fraction, label, r["seed"], cell["threads"], seen[label], top1))
                    seen.setdefault(label, top1)
    return scores, repeats


def threads_section(studies: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The same seeds trained on 1 and on 2 torch threads: top-1 of every row trained on both (from any study: each
    row records its threads), the difference, and each recipe's training time from the thread studies ('F threads
    N', every row on N)."""
    lines = []
    scores, repeats = thread_scores(studies)
    labels = [row.label for row in FEW_LABEL_ROWS]
    labels.insert([row.key for row in FEW_LABEL_ROWS].index("student_sup"), SUP_TEACHER)
    for fraction, by_seed in scores.items():
        lo = {s: min(runs) for s, runs in by_seed.items()}
        hi = {s: max(runs) for s, runs in by_seed.items()}
        seeds = sorted(
            s for s, runs in by_seed.items() if set(runs[lo[s]]) & set(runs[hi[s]]) and lo[s] != hi[s]
        )
        if not seeds:
            continue
        rows = [label for label in labels if any(label in by_seed[s][lo[s]] and label in by_seed[s][hi[s]]
                                                 for s in seeds)]  # fmt: skip
        lines += [
            "",
            f"## Torch threads: {fraction_label(float(fraction))}, the same seed on fewer and more threads",
            "",
            "The same run, rows and settings on another number of torch threads (OMP_NUM_THREADS): the "
            "floating-point kernels, and so the rounding, differ with the thread count as they do between machines; "
            "the data, splits, order and initial weights do not.",
            "",
            "| Model | " + " | ".join(f"seed {s}: {t} thread{'s' if t > 1 else ''}" for s in seeds
                                    for t in (lo[s], hi[s])) + " | "
            + " | ".join(f"seed {s}: {hi[s]} − {lo[s]}" for s in seeds) + " |",
            "|---|" + "---:|" * (3 * len(seeds)),
        ]  # fmt: skip
        for label in rows:
            cells, diffs = [], []
            for s in seeds:
                a, b = by_seed[s][lo[s]].get(label), by_seed[s][hi[s]].get(label)
                cells += ["" if a is None else f"{a:.2f}", "" if b is None else f"{b:.2f}"]
                diffs.append("" if a is None or b is None else f"{b - a:+.2f}")
            lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(diffs) + " |")
        again = [x[1:] for x in repeats if x[0] == fraction]
        differ = [f"{label}, seed {s} on {t}: {a:.2f} and {b:.2f}" for label, s, t, a, b in again if a != b]
        if again:
            lines += ["", f"{len(again)} rows were trained twice on the same threads (in two studies): "
                      + ("; ".join(differ) if differ else "each pair agrees to the last digit") + "."]  # fmt: skip
        times = [
            f"seed {r['seed']} on {t} thread{'s' if t > 1 else ''}: {c['default'] / 60:.1f} min against "
            f"{c['before'] / 60:.1f} ({c['default'] / c['before']:.2f}x)"
            for key, results in studies.items()
            for f, t in [parse_key(key)]
            if f == fraction and t is not None
            for r in results
            if (c := recipe_seconds(r))
        ]
        if times:
            lines += [
                "",
                "Training time of the default recipe (enhancer, semi-supervised teacher, raw baseline, student) "
                "against the recipe before (the same enhancer and raw baseline, a labelled-only teacher and its "
                "student), each stage's epochs times its median epoch time, on the shared machine with whatever "
                "else ran beside it: " + "; ".join(times) + ".",
            ]
    return lines


def few_labels_report(studies: dict[str, list[dict[str, Any]]], machine: dict[str, Any]) -> str:
    """few_labels.md: per label fraction (and thread count), each row per seed with its mean ± std and worst seed,
    the validation top-1 and the guard's choices, then the paired differences."""
    first = next(iter(studies.values()))[0]
    cfg = first["config"]
    any_row = next(iter(first["rows"].values()))
    lines = [
        "# Distillation a user can trust at few labels: validation, a semi-supervised teacher, the teacher guard",
        "",
        f"Data: `{cfg['data']}`; test split of {any_row['n_clips']} clips, scored once per model at the end; "
        f"protocol: {any_row['protocol']}. Per label fraction F, each seed's run (`darkedge train --set "
        "label_fraction=F --seed S`) keeps a class-stratified fraction F of the training split's labels; "
        f"{100 * cfg['val_fraction']:g} % of those (at least one clip per class) are held out for validation a scene "
        "at a time, and the rest of the training clips are unlabelled footage whose labels no stage reads. Every "
        "model keeps its last weights unless an earlier validation check is better by a margin the clips resolve, "
        "and nothing is chosen by the test split. The default "
        f"run: the teacher (Zero-DCE++ then the classifier) learns from the labelled and the unlabelled clips "
        f"(FixMatch: an EMA of its weights, decay {cfg['ema_decay']:g}, labels each unlabelled clip as loaded and "
        f"the model learns the labels it is at least {cfg['semi_threshold']:g} sure of on a strongly augmented copy); "
        "the raw baseline learns from the labelled clips; the teacher guard compares the two on validation and the "
        "student distils (CE + KL on labelled clips, KL on unlabelled ones) from the teacher, the raw baseline or "
        "both. Each other row changes only what its name says, in a copy of the seed's run (same enhancer, splits "
        "and data order); where a seed's rows trained on different torch threads (the line under each table), a "
        "paired difference also holds the rounding's effect, which the torch-threads sections measure. "
        f"Every stage takes the same optimiser steps ({cfg['epochs']} passes' worth of the whole "
        "training split) except the twice-the-steps row. Top-1 (%) on the test split.",
    ]

    def order(item: tuple[str, Any]) -> tuple[bool, float, int]:
        fraction, threads = parse_key(item[0])
        return (threads is not None, float(fraction), threads or 0)

    for key, results in sorted(studies.items(), key=order):
        rows = present_rows(results, FEW_LABEL_ROWS)
        seeds = [r["seed"] for r in results]
        stats = summary(results, rows, comparisons_for(results))
        fraction, threads = parse_key(key)
        title = fraction_label(float(fraction)) + f" (label_fraction {fraction})"
        if threads:
            title += f", {threads} torch thread{'s' if threads != 1 else ''}"
        lines += [
            "",
            f"## {title}",
            "",
            "| Model | "
            + " | ".join(f"seed {s}" for s in seeds)
            + " | mean ± std | worst | validation top-1 (mean) "
            "| labelled + unlabelled clips |",
            "|---|" + "---:|" * len(seeds) + "---:|---:|---:|---|",
        ]
        for row in rows:
            cells = [r["rows"][row.key] for r in results]
            vals = [c["val_top1"] for c in cells if "val_top1" in c]
            val = f"{statistics.mean(vals):.1f} ({cells[0].get('val_clips', '?')} clips)" if vals else ""
            lines.append(
                score_cells(row, results, stats)
                + f" | {min(c['top1'] for c in cells):.2f} | {val} | {cells[0].get('clips', '')} |"
            )
        if no_unlabelled(results):
            lines += ["", "No training clip is unlabelled here, so no stage is semi-supervised: the semi-supervised "
                      "raw row trains exactly as the raw baseline except for the torch threads of its variant "
                      "(below), and the default teacher as the labelled-only one."]  # fmt: skip
        lines += ["", threads_line(results, rows)]
        choices = [r["rows"]["student"].get("distilled_from", "?") for r in results if "student" in r["rows"]]
        if choices:
            lines += ["", "The guard's choice per seed: " + ", ".join(
                f"seed {s} {c}" for s, c in zip(seeds, choices, strict=False)) + "."]  # fmt: skip
        lines += ["", *comparison_lines(stats, rows, seeds)]
        worst = [c for c in stats["comparisons"] if c["diffs"]]
        if worst:
            lines += ["", "Worst seed of each difference: " + "; ".join(
                f"{c['a']} − {c['b']} {min(c['diffs']):+.2f}" for c in worst) + "."]  # fmt: skip
    lines += threads_section(studies)
    lines += [
        "",
        f"Produced by `python benchmarks/bench_premise.py --few-labels --label-fractions ...` on "
        f"{time.strftime('%Y-%m-%d')} (the built-in data set, `darkedge data synth`); {study_minutes(studies):.0f} min "
        "of training in all. "
        "Re-rendered from few_labels.json by `--few-labels --report-only`.",
        "",
        machine_line(machine),
    ]
    return "\n".join(lines) + "\n"


def fraction_studies(studies: dict[str, list[dict[str, Any]]]) -> dict[float, list[dict[str, Any]]]:
    """The studies on the machine's default threads, by label fraction, smallest first."""
    return {float(k): studies[k] for k in sorted((k for k in studies if parse_key(k)[1] is None), key=float)}


def few_labels_plot(studies: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Top-1 against the label fraction (mean ± std of the rows every fraction has), then one panel per fraction:
    every row's seeds (dots) and mean (bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_fraction = fraction_studies(studies)
    n = len(by_fraction)
    if not n:  # thread studies only: their section of the report is the comparison
        return
    fig = plt.figure(figsize=(3.2 * n + 3.5, 8))
    grid = fig.add_gridspec(2, n)
    ax = fig.add_subplot(grid[0, :])
    bars = [fig.add_subplot(grid[1, i]) for i in range(n)]
    fractions = list(by_fraction)
    for key in ("raw", "raw_semi", "teacher", "student"):
        points = [(f, [r["rows"][key]["top1"] for r in by_fraction[f]]) for f in fractions
                  if all(key in r["rows"] for r in by_fraction[f])]  # fmt: skip
        if not points:
            continue
        label = next(row.label for row in FEW_LABEL_ROWS if row.key == key)
        style = dict(lw=2.5, color="tab:red") if key == "student" else dict(lw=1.2)
        ax.errorbar([100 * f for f, _ in points], [mean_std(v)[0] for _, v in points],
                    yerr=[mean_std(v)[1] for _, v in points], marker="o", capsize=3, label=label, **style)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks([100 * f for f in fractions], [f"{100 * f:g} %" for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("training labels kept (the rest: unlabelled clips)")
    ax.set_ylabel("top-1 (%), test split; mean ± std over seeds")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    labels = [row.label for row in reversed(FEW_LABEL_ROWS)]
    for ax, (fraction, results) in zip(bars, by_fraction.items(), strict=True):
        present = {row.key for row in present_rows(results, FEW_LABEL_ROWS)}
        for y, row in enumerate(reversed(FEW_LABEL_ROWS)):
            if row.key not in present:
                continue
            values = [r["rows"][row.key]["top1"] for r in results]
            color = "tab:red" if row.key == "student" else "tab:blue"
            ax.barh(y, statistics.mean(values), color=color, alpha=0.3)
            ax.scatter(values, [y] * len(values), color=color, zorder=3, s=18)
        ax.set_title(f"label_fraction {fraction:g}, {len(results)} seeds", fontsize=9)
        ax.set_xlim(0, 100)
        ax.set_xlabel("top-1 (%), test; dots: seeds")
        ax.grid(axis="x", alpha=0.3)
        ax.set_yticks(range(len(labels)), labels if ax is bars[0] else [], fontsize=7)
        ax.set_ylim(-0.5, len(labels) - 0.5)  # every panel the same rows at the same heights
    save_figure(fig, path)


def few_labels_write(args, studies: dict[str, list[dict[str, Any]]], machine: dict[str, Any]) -> None:
    rows = [r.__dict__ for r in FEW_LABEL_ROWS]
    write_json(args.results / "few_labels.json", {"schema": 1, "machine": machine, "rows": rows, "studies": {
        k: {"summary": summary(r, present_rows(r, FEW_LABEL_ROWS), comparisons_for(r)), "seeds": r}
        for k, r in studies.items()}})  # fmt: skip
    write_text(args.results / "few_labels.md", few_labels_report(studies, machine))
    few_labels_plot(studies, args.results / "few_labels.png")


def few_labels_study(args) -> None:
    """--few-labels: the issue-27 study; every seed's result is merged into few_labels.json as it finishes, so the
    study grows over sessions (rows a seed already has are kept unless re-measured)."""
    path = args.results / "few_labels.json"
    saved = json.loads(path.read_text()) if path.is_file() else {"studies": {}}
    studies = {k: v["seeds"] for k, v in saved["studies"].items()}
    if args.report_only:
        few_labels_write(args, studies, saved["machine"])
        return
    rows = [row for row in FEW_LABEL_ROWS if row.key in args.rows or row.main]
    for fraction in args.label_fractions:
        key = study_key(fraction, args.threads)
        out = args.out.parent / f"{args.out.name}_few_labels" / key.replace(" ", "_")
        for seed in args.seeds:
            run, _ = main_run(seed, args.data, out, ("--set", f"label_fraction={fraction:g}"), args.threads)
            guard = json.loads((run / "metrics.json").read_text()).get("guard", {})
            same = ("student_noguard",) if guard.get("source") == "teacher" else ()
            result = run_seed(seed, rows, args.data, out, args.jobs, ("--set", f"label_fraction={fraction:g}"),
                              same, args.threads)  # fmt: skip
            for k in same:
                if k in result["rows"]:
                    result["rows"][k] = dict(result["rows"]["student"], same_as="student")
            for k, row in result["rows"].items():
                metrics = json.loads((Path(row["folder"]) / "metrics.json").read_text())
                stage = next(r.stage for r in rows if r.key == k)
                unlabeled = (metrics[stage].get("unlabeled") or {}).get("clips", 0)
                row["clips"] = f"{metrics[stage].get('labelled_clips', '?')} + {unlabeled}"
            if path.is_file():  # another study process may have written since: merge into what is there now
                studies = {k: v["seeds"] for k, v in json.loads(path.read_text())["studies"].items()}
            seeds = studies.setdefault(key, [])
            old = next((r for r in seeds if r["seed"] == seed), None)
            if old is not None:
                result["rows"] = {**old["rows"], **result["rows"]}
                seeds.remove(old)
            seeds.append(result)
            seeds.sort(key=lambda r: r["seed"])
            few_labels_write(args, studies, machine_info())
    print((args.results / "few_labels.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--rows", nargs="+", default=[row.key for row in ROWS], help="row keys, in table order"
    )
    parser.add_argument("--data", default=None, help="data set (default: the built-in data/synth)")
    parser.add_argument("--out", type=Path, default=Path("runs/premise"))
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="variant trainings at a time (each gets cores/jobs threads unless --threads)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where premise.{md,json,png} go")
    parser.add_argument(
        "--label-fractions", type=float, nargs="+", default=None, help="the unlabelled-clips study instead"
    )
    parser.add_argument("--report-only", action="store_true", help="the report again from its JSON")
    parser.add_argument(
        "--few-labels",
        action="store_true",
        help="the few-labels study (few_labels.md): validation, semi, guard",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads of the seeds' runs (stability)"
    )
    args = parser.parse_args()
    if args.few_labels:
        if args.rows == [row.key for row in ROWS]:
            args.rows = [row.key for row in FEW_LABEL_ROWS]
        args.label_fractions = args.label_fractions or [0.1]
        few_labels_study(args)
        return
    if args.report_only:
        unlabeled_rerender(args)
        return
    if args.label_fractions:
        unlabeled_study(args)
        return
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
