"""The results table in the shape of the paper's Table 1: accuracy, cost per clip, what runs at inference."""

from __future__ import annotations

from typing import Any

ROWS = {
    "teacher": ("Teacher (enhance-then-classify)", "{enhancer} + classifier"),
    "student": ("Student (distilled, ours)", "raw frames, 1 network"),
    "raw": ("Raw baseline (no distillation)", "raw frames, 1 network"),
    "two_stream": ("Two-stream", "2 streams + {enhancer}"),
}
ENHANCER_NAMES = {"zero_dce": "Zero-DCE", "zero_dce_pp": "Zero-DCE++", "gamma": "gamma correction"}


def _count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def results_table(metrics: dict[str, Any]) -> str:
    """Markdown table of the classifier stages found in `metrics` (RUN/metrics.json), with the protocol below."""
    lines = [
        "| Model | Top-1 (%) | Top-5 (%) | MACs / clip | Parameters | At inference |",
        "|---|---:|---:|---:|---:|---|",
    ]
    protocol = None
    for stage, (name, _) in ROWS.items():
        m = metrics.get(stage)
        if not m:
            continue
        protocol = m["protocol"]["text"]
        lines.append(
            f"| {name} | {m['top1']:.2f} | {m['top5']:.2f} | {_count(m['macs'])} | {_count(m['params'])} | {m['inference']} |"
        )
    if protocol:
        lines += ["", f"Protocol: {protocol}, test split of {metrics.get('data', '?')}."]
    return "\n".join(lines) + "\n"
