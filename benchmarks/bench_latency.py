"""Issue 5's latency targets on this machine with OpenVINO, committed to benchmarks/results/bench_latency.{md,json}.

    python benchmarks/bench_latency.py                    # random-weight models at the "small" preset
    python benchmarks/bench_latency.py --run runs/latest  # the exports of a trained, quantized run

Targets: INT8 student p50 <= 25 % of two-stream FP32 and <= 40 % of enhance-then-classify FP32; INT8 >= 1.5x
faster than the FP32 student; each model's p50 agrees with itself within 10 % across repeats. All models are
loaded side by side and timed in turns of 10 calls (darkedge.bench.timing.time_interleaved), so that the load
of a shared machine hits them alike; ratios are taken within a repeat, then the median over repeats.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from darkedge.bench.machine import machine_info
from darkedge.bench.measure import MeasureJob, in_subprocess, measure, measure_interleaved
from darkedge.bench.profile import openvino_profile, profile_text
from darkedge.bench.timing import TimingProtocol
from darkedge.fileio import write_json, write_text

RESULTS = Path(__file__).parent / "results"
ORDER = ("student_int8", "student_fp32", "teacher_int8", "teacher_fp32", "two_stream_int8", "two_stream_fp32")


def run_models(run: Path) -> dict[str, tuple[Path, Path]]:
    """{name: (IR, checkpoint)} of a trained run, exporting missing FP32 IRs as `darkedge bench` does."""
    from darkedge.bench.command import BenchOptions, find_candidates
    from darkedge.run import open_run

    candidates, _ = find_candidates(
        open_run(run), BenchOptions(run=str(run), compare="all", backend="openvino")
    )
    return {c.name: (c.path, c.checkpoint) for c in candidates}


def stage_macs(checkpoints: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Multiply-accumulates per clip of each design, split into enhancer and classifier stages."""
    from darkedge.models import count_macs, load_model, model_input_shape

    stages = {}
    for name, path in checkpoints.items():
        model, ckpt = load_model(path)
        _, frames, size, _ = model_input_shape(ckpt)
        total = count_macs(model, (1, 3, frames, size, size))
        enhancer = getattr(model, "enhancer", None)
        enhance = count_macs(enhancer, (frames, 3, size, size)) if enhancer is not None else 0
        stages[name] = {"total": total, "enhancer": enhance, "classifier": total - enhance}
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", type=Path, default=None, help="a trained run (default: random small-preset models)"
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.run:
            models, source = run_models(args.run), f"run {args.run.resolve()}"
        else:
            from darkedge.bench.preset_models import make_preset_models

            models = make_preset_models(
                args.preset, Path(tmp), int8_models=("student", "teacher", "two_stream")
            )
            source = f"random-weight models at the '{args.preset}' preset (INT8: NNCF PTQ)"
        names = [n for n in ORDER if n in models]
        protocol = TimingProtocol(min_runs=100, min_time_s=args.min_time, warmup_s=1.0, max_time_s=120.0)
        paths = {n: models[n][0] for n in names}
        repeats = []
        for repeat in range(args.repeats):  # each repeat a fresh process, every model timed in turn
            repeats.append(in_subprocess(measure_interleaved, paths, "openvino", args.threads, protocol))
            summary = ", ".join(f"{n} {repeats[-1][n]['p50_ms']:.2f}" for n in names)
            print(f"repeat {repeat + 1}/{args.repeats} p50 ms: {summary}", flush=True)
        memory_protocol = TimingProtocol(min_runs=20, min_time_s=1.0, warmup_s=0.5)
        alone = {
            n: in_subprocess(measure, MeasureJob(paths[n], "openvino", args.threads, 1, memory_protocol))
            for n in names
        }
        memory = {n: alone[n]["memory"] for n in names}
        shape = alone[names[0]]["input_shape"]
        profiles = {
            n: in_subprocess(openvino_profile, models[n][0], args.threads)
            for n in names
            if n.startswith("student")
        }
        macs = stage_macs({n.rsplit("_", 1)[0]: models[n][1] for n in names if n.endswith("_fp32")})

    p50s = {n: [r[n]["p50_ms"] for r in repeats] for n in names}
    p50 = {n: statistics.median(v) for n, v in p50s.items()}
    spread = {n: (max(v) - min(v)) / min(v) for n, v in p50s.items()}

    def paired(a: str, b: str) -> float:
        """Median over repeats of a's p50 / b's p50, each pair timed side by side in the same repeat."""
        return statistics.median(r[a]["p50_ms"] / r[b]["p50_ms"] for r in repeats)

    targets = [
        (
            "INT8 student p50 <= 25 % of two-stream FP32",
            paired("student_int8", "two_stream_fp32"),
            0.25,
            "<=",
        ),
        (
            "INT8 student p50 <= 40 % of enhance-then-classify FP32",
            paired("student_int8", "teacher_fp32"),
            0.40,
            "<=",
        ),
        ("INT8 student >= 1.5x faster than FP32 student", paired("student_fp32", "student_int8"), 1.5, ">="),
        ("repeated runs agree within 10 % at p50 (worst model)", max(spread.values()), 0.10, "<="),
    ]
    results = [
        {"target": t, "value": v, "limit": lim, "met": v <= lim if op == "<=" else v >= lim}
        for t, v, lim, op in targets
    ]
    report = {
        "schema_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": source,
        "backend": "openvino",
        "threads": args.threads,
        "input_shape": shape,
        "protocol": vars(protocol),
        "machine": machine_info(),
        "p50_ms_per_repeat": p50s,
        "p50_ms": p50,
        "p50_spread": spread,
        "latency_per_repeat": repeats,
        "memory": memory,
        "macs_per_stage": macs,
        "profiles": profiles,
        "targets": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "bench_latency.json", report)
    write_text(args.out / "bench_latency.md", markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    """The committed table: figures per model, targets, MACs per stage and where the student's time goes."""
    machine = report["machine"]
    lines = [
        "# Latency targets (issue 5)",
        "",
        f"{report['source']}; OpenVINO {machine['libraries'].get('openvino')}, {report['threads']} threads, "
        f"input {tuple(report['input_shape'])}, batch 1; {machine['cpu']} ({machine['logical_cores']} cores, "
        f"{' '.join(machine['cpu_flags'])}); 1-min load average {machine['load_average_1min']:.1f} at the end; "
        f"{report['created']}.",
        "",
        "| model | p50 ms (median of repeats) | p50 per repeat | spread | p90 ms (last) | p99 ms (last) | peak RSS MB | x vs two-stream FP32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = report["p50_ms"].get("two_stream_fp32")
    for name, p50 in report["p50_ms"].items():
        lat = report["latency_per_repeat"][-1][name]
        per = ", ".join(f"{v:.2f}" for v in report["p50_ms_per_repeat"][name])
        lines.append(
            f"| {name} | {p50:.2f} | {per} | {100 * report['p50_spread'][name]:.1f} % | {lat['p90_ms']:.2f} | "
            f"{lat['p99_ms']:.2f} | {report['memory'][name]['peak_rss_mb']:.0f} | "
            f"{base / p50:.2f} |"
        )
    lines += ["", "| target | measured | limit | met |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['value']:.3f} | {t['limit']} | {'yes' if t['met'] else 'NO'} |"
        for t in report["targets"]
    ]
    lines += [
        "",
        "Multiply-accumulates per clip (GMACs):",
        "",
        "| design | enhancer | classifier | total |",
        "|---|---|---|---|",
    ]
    for name, m in report["macs_per_stage"].items():
        lines.append(
            f"| {name} | {m['enhancer'] / 1e9:.3f} | {m['classifier'] / 1e9:.3f} | {m['total'] / 1e9:.3f} |"
        )
    lines += [
        "",
        "Where the student's time goes (OpenVINO PERF_COUNT, mean per inference; on a shared machine the absolute",
        "per-layer times carry other processes' contention, the shares are the part to read):",
        "",
    ]
    lines += [profile_text(p) + "\n" for p in report["profiles"].values()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
