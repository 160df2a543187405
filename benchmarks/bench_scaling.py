"""How latency grows with frames per clip (8, 16, 32, 64) and batch (1, 4), per model, on OpenVINO.

    python benchmarks/bench_scaling.py   # writes benchmarks/results/bench_scaling.{md,json,png}

Random-weight models at the "small" preset's architecture and crop (latency does not depend on weights), one
static IR per (frames, batch); every model of every shape is loaded side by side and timed in turns of 10 calls
(darkedge.bench.timing.time_interleaved), so that the load of a shared machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from darkedge.bench.machine import machine_info
from darkedge.bench.measure import in_subprocess, measure_interleaved
from darkedge.bench.timing import TimingProtocol
from darkedge.fileio import atomic_path, write_json, write_text

RESULTS = Path(__file__).parent / "results"
MODELS = ("student_int8", "student_fp32", "teacher_fp32", "two_stream_fp32")


def plot(rows: list[dict], batches: list[int], path: Path) -> None:
    """Per-clip p50 against frames per clip, one panel per batch size, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(batches), figsize=(5 * len(batches), 4), sharey=True, squeeze=False)
    for ax, batch in zip(axes[0], batches, strict=True):
        for name in MODELS:
            points = sorted(
                (r["frames"], r["ms_per_clip"]) for r in rows if r["model"] == name and r["batch"] == batch
            )
            if points:
                ax.plot(*zip(*points, strict=True), marker="*" if "int8" in name else "o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("frames per clip")
        ax.set_title(f"batch {batch}")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("p50 ms per clip")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from darkedge.bench.preset_models import make_preset_models

    protocol = TimingProtocol(
        warmup_runs=2, warmup_s=0.5, min_runs=10, min_time_s=2.0, max_time_s=120.0, tolerance=0.05
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for frames in args.frames:
            for batch in args.batches:
                folder = Path(tmp) / f"t{frames}_b{batch}"
                models = make_preset_models(args.preset, folder, num_frames=frames, batch=batch)
                paths.update({(name, frames, batch): models[name][0] for name in MODELS})
        keys = list(paths)
        stats = in_subprocess(
            measure_interleaved,
            {str(i): paths[k] for i, k in enumerate(keys)},
            "openvino",
            args.threads,
            protocol,
        )
    for i, (name, frames, batch) in enumerate(keys):
        p50 = stats[str(i)]["p50_ms"]
        rows.append(
            {
                "model": name,
                "frames": frames,
                "batch": batch,
                "p50_ms_per_call": p50,
                "ms_per_clip": p50 / batch,
                "runs": stats[str(i)]["runs"],
            }
        )
        print(f"T={frames} B={batch} {name}: p50 {p50:.1f} ms per call", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    report = {
        "schema_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "preset": args.preset,
        "backend": "openvino",
        "threads": args.threads,
        "protocol": vars(protocol),
        "machine": machine,
        "rows": rows,
    }
    write_json(args.out / "bench_scaling.json", report)
    plot(rows, args.batches, args.out / "bench_scaling.png")
    lines = [
        "# Latency against frames per clip and batch",
        "",
        f"Random-weight '{args.preset}' preset models, OpenVINO {machine['libraries'].get('openvino')}, "
        f"{args.threads} threads, static IR per shape; {machine['cpu']} ({machine['logical_cores']} cores, "
        f"{' '.join(machine['cpu_flags'])}); 1-min load average {machine['load_average_1min']:.1f} at the end; "
        f"{report['created']}. p50 ms per clip (per call / batch).",
        "",
        "| model | batch | " + " | ".join(f"T={f}" for f in args.frames) + " |",
        "|---|---|" + "---|" * len(args.frames),
    ]
    for name in MODELS:
        for batch in args.batches:
            cells = [
                next(
                    f"{r['ms_per_clip']:.1f}"
                    for r in rows
                    if (r["model"], r["batch"], r["frames"]) == (name, batch, f)
                )
                for f in args.frames
            ]
            lines.append(f"| {name} | {batch} | " + " | ".join(cells) + " |")
    lines += ["", "![latency vs frames](bench_scaling.png)"]
    write_text(args.out / "bench_scaling.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
