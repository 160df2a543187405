"""The results table in the shape of the paper's Table 1: accuracy, cost per clip, what runs at inference."""

from __future__ import annotations

from typing import Any

ROWS = {
    "teacher": ("Teacher (enhance-then-classify)", "{enhancer} + classifier"),
    "student": ("Student (raw frames, distilled)", "raw frames, 1 network"),
    "raw": ("Raw baseline (raw frames, no teacher)", "raw frames, 1 network"),
    "two_stream": ("Two-stream", "2 streams + {enhancer}"),
}
ENHANCER_NAMES = {"zero_dce": "Zero-DCE", "zero_dce_pp": "Zero-DCE++", "gamma": "gamma correction"}


def _count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def training_description(stage: str, cfg: Any) -> str:
    """How a stage was trained, for the table: the loss, the input it saw, where its weights started."""
    if stage == "student":
        loss = "CE" if cfg.beta == 0 else f"CE + KL to the teacher (tau {cfg.tau:g})"
        if cfg.alpha == 0 and cfg.beta != 0:
            loss = f"KL to the teacher (tau {cfg.tau:g})"
        if cfg.hint > 0:
            loss += f" + {cfg.hint:g} x feature hints"
        start = "from scratch" if cfg.student_init == "scratch" else "from the teacher's weights"
        return f"{loss}, {start}"
    if stage == "teacher":
        return "CE on enhanced frames, from scratch"
    return "CE, from scratch"


def results_table(metrics: dict[str, Any]) -> str:
    """Markdown table of the classifier stages found in `metrics` (RUN/metrics.json), with the protocol below."""
    lines = [
        "| Model | Top-1 (%) | Top-5 (%) | MACs / clip | Parameters | Trained with | At inference |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    protocols: dict[str, list[str]] = {}  # protocol text -> the rows measured with it
    for stage, (name, _) in ROWS.items():
        m = metrics.get(stage)
        if not m:
            continue
        protocols.setdefault(m["protocol"]["text"], []).append(name)
        lines.append(
            f"| {name} | {m['top1']:.2f} | {m['top5']:.2f} | {_count(m['macs'])} | {_count(m['params'])} "
            f"| {m.get('training', '')} | {m['inference']} |"
        )
    if len(protocols) == 1:
        lines += ["", f"Protocol: {next(iter(protocols))}, test split of {metrics.get('data', '?')}."]
    elif protocols:  # a student of its own frames or crop is evaluated on its own clips
        each = "; ".join(f"{', '.join(names)}: {text}" for text, names in protocols.items())
        lines += ["", f"Protocol: {each}; test split of {metrics.get('data', '?')}."]
    student, raw = metrics.get("student"), metrics.get("raw")
    if student and raw:
        same_start = "from the teacher's weights" not in student.get("training", "")
        lines.append(
            "Student and raw baseline: same architecture, data order and epochs"
            + (
                ", same initial weights: they differ only by the teacher's KL term."
                if same_start
                else "; the student also starts from the teacher's weights, so the difference is the KL term "
                "and that start together (benchmarks/results/premise.md separates them)."
            )
        )
    return "\n".join(lines) + "\n"
