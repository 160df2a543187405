"""Quantization benchmark on a trained run: calibration-set size, PTQ vs QAT-with-distillation, runtime agreement.

    python benchmarks/bench_quant.py --run runs/latest [--sizes 8,16,32,64] [--qat-epochs 2]
    python benchmarks/bench_quant.py --run runs/premise/seed0/latest --seed-runs runs/premise/seed{1,2}/latest

1. PTQ top-1 on the test split for calibration sets of several sizes (built by `calib build` logic, seed 0).
2. `darkedge quantize` (PTQ from --calib-clips clips + QAT with distillation): FP32 / PTQ / QAT-KD top-1, top-5.
3. ONNX Runtime on the Q/DQ ONNX vs the PyTorch fake-quantized student: top-1 agreement on every test clip.
4. `benchmark_app -m student_int8.xml -d CPU` with no other arguments: does it run, and its throughput.
5. With --seed-runs: step 2 on every run given (one per training seed): FP32 / PTQ / QAT-KD top-1 per seed,
   mean +- std and the paired differences QAT-KD - FP32 and QAT-KD - PTQ.
Writes benchmarks/results/quant.md and quant.json (with the machine and library versions).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from darkedge.bench.machine import machine_info
from darkedge.data.dataset import collate_clips
from darkedge.fileio import write_json, write_text
from darkedge.logs import setup_logging
from darkedge.models import load_model
from darkedge.models.int8_checkpoint import load_int8_model, load_run_int8_student
from darkedge.quant import (
    QatConfig,
    build_calibration_set,
    calibration_batches,
    open_calibration,
    quantize_ptq,
)
from darkedge.quant.command import quantize_run
from darkedge.run import open_run
from darkedge.settings import setting_of
from darkedge.train.evaluate import evaluate, predict

RESULTS = Path(__file__).parent / "results"


def fp32_agreement(model, reference_logits: torch.Tensor, test_set) -> dict:
    """How close an INT8 model stays to the FP32 student: top-1 agreement (%) and mean KL(FP32 || INT8)."""
    logits, _, _ = predict(model, test_set, batch_size=8)
    agree = (logits.argmax(1) == reference_logits.argmax(1)).float().mean().item()
    kl = torch.nn.functional.kl_div(
        logits.log_softmax(1), reference_logits.log_softmax(1), log_target=True, reduction="batchmean"
    )
    return {"fp32_top1_agreement": round(100 * agree, 2), "kl_to_fp32": round(kl.item(), 5)}


def ptq_by_calibration_size(run, sizes: list[int], workdir: Path) -> list[dict]:
    """PTQ-only top-1 / top-5 and closeness to FP32 for each calibration-set size (plus the time PTQ took)."""
    student, _ = load_model(run.checkpoint("student"), kind="classifier")
    test_set = run.dataset("test", "student")
    reference, _, _ = predict(student, test_set, batch_size=8)
    tc = run.config
    rows = []
    for size in sizes:
        folder = workdir / f"calib_{size}"
        build_calibration_set(tc.data, folder, size, seed=0, video_root=tc.video_root, fold=tc.fold)
        batches, _ = calibration_batches(open_calibration(folder, run.class_names), tc.feeding("student"))
        start = time.perf_counter()
        qmodel = quantize_ptq(student, batches)
        seconds = time.perf_counter() - start
        metrics = evaluate(qmodel, test_set, run.class_names, run.protocol("student"), batch_size=8)
        rows.append(
            {
                "clips": len(batches),
                "top1": metrics["top1"],
                "top5": metrics["top5"],
                "ptq_seconds": round(seconds, 1),
            }
            | fp32_agreement(qmodel, reference, test_set)
        )
        print(rows[-1], file=sys.stderr)
    return rows


def ort_agreement(run) -> dict:
    """Top-1 agreement and max logit difference, ONNX Runtime Q/DQ vs PyTorch fake-quant, over the whole test split."""
    import onnxruntime as ort

    qmodel, _ = load_run_int8_student(run)
    session = ort.InferenceSession(
        str(run.path / "export" / "student_int8.onnx"), providers=["CPUExecutionProvider"]
    )
    loader = torch.utils.data.DataLoader(
        run.dataset("test", "student", num_clips=1, num_crops=1), batch_size=8, collate_fn=collate_clips
    )
    agree = total = 0
    max_diff = 0.0
    for clips, _, _ in loader:
        if clips is None:
            continue
        with torch.no_grad():
            expected = qmodel(clips).numpy()
        got = session.run(None, {session.get_inputs()[0].name: clips.numpy()})[0]
        agree += int((got.argmax(1) == expected.argmax(1)).sum())
        total += len(clips)
        max_diff = max(max_diff, float(np.abs(got - expected).max()))
    return {"clips": total, "top1_agree": agree, "max_logit_diff": max_diff}


def run_benchmark_app(xml: Path) -> dict:
    """`benchmark_app -m XML -d CPU`, nothing else; its exit code and reported throughput."""
    exe = shutil.which("benchmark_app")
    if exe is None:
        return {"ran": False, "note": "benchmark_app not on PATH"}
    done = subprocess.run([exe, "-m", str(xml), "-d", "CPU"], capture_output=True, text=True, timeout=300)
    match = re.search(r"Throughput:\s+([\d.]+) FPS", done.stdout)
    return {
        "ran": done.returncode == 0,
        "returncode": done.returncode,
        "throughput_fps": float(match.group(1)) if match else None,
        "command": f"benchmark_app -m {xml.name} -d CPU",
    }


def quantize_seeds(run_paths: list[str], args, workdir: Path) -> list[dict]:
    """`darkedge quantize` (the default settings) on each run: FP32 / PTQ / QAT-KD test top-1 per training seed."""
    rows = []
    for path in run_paths:
        run = open_run(path)
        calib = workdir / f"calib_seed{run.config.seed}"
        tc = run.config
        build_calibration_set(
            tc.data, calib, args.calib_clips, seed=0, video_root=tc.video_root, fold=tc.fold
        )
        qcfg = QatConfig(
            calib=str(calib), calib_clips=args.calib_clips, epochs=args.qat_epochs, lr=args.lr, export=False
        )
        report, _ = quantize_run(run.path, qcfg)
        if report["models"]["student_fp32"]["accuracy"] is None:
            raise SystemExit(f"{run.path}: no test split to measure top-1 on; the seeds table needs one")
        top1 = {name: entry["accuracy"]["top1"] for name, entry in report["models"].items()}
        rows.append({"seed": run.config.seed, "run": str(run.path), **top1})
        print(rows[-1], file=sys.stderr)
    return rows


def seeds_markdown(rows: list[dict]) -> list[str]:
    """The per-seed table: FP32 / PTQ / QAT-KD top-1, mean +- std, and the paired differences."""
    import statistics

    def mean_std(values: list[float]) -> str:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):+.2f} ± {std:.2f}" if values else "-"

    lines = [
        "",
        "## Across training seeds",
        "",
        "`darkedge quantize` with its defaults on each seed's run (the default pipeline of "
        "benchmarks/results/premise.md), top-1 % on the test split:",
        "",
        "| seed | FP32 student | PTQ INT8 | QAT-KD INT8 | QAT-KD − FP32 | QAT-KD − PTQ |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['student_fp32']:.2f} | {r['ptq_int8']:.2f} | {r['qat_kd_int8']:.2f} "
            f"| {r['qat_kd_int8'] - r['student_fp32']:+.2f} | {r['qat_kd_int8'] - r['ptq_int8']:+.2f} |"
        )
    diff_fp32 = [r["qat_kd_int8"] - r["student_fp32"] for r in rows]
    diff_ptq = [r["qat_kd_int8"] - r["ptq_int8"] for r in rows]
    means = " | ".join(
        f"{statistics.mean([r[k] for r in rows]):.2f}" for k in ("student_fp32", "ptq_int8", "qat_kd_int8")
    )
    lines.append(f"| mean | {means} | {mean_std(diff_fp32)} | {mean_std(diff_ptq)} |")
    worst = min(diff_fp32)
    lines += [
        "",
        f"INT8 (QAT-KD) within 1 point of FP32 on every seed: {'yes' if worst >= -1.0 else 'NO'} "
        f"(worst {worst:+.2f}).",
    ]
    return lines


def markdown(result: dict) -> str:
    """The committed table."""
    q = result["quantize"]["models"]
    lines = [
        "# Quantization: FP32 vs PTQ-only vs QAT with distillation (built-in synthetic data)",
        "",
        f"Run: `{result['run']}` ({result['protocol']}, {result['quantize']['test_clips']} test clips). "
        f"Produced by `python benchmarks/bench_quant.py`; machine and versions in quant.json.",
        "",
        f"Training of that run: {', '.join(f'{k} {v}' for k, v in result['train'].items())}.",
        "",
        "| model | top-1 % | top-5 % | size MB | top-1 agreement with FP32 % | KL(FP32, model) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, entry in q.items():
        size = "-" if entry["size_mb"] is None else f"{entry['size_mb']:.2f}"
        close = result["closeness_to_fp32"].get(name, {"fp32_top1_agreement": 100.0, "kl_to_fp32": 0.0})
        lines.append(
            f"| {name} | {entry['accuracy']['top1']:.2f} | {entry['accuracy']['top5']:.2f} | {size} "
            f"| {close['fp32_top1_agreement']:.2f} | {close['kl_to_fp32']:.5f} |"
        )
    fp32, ptq, qat = (q[k]["accuracy"]["top1"] for k in ("student_fp32", "ptq_int8", "qat_kd_int8"))
    chance = 100 / len(result["class_names"])
    if fp32 < chance + 5:
        lines += [
            "",
            f"**Caveat: the FP32 student is near chance level ({fp32:.2f} % top-1, chance {chance:.2f} %), so these "
            "numbers cannot show a quantization gap; re-run on a fully trained run.**",
        ]
    qcfg = result["quantize"]["settings"]
    lines += [
        "",
        f"QAT-KD vs FP32: {qat - fp32:+.2f} points (target: within 1.0); QAT-KD vs PTQ: {qat - ptq:+.2f} (target: >= 0).",
        f"QAT: {result['quantize']['qat']['steps']} steps, lr {qcfg['lr']}, batch {qcfg['batch_size']}, "
        f"alpha {qcfg['alpha']} beta {qcfg['beta']} tau {qcfg['tau']}, data: {result['quantize']['qat']['data']}; "
        f"PTQ from {result['quantize']['calibration_set']['clips_used']} calibration clips.",
        "",
        "## PTQ top-1 by calibration-set size",
        "",
        "| calibration clips | top-1 % | top-5 % | top-1 agreement with FP32 % | KL(FP32, PTQ) | PTQ seconds |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['clips']} | {r['top1']:.2f} | {r['top5']:.2f} | {r['fp32_top1_agreement']:.2f} "
        f"| {r['kl_to_fp32']:.5f} | {r['ptq_seconds']} |"
        for r in result["calibration_sizes"]
    ]
    a = result["ort_agreement"]
    b = result["benchmark_app"]
    fp = result["quantize"]["float_point"]
    m = result["machine"]
    lines += [
        "",
        "## Runtimes",
        "",
        f"- ONNX Runtime (Q/DQ ONNX) vs PyTorch fake-quant: top-1 agrees on {a['top1_agree']} / {a['clips']} test clips, "
        f"max logit difference {a['max_logit_diff']:.2e}.",
        f"- `{b.get('command', 'benchmark_app')}`: {'ran' if b['ran'] else 'FAILED'}"
        + (
            f", {b['throughput_fps']:.1f} clips/s (its default: all cores, throughput mode)"
            if b.get("throughput_fps")
            else ""
        )
        + ".",
        f"- INT8 graph: {fp['quantized_matmul_conv']} MatMul/Gemm/Conv quantized, {len(fp['float_matmul_conv'])} in floating "
        f"point ({', '.join(n.removeprefix('/backbone/') for n in fp['float_matmul_conv']) or 'none'}); "
        f"FP ops: {', '.join(f'{k} x{v}' for k, v in fp['float_ops'].items())}.",
        "",
    ]
    if result.get("seeds"):
        lines += seeds_markdown(result["seeds"])
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['usable_cores']} usable cores, 1-min load average {m['load_average_1min']:.1f} "
        f"at the end; " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/latest")
    parser.add_argument("--sizes", default="8,16,32,64")
    parser.add_argument("--calib-clips", type=int, default=QatConfig.calib_clips)  # `darkedge quantize`'s
    parser.add_argument("--qat-epochs", type=int, default=QatConfig.epochs)
    parser.add_argument("--lr", type=float, default=QatConfig.lr)
    parser.add_argument(
        "--seed-runs", nargs="*", default=[], help="more runs (other seeds) for the seeds table"
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    setup_logging()  # darkedge's messages on stderr, as the CLI prints them
    run = open_run(args.run)
    with tempfile.TemporaryDirectory() as tmp:
        sizes = ptq_by_calibration_size(run, [int(s) for s in args.sizes.split(",")], Path(tmp))
        calib = Path(tmp) / "calib_main"
        tc = run.config
        build_calibration_set(
            tc.data, calib, args.calib_clips, seed=0, video_root=tc.video_root, fold=tc.fold
        )
        report, table = quantize_run(
            run.path,
            QatConfig(calib=str(calib), calib_clips=args.calib_clips, epochs=args.qat_epochs, lr=args.lr),
        )
        seeds = quantize_seeds(args.seed_runs, args, Path(tmp)) if args.seed_runs else []
    print(table)
    test_set = run.dataset("test", "student")
    student, _ = load_model(run.checkpoint("student"), kind="classifier")
    reference, _, _ = predict(student, test_set, batch_size=8)
    ptq_model, _ = load_int8_model(run.path / "quant" / "student_int8_ptq.pt")
    closeness = {
        "ptq_int8": fp32_agreement(ptq_model, reference, test_set),
        "qat_kd_int8": fp32_agreement(load_run_int8_student(run)[0], reference, test_set),
    }
    result = {
        "class_names": run.class_names,
        "train": {
            k: setting_of(run.config, k)
            for k in ("preset", "epochs", "enhancer.steps", "encoder", "num_frames", "crop")
        },
        "closeness_to_fp32": closeness,
        "run": str(run.path),
        "protocol": report["protocol"],
        "quantize": report,
        "calibration_sizes": sizes,
        "ort_agreement": ort_agreement(run),
        "benchmark_app": run_benchmark_app(run.path / "export" / "student_int8.xml"),
        "machine": machine_info(),
    }
    if seeds:
        first = {"seed": run.config.seed, "run": str(run.path)}
        first |= {name: entry["accuracy"]["top1"] for name, entry in report["models"].items()}
        result["seeds"] = [first, *seeds]
    out = Path(args.out)
    write_json(out / "quant.json", result)
    write_text(out / "quant.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
