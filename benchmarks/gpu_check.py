"""The Python half of benchmarks/gpu_check.sh: machine facts, random-weight runs to time, and the report.

    python benchmarks/gpu_check.py machine --work DIR            # DIR/machine.json: GPU, driver, CUDA, versions
    python benchmarks/gpu_check.py random-run --preset paper OUT  # a run directory of untrained checkpoints
    python benchmarks/gpu_check.py report --work DIR --out DIR    # gpu.md and gpu.json from what the parts left

The shell script runs each part as its own process with its own time limit and records its exit status and
seconds in DIR/parts.tsv; the report reads whatever the parts wrote, so a part that failed, timed out or was
skipped leaves a line under "Unmeasured" instead of a number.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Parts in the order gpu_check.sh runs them, and what each measures (the report's vocabulary).
PARTS = {
    "machine": "machine and versions",
    "data": "built-in data set generated on this machine",
    "pipeline": "default `darkedge train` on CUDA (seed 0, alone): wall time and per-stage data wait",
    "latency": "GPU latency table (paper-preset shape, random weights): FP32 and bf16 autocast",
    "paper": "paper preset (ViT-S/16 + BERT) training throughput, one epoch of one stage",
    "loader": "the training loader alone: clips/s by worker count",
    "premise": "seeds 1 and 2 of the pipeline as parallel processes (3-seed premise with seed 0)",
    "qat": "`darkedge quantize` (NNCF QAT) on CUDA",
    "graphs": "GPU latency with CUDA graphs (bf16)",
    "recipe": "paper preset teacher from scratch under the candidate recipe (opt-in, long)",
}


def machine(work: Path) -> None:
    """Write WORK/machine.json: GPUs, driver, CUDA, CPU, library versions (and whether CUDA is usable)."""
    import torch

    from darkedge.bench.machine import machine_info

    info = machine_info()
    info["torch_cuda"] = torch.version.cuda
    info["cuda_available"] = torch.cuda.is_available()
    info["nvcc"] = shutil.which("nvcc")
    smi = shutil.which("nvidia-smi")
    if smi:
        query = "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit"
        done = subprocess.run([smi, query, "--format=csv,noheader"], capture_output=True, text=True)
        info["nvidia_smi"] = done.stdout.strip() or done.stderr.strip()
    (work / "machine.json").write_text(json.dumps(info, indent=2))
    print(json.dumps({k: info[k] for k in ("gpus", "cuda_available", "torch_cuda", "nvcc")}))


def random_run(preset: str, out: Path) -> None:
    """A run directory holding untrained student, teacher, two-stream and enhancer checkpoints of `preset`
    (latency does not depend on the weights), for `darkedge bench`."""
    import torch

    from darkedge.bench.preset_models import preset_configs
    from darkedge.checkpoint import save_checkpoint
    from darkedge.config import make_config
    from darkedge.data.synth.actions import CLASSES
    from darkedge.models import build_model
    from darkedge.names import STAGE_KINDS
    from darkedge.run import save_run_config

    out.mkdir(parents=True, exist_ok=True)
    save_run_config(out, make_config(preset), list(CLASSES))
    for name, config in preset_configs(preset).items():
        torch.manual_seed(0)
        model = build_model(STAGE_KINDS[name], config, load_pretrained=False)
        kind = STAGE_KINDS[name]
        save_checkpoint(
            out / f"{name}.pt", kind=kind, config=config, state_dict=model.state_dict(), class_names=CLASSES
        )
        if name == "teacher":
            enhancer = config["enhancer"]
            save_checkpoint(
                out / "enhancer.pt", kind="enhancer", config=enhancer, state_dict=model.enhancer.state_dict()
            )
    print(out)


# ---- the report -------------------------------------------------------------------------------------------------


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_parts(work: Path) -> dict[str, dict[str, Any]]:
    """WORK/parts.tsv: name, exit status (124: timed out; "skip:reason" when not run), seconds, limit."""
    parts = {}
    path = work / "parts.tsv"
    for line in path.read_text().splitlines() if path.is_file() else []:
        name, status, seconds, limit = line.split("\t")
        parts[name] = {"status": status, "seconds": float(seconds), "limit": float(limit)}
    return parts


def describe(part: dict[str, Any] | None) -> str:
    """A part's outcome in words."""
    if part is None:
        return "not run"
    status = part["status"]
    if status.startswith("skip:"):
        return f"skipped: {status[5:]}"
    if status == "0":
        return "ok"
    if status in ("124", "137"):
        return f"timed out after {part['limit']:.0f} s"
    return f"failed (exit {status})"


