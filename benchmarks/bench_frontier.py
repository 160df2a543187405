"""Issue 15's accuracy-latency frontier: students of several sizes distilled from the same teachers, each quantized to
INT8 and timed on this CPU with OpenVINO, against the teacher (enhance-then-classify) and two-stream.

    python benchmarks/bench_frontier.py --runs runs/premise/seed*/latest   # the teachers bench_premise.py trained
    python benchmarks/bench_frontier.py --runs R --students default x3d_nano --epochs 1 --results /tmp/f  # a look
    python benchmarks/bench_frontier.py --lite-latency   # the EfficientNet-Lite0 students' latency section alone

--lite-latency times, side by side on random weights (latency does not depend on them), the EfficientNet-Lite0
student (per frame, temporal shift) at the small preset's clips (8 x 48 px) and at the real-footage preset's (4 x
96 px, where the teacher and two-stream are EfficientNet-Lite0 too), INT8 (PTQ) and FP32, against the default
student, enhance-then-classify and two-stream FP32, and writes that section of frontier.md (between its markers).

For each teacher run (one per seed) and each student: a copy of the run (its config with the student's settings and
student_init=scratch, its enhancer and teacher) trained with `darkedge train --stage student`, quantized with
`darkedge quantize`, its FP32 IR exported with `darkedge export`, under --out/<student>/seed<N>/. A finished step
is skipped and an interrupted training resumes, so the command can be run again until it is done. Then every
student's INT8 and FP32 IR (from the first run: latency does not depend on the weights), the teacher and
two-stream are timed side by side in turns (darkedge.bench.timing), at batch 1 and at --batch, in --repeats fresh
processes: ratios are taken within a repeat, then the median over repeats. The default student's INT8 IR is also
timed as it was before its ReLU outputs were made unsigned (`int8 signed`), and OpenVINO's per-layer counters say
where its time goes. Results: --results/frontier.{md,json,png}.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from darkedge.bench.machine import machine_info
from darkedge.bench.measure import in_subprocess, measure_interleaved
from darkedge.bench.timing import TimingProtocol
from darkedge.fileio import read_json, save_figure, write_json, write_text
from darkedge.names import INT8_NAME
from darkedge.run import open_run, save_run_config

RESULTS = Path(__file__).parent / "results"

# The candidates: TrainConfig settings on top of the teacher's run, and what they are. "default" is the student of
# the teacher's architecture and clips, every other one is measured against it.
STUDENTS: dict[str, tuple[dict[str, Any], str]] = {
    "default": ({}, "the teacher's classifier (R(2+1)D nano), 8 x 48 px"),
    "r2p1d_half": ({"student_width": 0.5}, "R(2+1)D nano at half width"),
    "r2p1d_t4": ({"student_frames": 4}, "R(2+1)D nano on 4 frames (every 2nd)"),
    "r2p1d_s32": ({"student_crop": 32}, "R(2+1)D nano at 32 px"),
    "r2p1d_t4_s32": ({"student_frames": 4, "student_crop": 32}, "R(2+1)D nano on 4 frames at 32 px"),
    "x3d_nano": ({"student_encoder": "x3d_nano"}, "X3D nano (depthwise-separable 3D)"),
    "x3d_nano_s32": ({"student_encoder": "x3d_nano", "student_crop": 32}, "X3D nano at 32 px"),
    "x3d_micro": ({"student_encoder": "x3d_micro"}, "X3D micro"),
    "x3d_nano_t4_s32": (
        {"student_encoder": "x3d_nano", "student_frames": 4, "student_crop": 32},
        "X3D nano on 4 frames at 32 px",
    ),
}
# Every candidate starts from the teacher's architecture and clips, whatever the teacher run's own student was.
TEACHERS_OWN = {"student_encoder": None, "student_width": 1.0, "student_frames": None, "student_crop": None}
REFERENCES = {"teacher": "enhance-then-classify (teacher)", "two_stream": "two-stream"}
COPIED = ("enhancer.pt", "teacher.pt")  # what a student's run needs of its teacher's


def darkedge(*args: str) -> None:
    """Run one darkedge command in a child process (its progress bars show), failing loudly."""
    command = [sys.executable, "-m", "darkedge", *args]
    print("$", shlex.join(command[1:]), file=sys.stderr, flush=True)
    subprocess.run(command, check=True)


def prepare(teacher_run: Path, work: Path, overrides: dict[str, Any], args) -> None:
    """`work` as a run of its own: the teacher run's config with the student's settings, enhancer and teacher."""
    if (work / "config.json").is_file():
        return
    source = open_run(teacher_run)
    settings = {**TEACHERS_OWN, "student_init": args.student_init, **overrides}
    if args.epochs:
        settings["epochs"] = args.epochs
    work.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copy2(source.path / name, work / name)
    save_run_config(
        work, replace(source.config, **settings), source.class_names
    )  # last: the copy is complete


def student_done(work: Path) -> bool:
    return (work / "student.pt").is_file() and not (work / "student" / "resume.pt").is_file()


def make_student(teacher_run: Path, work: Path, overrides: dict[str, Any], calib: Path, args) -> None:
    """Train, quantize and export one student in `work`, skipping what is done."""
    prepare(teacher_run, work, overrides, args)
    if not student_done(work):
        resume = ["--resume"] if (work / "student" / "resume.pt").is_file() else []
        darkedge("--quiet", "train", "--run", str(work), "--stage", "student", *resume)
    if not (work / "quant" / "report.json").is_file():
        qat = ["--max-steps", str(args.qat_max_steps)] if args.qat_max_steps else []
        darkedge("--quiet", "quantize", "--run", str(work), "--calib", str(calib), *qat)
    if not (work / "export" / "student_fp32.xml").is_file():
        darkedge("--quiet", "export", "--run", str(work), "--format", "openvino")


def stage_folder(run: Path, model: str) -> Path | None:
    """The folder holding a teacher run's `model`.pt: the run itself, or the copy bench_premise.py trains it in
    (<seed folder>/variants/<model>/, beside the run) for stages the default pipeline leaves out."""
    for folder in (run, run.resolve().parent / "variants" / model):
        if (folder / f"{model}.pt").is_file():
            return folder
    return None


def make_references(teacher_run: Path, work: Path) -> tuple[dict[str, Path], list[str]]:
    """The teacher's and two-stream's FP32 IRs, exported in a copy of the first teacher run (which stays as it is),
    and notes. A two-stream the teacher run did not train is timed untrained, as `darkedge bench` does."""
    from darkedge.bench.command import untrained_stand_in
    from darkedge.export.command import export_model

    source = open_run(teacher_run)
    if not (work / "config.json").is_file():
        work.mkdir(parents=True, exist_ok=True)
        for name in COPIED:
            shutil.copy2(source.path / name, work / name)
        for model in REFERENCES:
            folder = stage_folder(teacher_run, model)
            if folder is not None and not (work / f"{model}.pt").is_file():
                shutil.copy2(folder / f"{model}.pt", work / f"{model}.pt")
        save_run_config(work, source.config, source.class_names)  # last: the copy is complete
    reference, found, notes = open_run(work), {}, []
    for model in REFERENCES:
        run = reference
        if not (work / f"{model}.pt").is_file():
            run = untrained_stand_in(reference, model)
            notes.append(f"{model}: not trained beside {source.path}; timed untrained (no accuracy)")
        found[model] = run.path / "export" / f"{model}_fp32.xml"
        if not found[model].is_file():
            export_model(run, model, "openvino")
    return found, notes


def reference_accuracy(run: Path, model: str) -> dict[str, Any]:
    """The teacher's or two-stream's metrics in a teacher run (or its bench_premise.py copy); {} when untrained."""
    folder = stage_folder(run, model)
    return {} if folder is None else read_json(folder / "metrics.json", default={}).get(model, {})


def signed_int8_ir(work: Path) -> Path:
    """The INT8 student's IR as `darkedge export` wrote it before the ReLU outputs became unsigned: the
    fake-quantized model converted as it is (timed only, so it carries no metadata)."""
    path = work / "ablation" / "student_int8_signed.xml"
    if path.is_file():
        return path
    import openvino as ov
    import torch

    from darkedge.models import model_input_shape
    from darkedge.models.int8_checkpoint import load_run_int8_student

    model, ckpt = load_run_int8_student(open_run(work))
    shape = (1, *model_input_shape(ckpt))
    with torch.no_grad():
        converted = ov.convert_model(model.eval(), example_input=torch.rand(shape), input=[shape])
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(converted, str(path), compress_to_fp16=False)
    return path


def accuracy(work: Path) -> dict[str, float | None]:
    """Test top-1 of one trained student: FP32 (training's evaluation), PTQ and QAT INT8 (`darkedge quantize`)."""
    report = read_json(work / "quant" / "report.json", default={})
    models = report.get("models", {})

    def top1(name: str) -> float | None:
        return (models.get(name, {}).get("accuracy") or {}).get("top1")

    metrics = read_json(work / "metrics.json", default={}).get("student", {})
    return {
        "fp32": metrics.get("top1"),
        "ptq_int8": top1("ptq_int8"),
        "int8": top1("qat_kd_int8"),
        "macs": metrics.get("macs"),
        "params": metrics.get("params"),
        "protocol": report.get("protocol"),
    }


def timing(paths: dict[str, Path], args) -> dict[str, Any]:
    """p50 per call of every model, side by side in turns, at batch 1 and at args.batch, in fresh processes."""
    protocol = TimingProtocol(min_runs=100, min_time_s=args.min_time, warmup_s=1.0, max_time_s=300.0)
    repeats = {"batch1": [], "batch": []}
    for repeat in range(args.repeats):
        for key, batch in (("batch1", None), ("batch", args.batch)):
            result = in_subprocess(
                measure_interleaved, paths, "openvino", args.threads, protocol, None, batch
            )
            repeats[key].append({name: stats["p50_ms"] for name, stats in result.items()})
        summary = ", ".join(f"{n} {p:.3f}" for n, p in repeats["batch1"][-1].items())
        print(
            f"timing {repeat + 1}/{args.repeats}, p50 ms at batch 1: {summary}", file=sys.stderr, flush=True
        )
    return repeats


def paired(repeats: list[dict[str, float]], a: str, b: str) -> float:
    """Median over repeats of a's p50 / b's p50, each pair timed side by side in the same repeat."""
    return statistics.median(r[a] / r[b] for r in repeats)


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(students: dict[str, list[dict]], references: dict[str, list[dict]], times, sizes, costs, args):
    """One row per student and reference, the targets, and the students on the frontier."""
    batch1 = times["batch1"]
    p50 = {name: statistics.median(r[name] for r in batch1) for name in batch1[0]}
    per_batch = {name: statistics.median(r[name] for r in times["batch"]) for name in times["batch"][0]}
    two_stream = "two_stream_fp32" in p50
    rows = []
    for name, seeds in students.items():
        int8, fp32 = f"{name}_int8", f"{name}_fp32"
        top1, std = _mean_std([s["int8"] for s in seeds])
        rows.append(
            {
                "name": name,
                "what": STUDENTS[name][1],
                "settings": STUDENTS[name][0],
                "seeds": len(seeds),
                "top1_int8": top1,
                "top1_int8_std": std,
                "top1_fp32": _mean_std([s["fp32"] for s in seeds])[0],
                "top1_ptq_int8": _mean_std([s["ptq_int8"] for s in seeds])[0],
                "per_seed": seeds,
                "macs": costs[name]["macs_per_clip"],
                "params": costs[name]["parameters"],
                "input_shape": costs[name]["input_shape"],
                "int8_mb": sizes[int8],
                "p50_int8_ms": p50[int8],
                "p50_fp32_ms": p50[fp32],
                "int8_speedup_vs_fp32": paired(batch1, fp32, int8),
                "speedup_vs_two_stream_fp32": paired(batch1, "two_stream_fp32", int8) if two_stream else None,
                "clips_per_s_int8": 1000 * args.batch / per_batch[int8],
                "clips_per_s_fp32": 1000 * args.batch / per_batch[fp32],
            }
        )
    reference_rows = []
    for model, seeds in references.items():
        name = f"{model}_fp32"
        top1, std = _mean_std([s.get("top1") for s in seeds])
        reference_rows.append(
            {
                "name": name,
                "what": REFERENCES[model],
                "top1_fp32": top1,
                "top1_fp32_std": std,
                "macs": costs[model]["macs_per_clip"],
                "params": costs[model]["parameters"],
                "input_shape": costs[model]["input_shape"],
                "p50_fp32_ms": p50[name],
                "speedup_vs_two_stream_fp32": paired(batch1, "two_stream_fp32", name) if two_stream else None,
                "clips_per_s_fp32": 1000 * args.batch / per_batch[name],
            }
        )
    return rows, reference_rows, p50


def frontier(rows: list[dict]) -> list[str]:
    """Students no other student beats on both INT8 latency and INT8 top-1, fastest first."""
    scored = [r for r in rows if r["top1_int8"] is not None]
    best = []
    for r in sorted(scored, key=lambda r: (r["p50_int8_ms"], -r["top1_int8"])):
        if not best or r["top1_int8"] > best[-1]["top1_int8"]:
            best.append(r)
    return [r["name"] for r in best]


def targets(rows: list[dict], p50: dict[str, float]) -> list[dict]:
    """Issue 15's targets on this CPU."""
    by_name = {r["name"]: r for r in rows}
    results = []
    default = by_name.get("default")
    if default and default["top1_int8"] is not None and "two_stream_fp32" in p50:
        fast = [
            r
            for r in rows
            if r["name"] != "default"
            and r["top1_int8"] is not None
            and r["speedup_vs_two_stream_fp32"] >= 15
            and r["top1_int8"] >= default["top1_int8"] - 2
        ]
        pick = max(fast, key=lambda r: r["speedup_vs_two_stream_fp32"], default=None)
        value = (
            f"{pick['name']}: {pick['speedup_vs_two_stream_fp32']:.1f}x, top-1 "
            f"{pick['top1_int8'] - default['top1_int8']:+.1f} points"
            if pick
            else "none"
        )
        results.append(
            {
                "target": "a student >= 15x faster than two-stream FP32 (INT8, p50) within 2 points of the default "
                "student's INT8 top-1",
                "value": value,
                "met": pick is not None,
            }
        )
    if default:
        ratio = default["int8_speedup_vs_fp32"]
        results.append(
            {
                "target": "default student: INT8 >= 2x faster than FP32 (p50, batch 1)",
                "value": f"{ratio:.2f}x",
                "met": ratio >= 2.0,
            }
        )
    return results


def plot(result: dict, path: Path) -> None:
    """Top-1 against INT8 latency (log scale) at batch 1, and against throughput at the batch; references as FP32."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    on_frontier = set(result["frontier"])
    for ax, key, ref_key, label in (
        (axes[0], "p50_int8_ms", "p50_fp32_ms", "p50 latency per clip at batch 1, ms (log)"),
        (axes[1], "clips_per_s_int8", "clips_per_s_fp32", f"clips/s at batch {result['batch']} (log)"),
    ):
        front = sorted(
            (r for r in result["students"] if r["name"] in on_frontier), key=lambda r: r["p50_int8_ms"]
        )
        if len(front) > 1:
            ax.plot(
                [r[key] for r in front], [r["top1_int8"] for r in front], "-", color="tab:green", alpha=0.4
            )
        for r in result["students"]:
            if r["top1_int8"] is None:
                continue
            colour = "tab:blue" if r["name"].startswith("x3d") else "tab:green"
            ax.errorbar(
                r[key], r["top1_int8"], yerr=r["top1_int8_std"] or 0, fmt="*", ms=13, color=colour, capsize=3
            )
            ax.annotate(
                r["name"], (r[key], r["top1_int8"]), textcoords="offset points", xytext=(6, 4), fontsize=8
            )
        for r in result["references"]:  # a line at the reference's speed, a dot where its accuracy is known
            ax.axvline(r[ref_key], color="tab:red", alpha=0.35, ls="--")
            ax.annotate(
                f"{r['name']}", (r[ref_key], 0.02), xycoords=("data", "axes fraction"), rotation=90,
                fontsize=8, color="tab:red", xytext=(-10, 0), textcoords="offset points",
            )  # fmt: skip
            if r["top1_fp32"] is not None:
                ax.errorbar(
                    r[ref_key], r["top1_fp32"], yerr=r["top1_fp32_std"] or 0, fmt="o", ms=9, color="tab:red"
                )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("top-1 % (mean ± std over seeds)")
        ax.grid(alpha=0.3, which="both")
    two_stream = next((r for r in result["references"] if r["name"] == "two_stream_fp32"), None)
    if two_stream:  # issue 15's target: 15x faster than two-stream FP32
        axes[0].axvline(two_stream["p50_fp32_ms"] / 15, color="grey", ls=":")
        axes[0].annotate(
            "15x two-stream", (two_stream["p50_fp32_ms"] / 15, 0.98), xycoords=("data", "axes fraction"),
            rotation=90, fontsize=8, color="grey", va="top", xytext=(-10, 0), textcoords="offset points",
        )  # fmt: skip
    axes[0].set_title("accuracy vs latency (* INT8 students, -- FP32 references)")
    axes[1].set_title("accuracy vs throughput")
    fig.suptitle(f"OpenVINO, {result['threads']} threads, {result['machine']['cpu']}", fontsize=9)
    save_figure(fig, path, dpi=110)


def _n(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _mean_pm(mean: float | None, std: float | None) -> str:
    return "-" if mean is None else f"{mean:.1f} ± {std:.1f}"


def markdown(result: dict) -> str:
    """The committed report."""
    machine = result["machine"]
    b = result["batch"]
    clip = lambda r: f"{r['input_shape'][2]} x {r['input_shape'][3]} px"  # noqa: E731
    lines = [
        "# Students sized for the box: accuracy against INT8 latency (issue 15)",
        "",
        f"Teachers: {len(result['teacher_runs'])} run(s), one per seed ({', '.join(result['teacher_runs'])}). "
        f"Each student trained {result['epochs']} with distillation (student_init {result['student_init']}), then "
        "`darkedge quantize` (PTQ + "
        f"QAT with distillation). Top-1 on the test split of the built-in data ({result['protocol']}), mean ± std "
        f"over seeds. Latency: OpenVINO {machine['libraries'].get('openvino')}, {result['threads']} threads, p50 "
        f"per clip, every model loaded side by side and timed in turns, median over {result['repeats']} fresh "
        f"processes; throughput at batch {b}. {machine['cpu']} ({machine['logical_cores']} cores, "
        f"{' '.join(machine['cpu_flags'])}); 1-min load average {machine['load_average_1min']:.1f} at the end; "
        f"{result['created']}.",
        "",
        f"| student | what | clip | MACs | params | INT8 MB | top-1 INT8 | top-1 FP32 | p50 INT8 ms | p50 FP32 ms | "
        f"INT8 / FP32 | x vs two-stream FP32 | clips/s INT8 (batch {b}) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["students"]:
        top1 = _mean_pm(r["top1_int8"], r["top1_int8_std"])
        lines.append(
            f"| {r['name']}{' (frontier)' if r['name'] in result['frontier'] else ''} | {r['what']} | {clip(r)} | "
            f"{r['macs'] / 1e6:.1f} M | {r['params'] / 1e3:.0f} k | {r['int8_mb']:.2f} | {top1} | "
            f"{_n(r['top1_fp32'], 1)} | {r['p50_int8_ms']:.3f} | {r['p50_fp32_ms']:.3f} | "
            f"{r['int8_speedup_vs_fp32']:.2f}x | {_n(r['speedup_vs_two_stream_fp32'], 1, 'x')} | "
            f"{r['clips_per_s_int8']:.0f} |"
        )
    for r in result["references"]:
        top1 = _mean_pm(r["top1_fp32"], r["top1_fp32_std"])
        lines.append(
            f"| {r['name']} | {r['what']}, FP32 | {clip(r)} | {r['macs'] / 1e6:.1f} M | {r['params'] / 1e3:.0f} k | "
            f"- | - | {top1} | - | {r['p50_fp32_ms']:.3f} | - | {_n(r['speedup_vs_two_stream_fp32'], 1, 'x')} | "
            f"{r['clips_per_s_fp32']:.0f} (FP32) |"
        )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |" for t in result["targets"]]
    lines += [
        "",
        "## Which student for which box",
        "",
        "The students on the frontier (none of the others is both faster and more accurate), fastest first: pick the "
        "most accurate one whose latency fits the time a box has per clip and camera (the throughput column: how "
        "many cameras' clips one box classifies per second).",
        "",
    ]
    by_name = {r["name"]: r for r in result["students"]}
    for name in result["frontier"]:
        r = by_name[name]
        lines.append(
            f"- `{name}` ({r['what']}): {r['p50_int8_ms']:.3f} ms, {r['clips_per_s_int8']:.0f} clips/s at batch {b}, "
            f"top-1 {r['top1_int8']:.1f}; settings `{r['settings'] or 'none (the defaults)'}`"
        )
    ablation = result.get("ablation")
    if ablation:
        lines += [
            "",
            "## Why INT8 pays off now (default student)",
            "",
            f"The same run, batch 1, p50: FP32 {ablation['fp32_ms']:.3f} ms; INT8 with the quantizers after ReLUs "
            f"signed, as TensorRT needs them and as the IR was before {ablation['signed_ms']:.3f} ms "
            f"({ablation['fp32_ms'] / ablation['signed_ms']:.2f}x); INT8 as `darkedge export` writes it now, unsigned "
            f"after ReLUs {ablation['unsigned_ms']:.3f} ms ({ablation['fp32_ms'] / ablation['unsigned_ms']:.2f}x). "
            "OpenVINO's per-layer counters (mean per inference):",
            "",
        ]
        lines += [text + "\n" for text in ablation["profiles"]]
    lines += [f"- {note}" for note in result["notes"]]
    lines += [
        "",
        "Timings on a machine shared with other work are indicative: read the ratios (timed side by side) rather "
        "than the absolute milliseconds. TensorRT (Jetson) is not measured here; every student is convolution + "
        "BatchNorm + ReLU, and its Q/DQ ONNX passes the int8 / zero-point-0 check TensorRT needs.",
        "",
        f"Command: `{result['command']}`",
        "",
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items()),
        "",
        "Per seed (INT8 top-1 / FP32 top-1):",
        "",
    ]
    for r in result["students"]:
        seeds = ", ".join(f"{_n(s['int8'], 1)} / {_n(s['fp32'], 1)}" for s in r["per_seed"])
        lines.append(f"- {r['name']}: {seeds}")
    return "\n".join(lines) + "\n"


LITE_START, LITE_END = "<!-- lite-latency -->", "<!-- /lite-latency -->"


def lite_latency(args) -> None:
    """--lite-latency: the EfficientNet-Lite0 students against the references, written into frontier.md."""
    import tempfile

    from darkedge.bench.preset_models import make_preset_models

    protocol = TimingProtocol(min_time_s=args.min_time)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        setups = {
            "small preset, 8 x 48 px": ("small", {"student_encoder": "effnet_lite0"}),
            "real-footage preset, 4 x 96 px": ("real", {}),
        }
        for label, (preset, overrides) in setups.items():
            folder = Path(tmp) / preset
            made = make_preset_models(preset, folder, int8_models=("student",), **overrides)
            paths = {
                name: made[name][0]
                for name in ("student_int8", "student_fp32", "teacher_fp32", "two_stream_fp32")
            }
            if preset == "small":  # the default student beside it, at the same clips
                default = make_preset_models("small", Path(tmp) / "default", int8_models=("student",))
                paths["default_student_int8"] = default["student_int8"][0]
            timed = in_subprocess(measure_interleaved, paths, "openvino", args.threads, protocol)
            p50 = {name: t["p50_ms"] for name, t in timed.items()}
            rows.append((label, p50))
    lines = [
        LITE_START,
        "## EfficientNet-Lite0 students: latency",
        "",
        "The pretrained edge encoder (darkedge.models.efficientnet_lite: EfficientNet-Lite0 per frame with a temporal "
        "shift, mean head), timed side by side with the references on random weights (OpenVINO, batch 1, "
        f"{args.threads} threads, INT8 by NNCF PTQ; p50 ms; the ratios are the point: this section was measured on "
        "another machine than the tables above):",
        "",
        "| clips | Lite0 student INT8 | Lite0 student FP32 | INT8 / FP32 | two-stream FP32 | two-stream / Lite0 INT8 | enhance-then-classify FP32 | default student INT8 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, p50 in rows:
        default = f"{p50['default_student_int8']:.2f}" if "default_student_int8" in p50 else "-"
        lines.append(
            f"| {label} | {p50['student_int8']:.2f} | {p50['student_fp32']:.2f} | "
            f"{p50['student_fp32'] / p50['student_int8']:.2f}x | {p50['two_stream_fp32']:.2f} | "
            f"{p50['two_stream_fp32'] / p50['student_int8']:.1f}x | {p50['teacher_fp32']:.2f} | {default} |"
        )
    machine = machine_info()
    lines += [
        "",
        "At the real-footage preset the teacher and both two-stream streams are EfficientNet-Lite0 as well (the "
        "preset's encoder); at the small preset they are the default R(2+1)D nano, and the Lite0 student is the one "
        "`--set student_encoder=effnet_lite0` trains.",
        "",
        f"Produced by `python benchmarks/bench_frontier.py --lite-latency` on {time.strftime('%Y-%m-%d')}: "
        f"{machine['cpu']}, {machine['usable_cores']} usable cores, load average {machine['load_average_1min']:.1f}; "
        + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items()),
        LITE_END,
    ]
    path = args.results / "frontier.md"
    text = path.read_text() if path.is_file() else ""
    if LITE_START in text:
        text = text[: text.index(LITE_START)] + text[text.index(LITE_END) + len(LITE_END) :].lstrip("\n")
    write_text(path, text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lite-latency", action="store_true", help="only the EfficientNet-Lite0 latency section"
    )
    parser.add_argument("--runs", type=Path, nargs="+", help="teacher runs, one per seed")
    parser.add_argument("--students", nargs="+", default=list(STUDENTS), choices=list(STUDENTS))
    parser.add_argument("--out", type=Path, default=Path("runs/frontier"), help="work folder (resumable)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--epochs", type=int, default=None, help="student epochs (default: the teacher run's)"
    )
    parser.add_argument("--student-init", default="scratch", choices=["scratch", "teacher"])
    parser.add_argument(
        "--qat-max-steps", type=int, default=0, help="stop QAT after N steps (0: quantize's default)"
    )
    parser.add_argument("--calib-clips", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=4.0)
    parser.add_argument(
        "--train-only",
        action="store_true",
        help="train, quantize and export the --students, then stop (two of these can share the work folder, each "
        "with its own students, on a core each; a last run without it times them all)",
    )
    args = parser.parse_args()
    if args.lite_latency:
        lite_latency(args)
        return
    if not args.runs:
        parser.error("--runs is required (or --lite-latency)")
    if "default" not in args.students and not args.train_only:
        args.students.insert(0, "default")  # every target is relative to it
    started = time.time()
    runs = [open_run(r) for r in args.runs]
    seeds = [r.config.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        parser.error(f"--runs: two runs of the same seed ({seeds})")

    calib = args.out / "calibration"
    if not (calib / "calib_list.txt").is_file():
        source = runs[0].config
        root = ["--video-root", source.video_root] if source.video_root else []
        darkedge(
            "calib",
            "build",
            "--data",
            source.data,
            *root,
            "--out",
            str(calib),
            "--clips",
            str(args.calib_clips),
        )
    jobs = [
        (run, name) for run in runs for name in args.students
    ]  # seed by seed: a whole frontier comes first
    for i, (run, name) in enumerate(jobs):
        work = args.out / name / f"seed{run.config.seed}"
        print(
            f"[{i + 1}/{len(jobs)}] {name}, seed {run.config.seed} ({(time.time() - started) / 60:.0f} min so far)",
            file=sys.stderr,
            flush=True,
        )
        make_student(run.path, work, STUDENTS[name][0], calib, args)
    if args.train_only:
        return

    from darkedge.bench.command import static_costs
    from darkedge.export.openvino import size_on_disk

    first = args.out / "{}" / f"seed{seeds[0]}"
    paths: dict[str, Path] = {}
    costs: dict[str, dict] = {}
    for name in args.students:
        work = Path(str(first).format(name))
        paths[f"{name}_int8"] = work / "export" / f"{INT8_NAME}.xml"
        paths[f"{name}_fp32"] = work / "export" / "student_fp32.xml"
        costs[name] = static_costs(work / "student.pt")
    reference_files, notes = make_references(runs[0].path, args.out / "reference")
    for model, path in reference_files.items():
        paths[f"{model}_fp32"] = path
        costs[model] = static_costs(path.parent.parent / f"{model}.pt")
    default_work = Path(str(first).format("default"))
    paths["default_int8_signed"] = signed_int8_ir(default_work)
    times = timing(paths, args)

    from darkedge.bench.profile import openvino_profile, profile_text

    profiles = [
        profile_text(in_subprocess(openvino_profile, paths[name], args.threads))
        for name in ("default_int8", "default_int8_signed", "default_fp32")
    ]
    students = {name: [accuracy(args.out / name / f"seed{s}") for s in seeds] for name in args.students}
    references = {model: [reference_accuracy(r.path, model) for r in runs] for model in reference_files}
    sizes = {name: size_on_disk(path) / 2**20 for name, path in paths.items()}
    rows, reference_rows, p50 = summarise(students, references, times, sizes, costs, args)
    first_protocol = next((s["protocol"] for s in students["default"] if s["protocol"]), "?")
    result = {
        "schema_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": shlex.join(["python", *sys.argv]),
        "teacher_runs": [str(r.path) for r in runs],
        "epochs": f"{args.epochs} epochs"
        if args.epochs
        else f"{runs[0].config.epochs} epochs (the teacher's)",
        "protocol": first_protocol,
        "student_init": args.student_init,
        "threads": args.threads,
        "batch": args.batch,
        "repeats": args.repeats,
        "machine": machine_info(),
        "students": rows,
        "references": reference_rows,
        "frontier": frontier(rows),
        "targets": targets(rows, p50),
        "p50_ms_per_repeat": times,
        "ablation": {
            "fp32_ms": p50["default_fp32"],
            "signed_ms": p50["default_int8_signed"],
            "unsigned_ms": p50["default_int8"],
            "profiles": profiles,
        },
        "notes": notes,
        "minutes": round((time.time() - started) / 60, 1),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    write_json(args.results / "frontier.json", result)
    write_text(args.results / "frontier.md", markdown(result))
    plot(result, args.results / "frontier.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
