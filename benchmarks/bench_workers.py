"""DataLoader workers against training time: is the default (`workers` chosen from the machine) no slower than 0?

    python benchmarks/bench_workers.py --workers 0 auto --repeats 2   # the whole default `darkedge train`, twice each
    python benchmarks/bench_workers.py --stage raw --epochs 4 --repeats 2     # one classifier stage, shorter
    python benchmarks/bench_workers.py --loader-only --device cuda --preset paper   # the loader alone (clips/s)

Each setting is a fresh `darkedge train` process on the same data; the settings take turns within each repeat
(0, auto, 2, 0, auto, 2, ...) so that a drift in the machine's load hits all of them alike. Reported per setting:
wall time of the command (median over repeats), and from the stages' history.json the seconds spent waiting for
batches against computing. `--loader-only` times the training loader alone over one epoch (no model): the rate
the workers can feed, to set against the step's clips/s in history.json. Results go to
benchmarks/results/workers.{md,json} (`--loader-only`: workers_loader.{md,json}) with the machine, its load and the
library versions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def parse_workers(text: str) -> int | None:
    """A --workers value: a count, or "auto" (None: chosen by darkedge)."""
    return None if text == "auto" else int(text)


def label(workers: int | None) -> str:
    return "auto" if workers is None else str(workers)


def train_once(workers: int | None, args: argparse.Namespace, out: Path) -> dict:
    """One `darkedge train` with `workers`: wall time, and per stage the summed epoch and data-wait seconds."""
    command = [sys.executable, "-m", "darkedge", "--quiet", "train", "--out", str(out), "--calib", ""]
    command += ["--preset", args.preset, "--seed", str(args.seed)]
    if args.data:
        command += ["--data", args.data]
    if args.stage:
        command += ["--stage", args.stage]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    if workers is not None:
        command += ["--workers", str(workers)]
    print("$", " ".join(command), file=sys.stderr, flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    run = (out / "latest").resolve()
    stages = {}
    for history in sorted(run.glob("*/history.json")):
        entries = json.loads(history.read_text())
        if not isinstance(entries, list):
            continue  # the enhancer's history is per step, not per epoch
        loaders = [e.get("loader", {}) for e in entries]
        stages[history.parent.name] = {
            "epochs": len(entries),
            "epoch_seconds": sum(e["seconds"] for e in entries),
            "workers_used": loaders[-1].get("workers"),
            "first_batch_s": sum(x.get("first_batch_s", 0.0) for x in loaders),
            "data_wait_s": sum(x.get("data_wait_s", 0.0) for x in loaders),
            "compute_s": sum(x.get("compute_s", 0.0) for x in loaders),
        }
    return {"workers": label(workers), "wall_s": wall, "run": str(run), "stages": stages}


def loader_rate(workers: int | None, args: argparse.Namespace) -> dict:
    """Clips per second of the training loader alone over one epoch of the preset's clips (no model)."""
    from darkedge.config import make_config
    from darkedge.data.dataset import ClipDataset
    from darkedge.data.lists import open_dataset
    from darkedge.data.loader import make_loader, resolve_workers

    cfg = make_config(args.preset, **({"data": args.data} if args.data else {}))
    index = open_dataset(cfg.data, split="train", fold=cfg.fold)
    dataset = ClipDataset(index, cfg.feeding("teacher"), train=True)
    used = resolve_workers(workers, args.device)
    loader = make_loader(
        dataset, batch_size=cfg.batch_size, workers=used, device=args.device, shuffle=True, persistent=True
    )
    started = time.perf_counter()
    clips = sum(len(labels) for _, labels, _ in loader)
    seconds = time.perf_counter() - started
    return {"workers": label(workers), "workers_used": used, "clips": clips, "clips_per_s": clips / seconds}