def run_summary(run: Path) -> dict[str, Any] | None:
    """A trained run's metrics per stage and, per classifier stage, its epochs' seconds and data-wait figures."""
    metrics = _json(run / "metrics.json")
    if not isinstance(metrics, dict):
        return None
    stages = {}
    for name, m in metrics.items():
        if not isinstance(m, dict):
            continue
        history = _json(run / name / "history.json")
        entry: dict[str, Any] = {"top1": m.get("top1")}
        if isinstance(history, list) and history:
            loaders = [e.get("loader") or {} for e in history]
            wait = sum(x.get("data_wait_s", 0.0) for x in loaders)
            compute = sum(x.get("compute_s", 0.0) for x in loaders)
            seen = sum(e.get("train_clips", 0) for e in history)
            entry.update(
                epochs=len(history),
                seconds=round(sum(e["seconds"] for e in history), 1),
                workers=loaders[-1].get("workers"),
                first_batch_s=round(sum(x.get("first_batch_s", 0.0) for x in loaders), 2),
                data_wait_s=round(wait, 2),
                compute_s=round(compute, 2),
                wait_share=round(wait / (wait + compute), 3) if wait + compute > 0 else None,
                step_clips_per_s=round(seen / compute, 1) if compute > 0 else None,
                final_train_loss=history[-1].get("train_loss"),
            )
        elif isinstance(m.get("seconds"), int | float):
            entry["seconds"] = round(m["seconds"], 1)
        stages[name] = entry
    return {"run": str(run.resolve()), "stages": stages}


def collect(work: Path) -> dict[str, Any]:
    """Everything the parts left in WORK, as plain data."""
    runs = {}
    for seed_dir in sorted((work / "runs").glob("seed*")):
        summary = run_summary(seed_dir / "latest")
        if summary:
            runs[seed_dir.name] = summary
    quant = _json(work / "runs" / "seed0" / "latest" / "quant" / "report.json")
    return {
        "machine": _json(work / "machine.json"),
        "parts": read_parts(work),
        "runs": runs,
        "loader": {p: _json(work / "loader" / p / "workers_loader.json") for p in ("small", "paper")},
        "latency": _json(work / "latency" / "bench" / "bench.json"),
        "graphs": _json(work / "graphs" / "bench" / "bench.json"),
        "paper": run_summary(work / "paper" / "latest"),
        "recipe": run_summary(work / "recipe" / "latest"),
        "quant": quant,
        "qat_log": _tail(work / "qat.log", 3),
    }


def _tail(path: Path, lines: int) -> list[str]:
    return path.read_text(errors="replace").splitlines()[-lines:] if path.is_file() else []


