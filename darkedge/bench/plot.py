"""Latency against accuracy, one point per model: the picture that says which design to ship."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from darkedge.fileio import save_figure

COLOURS = {"student": "tab:green", "teacher": "tab:orange", "two_stream": "tab:red"}


def plot_latency_accuracy(report: dict[str, Any], path: Path) -> Path:
    """p50 latency (x) against top-1 (y); models without an accuracy sit on a labelled strip below the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    known = [m for m in report["models"] if (m.get("accuracy") or {}).get("top1") is not None]
    floor = min((m["accuracy"]["top1"] for m in known), default=0.0) - 5
    for i, m in enumerate(report["models"]):
        top1 = (m.get("accuracy") or {}).get("top1")
        y = top1 if top1 is not None else floor
        marker = "o" if m["precision"] == "fp32" else "*"
        ax.scatter(m["latency"]["p50_ms"], y, s=120, marker=marker, color=COLOURS.get(m["model"], "tab:blue"))
        label = m["name"] + ("" if top1 is not None else " (no accuracy)")
        ax.annotate(
            label,
            (m["latency"]["p50_ms"], y),
            textcoords="offset points",
            xytext=(6, 4 - 11 * (i % 3)),
            fontsize=8,
        )
    ax.set_xlabel(f"p50 latency per clip, ms ({report['backend']}, {report['threads']} threads)")
    ax.set_ylabel("top-1 %")
    latencies = [m["latency"]["p50_ms"] for m in report["models"]]
    if latencies and max(latencies) > 20 * min(latencies):
        ax.set_xscale("log")  # a student tens of times faster than the baselines would sit on the axis
    else:
        ax.set_xlim(left=0)
    ax.set_title("latency vs accuracy (left and up is better; * = INT8)")
    ax.grid(alpha=0.3)
    save_figure(fig, path, dpi=120)
    return path