def markdown(report: dict) -> str:
    """The committed table: per setting, median wall time and the data-wait share, plus the machine."""
    machine = report["machine"]
    lines = [
        "# DataLoader workers against training time",
        "",
        f"`{report['command']}`; {report['created']}. Machine: {machine['cpu']}, {machine['usable_cores']} usable "
        f"cores; 1-min load average {report['load_before']:.1f} before, {report['load_after']:.1f} after"
        + (" (other work shared the machine: indicative only)." if report["load_before"] > 0.5 else "."),
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items()) + ".",
        "",
    ]
    if report.get("loader"):
        lines += ["| workers | used | clips | loader alone, clips/s |", "|---|---:|---:|---:|"]
        lines += [
            f"| {r['workers']} | {r['workers_used']} | {r['clips']} | {r['clips_per_s']:.1f} |"
            for r in report["loader"]
        ]
    if report.get("train"):
        lines += [
            "| workers | used | wall s (median) | wall s per repeat | epochs s | data wait s | compute s | wait share |",
            "|---|---:|---:|---|---:|---:|---:|---:|",
        ]
        for name, runs in report["train"].items():
            stages = [s for r in runs for s in r["stages"].values()]
            used = sorted({s["workers_used"] for s in stages if s["workers_used"] is not None})
            wait = sum(s["data_wait_s"] for s in stages) / len(runs)
            compute = sum(s["compute_s"] for s in stages) / len(runs)
            epochs = sum(s["epoch_seconds"] for s in stages) / len(runs)
            walls = [r["wall_s"] for r in runs]
            lines.append(
                f"| {name} | {', '.join(map(str, used))} | {statistics.median(walls):.1f} | "
                f"{', '.join(f'{w:.1f}' for w in walls)} | {epochs:.1f} | {wait:.1f} | {compute:.1f} | "
                f"{100 * wait / max(wait + compute, 1e-9):.0f} % |"
            )
        base = (
            statistics.median(r["wall_s"] for r in report["train"]["0"]) if "0" in report["train"] else None
        )
        if base and "auto" in report["train"]:
            auto = statistics.median(r["wall_s"] for r in report["train"]["auto"])
            verdict = "no slower" if auto <= base * 1.02 else "SLOWER"
            lines += [
                "",
                f"Default (auto) against 0 workers: {auto:.1f} s vs {base:.1f} s, {verdict} ({auto / base:.2f}x).",
            ]
    lines += [
        "",
        "Wait and compute are per stage from history.json (`loader`), summed over stages, mean of repeats.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workers", type=parse_workers, nargs="+", default=[0, None, 2], help="counts or auto"
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--data", default=None, help="default: the preset's (the built-in data/synth)")
    parser.add_argument("--stage", default=None, help="one stage instead of the whole pipeline (e.g. raw)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--loader-only", action="store_true", help="time the training loader alone")
    parser.add_argument("--device", default="cpu", help="for --loader-only: the device the loader feeds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from darkedge.bench.machine import machine_info
    from darkedge.config import make_config
    from darkedge.fileio import write_json, write_text

    load_before = os.getloadavg()[0]
    report: dict = {
        "schema_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python", "benchmarks/bench_workers.py", *sys.argv[1:]]),
        "load_before": load_before,
    }
    data = Path(args.data or make_config(args.preset).data)
    if not data.exists():  # generated once up front, not inside the first timed run
        subprocess.run([sys.executable, "-m", "darkedge", "data", "synth", "--out", str(data)], check=True)
    if args.loader_only:
        report["loader"] = [loader_rate(w, args) for w in args.workers]
    else:
        report["train"] = {label(w): [] for w in args.workers}
        with tempfile.TemporaryDirectory(prefix="bench_workers.") as tmp:
            for repeat in range(args.repeats):
                for w in args.workers:
                    out = Path(tmp) / f"{label(w)}_{repeat}"
                    report["train"][label(w)].append(train_once(w, args, out))
    report["load_after"] = os.getloadavg()[0]
    report["machine"] = machine_info()
    name = "workers_loader" if args.loader_only else "workers"
    write_json(args.out / f"{name}.json", report)
    write_text(args.out / f"{name}.md", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