def _fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _stage_table(summary: dict[str, Any]) -> list[str]:
    lines = [
        "| stage | top-1 % | epochs | seconds | workers | first batch s | data wait s | compute s | wait share | step clips/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in summary["stages"].items():
        share = s.get("wait_share")
        lines.append(
            f"| {name} | {_fmt(s.get('top1'), 2)} | {s.get('epochs', '-')} | {_fmt(s.get('seconds'))} | "
            f"{s.get('workers', '-')} | {_fmt(s.get('first_batch_s'), 2)} | {_fmt(s.get('data_wait_s'), 2)} | "
            f"{_fmt(s.get('compute_s'), 2)} | {'-' if share is None else f'{100 * share:.0f} %'} | "
            f"{_fmt(s.get('step_clips_per_s'))} |"
        )
    return lines


def _bench_table(bench: dict[str, Any]) -> list[str]:
    lines = [
        "| model | design | p50 ms | p90 ms | clips/s (batch) | GPU MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for m in bench["models"]:
        t = m.get("throughput") or {}
        memory = m["memory"].get("gpu_peak_mb", m["memory"].get("peak_rss_mb"))
        lines.append(
            f"| {m['name']} | {m['design']} | {m['latency']['p50_ms']:.2f} | {m['latency']['p90_ms']:.2f} | "
            f"{_fmt(t.get('clips_per_s'))} ({t.get('batch', '-')}) | {_fmt(memory, 0)} |"
        )
    shape = bench["models"][0]["input_shape"] if bench["models"] else "?"
    lines += [
        "",
        f"Input {tuple(shape)} per clip at batch 1; device {bench.get('device')}; notes: {'; '.join(bench.get('notes', [])) or 'none'}.",
    ]
    return lines


def markdown(data: dict[str, Any], dry_run: bool) -> str:
    """gpu.md: what ran, the figures the issue asks for, and what stayed unmeasured."""
    machine = data["machine"] or {}
    parts = data["parts"]
    gpus = machine.get("gpus") or []
    gpu = (
        f"{gpus[0]['name']} ({gpus[0]['memory_gb']} GB, compute {gpus[0]['capability']})"
        if gpus
        else "no CUDA GPU"
    )
    libraries = machine.get("libraries", {})
    lines = ["# darkedge on a GPU: benchmarks/gpu_check.sh", ""]
    if dry_run:
        lines += ["**Dry run on the CPU at the test preset: the plumbing, not a measurement.**", ""]
    lines += [
        f"Created {time.strftime('%Y-%m-%d %H:%M')}. GPU: {gpu}; driver / nvidia-smi: {machine.get('nvidia_smi', '-')}; "
        f"torch CUDA {machine.get('torch_cuda')}, nvcc {machine.get('nvcc') or 'absent'}. CPU: {machine.get('cpu', '?')}, "
        f"{machine.get('usable_cores', '?')} usable cores, {machine.get('memory_gb', '?')} GB.",
        "Libraries: "
        + ", ".join(f"{k} {v}" for k, v in libraries.items())
        + f"; Python {machine.get('python', '?')}.",
        "",
        "| part | what | outcome | seconds | limit |",
        "|---|---|---|---:|---:|",
    ]
    for name, what in PARTS.items():
        part = parts.get(name)
        seconds = "-" if part is None or part["status"].startswith("skip:") else f"{part['seconds']:.0f}"
        limit = "-" if part is None else f"{part['limit']:.0f}"
        lines.append(f"| {name} | {what} | {describe(part)} | {seconds} | {limit} |")
    total = sum(p["seconds"] for p in parts.values() if not p["status"].startswith("skip:"))
    lines += ["", f"All parts: {total:.0f} s.", ""]

    seed0 = data["runs"].get("seed0")
    lines += ["## The default pipeline on CUDA", ""]
    if seed0 and parts.get("pipeline"):
        wall = parts["pipeline"]["seconds"]
        lines += [
            f"`darkedge train` (default preset, seed 0, alone on the machine), data generation excluded: "
            f"**{wall:.0f} s** wall ({describe(parts['pipeline'])}; target: under 120 s). Per stage (history.json):",
            "",
            *_stage_table(seed0),
            "",
            "Data wait: seconds the training loop waited for the loader's next batch after the first; compute: the rest, "
            "up to the GPU finishing the epoch. The first batch includes starting the workers.",
            "",
        ]
    else:
        lines += ["Not measured.", ""]

    lines += ["## Data loading: the loader alone against the step", ""]
    rows = []
    for preset, loader in data["loader"].items():
        for r in (loader or {}).get("loader", []):
            rows.append(f"| {preset} | {r['workers']} | {r['workers_used']} | {r['clips_per_s']:.1f} |")
    if rows:
        lines += ["| preset | workers | used | loader alone, clips/s |", "|---|---|---:|---:|", *rows, ""]
        steps = [
            f"{source} {name} {s['step_clips_per_s']}"
            for source, summary in (("pipeline", seed0), ("paper", data["paper"]))
            if summary
            for name, s in summary["stages"].items()
            if s.get("step_clips_per_s")
        ]
        lines += [
            f"Against the step (clips/s of compute alone, history.json): {', '.join(steps) or '-'}. The loader keeps "
            "up where its rate is above the step's.",
            "",
        ]
    else:
        lines += ["Not measured.", ""]

    lines += ["## Premise over three seeds", ""]
    if len(data["runs"]) > 1:
        stages = [s for s in seed0["stages"] if s != "enhancer"] if seed0 else []
        lines += [
            "Seed 0 is the pipeline above; seeds 1 and 2 ran at the same time as two processes. Top-1 (%):",
            "",
            "| seed | " + " | ".join(stages) + " |",
            "|---|" + "---:|" * len(stages),
        ]
        for seed, summary in data["runs"].items():
            lines.append(
                f"| {seed} | "
                + " | ".join(_fmt(summary["stages"].get(s, {}).get("top1"), 2) for s in stages)
                + " |"
            )
        means = []
        for s in stages:
            values = [
                r["stages"][s]["top1"]
                for r in data["runs"].values()
                if r["stages"].get(s, {}).get("top1") is not None
            ]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            means.append(f"{statistics.mean(values):.2f} ± {std:.2f}" if values else "-")
        lines += ["| mean ± std | " + " | ".join(means) + " |", ""]
        if parts.get("premise"):
            lines += [
                f"Seeds 1 and 2 in parallel: {parts['premise']['seconds']:.0f} s wall ({describe(parts['premise'])}).",
                "",
            ]
    else:
        lines += ["Not measured.", ""]

    lines += ["## GPU latency (PyTorch eager, random weights, paper preset shape)", ""]
    lines += (_bench_table(data["latency"]) if data["latency"] else ["Not measured."]) + [""]
    if data["graphs"]:
        lines += ["With CUDA graphs (bf16):", "", *_bench_table(data["graphs"]), ""]

    lines += ["## Paper preset training throughput", ""]
    paper = data["paper"]
    if paper and paper["stages"]:
        lines += _stage_table(paper) + [""]
    else:
        lines += ["Not measured.", ""]
    if data["recipe"]:
        lines += ["## Paper preset from scratch, candidate recipe", "", *_stage_table(data["recipe"]), ""]

    lines += ["## QAT on CUDA", ""]
    quant = data["quant"]
    if quant:
        qat = quant.get("qat", {})
        acc = {k: (v.get("accuracy") or {}).get("top1") for k, v in quant.get("models", {}).items()}
        loader = qat.get("loader") or {}
        lines += [
            f"QAT ran on **{qat.get('device', '?')}**: {qat.get('steps')} steps ({describe(parts.get('qat'))}, "
            f"{parts.get('qat', {}).get('seconds', 0):.0f} s with PTQ and evaluation), {loader.get('workers')} "
            f"workers, data wait {_fmt(loader.get('data_wait_s'), 2)} s against compute "
            f"{_fmt(loader.get('compute_s'), 2)} s; top-1 FP32 {acc.get('student_fp32')}, PTQ {acc.get('ptq_int8')}, "
            f"QAT-KD {acc.get('qat_kd_int8')}.",
            "",
        ]
    else:
        lines += [f"Not measured ({describe(parts.get('qat'))}).", ""]
    fallback = [line for line in data["qat_log"] if "falls back" in line]
    if fallback:
        lines += ["```", *fallback, "```", ""]

    unmeasured = [
        f"- {name}: {PARTS[name]} ({describe(parts.get(name))})"
        for name in PARTS
        if describe(parts.get(name)) != "ok"
    ]
    lines += ["## Unmeasured", "", *(unmeasured or ["- nothing: every part finished."]), ""]
    lines += ["Logs of each part: `$GPU_CHECK_WORK/<part>.log` on the machine that ran it."]
    return "\n".join(lines) + "\n"


def report(work: Path, out: Path, dry_run: bool) -> None:
    """Write OUT/gpu.md and OUT/gpu.json from WORK."""
    from darkedge.fileio import write_json, write_text

    data = collect(work)
    data["dry_run"] = dry_run
    write_json(out / "gpu.json", data)
    write_text(out / "gpu.md", markdown(data, dry_run))
    print(out / "gpu.md")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("machine")
    m.add_argument("--work", type=Path, required=True)
    r = sub.add_parser("random-run")
    r.add_argument("--preset", default="paper")
    r.add_argument("out", type=Path)
    p = sub.add_parser("report")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if args.command == "machine":
        machine(args.work)
    elif args.command == "random-run":
        random_run(args.preset, args.out)
    else:
        report(args.work, args.out, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
