"""Bench results for people: a terminal table, bench.md, bench.json and bench.png under RUN/bench/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from darkedge.bench.plot import plot_latency_accuracy
from darkedge.fileio import write_json, write_text

COLUMNS = (
    "model",
    "design",
    "clip",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "clips/s",
    "MB",
    "params",
    "GMACs",
    "peak MB",
    "top-1",
)


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows: figures, then one speed-up column per measured baseline."""
    baselines = sorted({name for m in report["models"] for name in m.get("speedup", {})}, reverse=True)
    header = [*COLUMNS, *(f"x vs {b}" for b in baselines)]
    rows = []
    for m in report["models"]:
        latency, throughput, accuracy = m["latency"], m.get("throughput") or {}, m.get("accuracy") or {}
        _, _, frames, size, _ = m["input_shape"]
        rows.append(
            [
                m["name"],
                m["design"],
                f"{frames} x {size}px",  # a student may take fewer or smaller frames than the teacher
                _number(latency["p50_ms"], 2),
                _number(latency["p90_ms"], 2),
                _number(latency["p99_ms"], 2),
                _number(throughput.get("clips_per_s")),
                _number(m["size_mb"], 2),
                f"{m['parameters'] / 1e6:.2f}M",
                _number(m["macs_per_clip"] / 1e9, 3),
                _number(m["memory"].get("gpu_peak_mb", m["memory"]["peak_rss_mb"]), 0),
                _number(accuracy.get("top1")),
                *(_number(m["speedup"].get(b), 2) for b in baselines),
            ]
        )
    return header, rows


def _settings(report: dict[str, Any]) -> str:
    """One line: backend, threads, batch and the machine (each model's clip is in the table)."""
    machine = report["machine"]
    static = [m["name"] for m in report["models"] if (m.get("throughput") or {}).get("note")]
    batch = f"throughput at batch {report['batch']}" + (
        f" (at the exported batch for static exports: {', '.join(static)})" if static else ""
    )
    device = report.get("device") or "cpu"
    if device == "cpu":
        where = f"{report['backend']}, {report['threads']} thread(s)"
    else:
        gpus = machine.get("gpus") or [{"name": device}]
        tricks = [t for t in ("compile", "cuda_graphs") if report.get(t)]
        where = f"{report['backend']} on {device} ({gpus[0]['name']}){''.join(f', {t}' for t in tricks)}"
    peak = "; peak MB is GPU memory allocated" if device != "cpu" else ""
    return (
        f"{where}, batch 1 ({batch}){peak}; "
        f"{machine['cpu']} ({machine['logical_cores']} cores; {' '.join(machine['cpu_flags'])})"
    )


def table_text(report: dict[str, Any]) -> str:
    """A plain-text table for the terminal."""
    header, rows = _rows(report)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(_settings(report))
    lines.extend(f"note: {n}" for n in report.get("notes", []))
    if "e2e" in report:
        lines.append(e2e_text(report["e2e"]))
    return "\n".join(lines)


def e2e_text(e2e: dict[str, Any]) -> str:
    """End-to-end stage times (ms per clip, medians) as lines."""
    lines = [f"end to end on {e2e['clips']} video clip(s), median ms per clip:"]
    for name, stages in e2e["models"].items():
        parts = ", ".join(f"{stage} {ms:.1f}" for stage, ms in stages.items())
        lines.append(f"  {name}: {parts}")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The same table as Markdown, with the settings, machine, libraries and notes."""
    header, rows = _rows(report)
    lines = [
        f"# darkedge bench: {report['run']}",
        "",
        f"Compared: {report['compare']}. {_settings(report)}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "Latency is per clip at batch 1: p50/p90/p99 of timed runs after warm-up, all models loaded side by side and "
        "called in turns of 10 calls (each model's own-process figures are under `latency_alone` in bench.json); `x vs` is the "
        "baseline's p50 divided by the model's; peak MB is the resident-set high-water mark of a process that ran "
        "the model alone.",
        "",
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in report["machine"]["libraries"].items()),
    ]
    lines += [f"- {n}" for n in report.get("notes", [])]
    if "e2e" in report:
        lines += ["", "```", e2e_text(report["e2e"]), "```"]
    return "\n".join(lines) + "\n"


def write_reports(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """bench.json, bench.md and bench.png in `out_dir`, each written atomically."""
    paths = [out_dir / "bench.json", out_dir / "bench.md", out_dir / "bench.png"]
    write_json(paths[0], report)
    write_text(paths[1], markdown(report))
    plot_latency_accuracy(report, paths[2])
    return paths
