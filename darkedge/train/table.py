"""The results table in the shape of the paper's Table 1: accuracy, cost per clip, what runs at inference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROWS = {
    "teacher": ("Teacher (enhance-then-classify)", "{enhancer} + classifier"),
    "student": ("Student (raw frames, distilled)", "raw frames, 1 network"),
    "raw": ("Raw baseline (raw frames, no teacher)", "raw frames, 1 network"),
    "two_stream": ("Two-stream", "2 streams + {enhancer}"),
    "self_train": ("Self-training control (raw frames, raw teacher)", "raw frames, 1 network"),
}
SOURCE_NAMES = {
    "teacher": "the teacher",
    "raw": "the raw baseline",
    "both": "the teacher and the raw baseline",
}


def _count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def weights_start(model_config: dict[str, Any] | None) -> str:
    """Where a classifier's weights started, from its config: its encoder's pretrained weights (ImageNet or a file,
    with the blocks kept frozen) or nothing."""
    classifier = (model_config or {}).get("classifier", model_config or {})
    pretrained = classifier.get("pretrained")
    if not pretrained:
        return "from scratch"
    source = "ImageNet" if pretrained == "imagenet" else Path(pretrained).name
    frozen = classifier.get("freeze_blocks", 0)
    return f"encoder from {source} weights" + (f", stem and first {frozen} blocks frozen" if frozen else "")


def training_description(
    stage: str, cfg: Any, metrics: dict[str, Any] | None = None, model_config: dict[str, Any] | None = None
) -> str:
    """How a stage was trained, for the table: the loss, the input it saw, where its weights started (from its
    classifier config `model_config`), and the clips it learnt from (labelled N clips + unlabelled M clips) when
    `metrics` counts them."""
    start = weights_start(model_config)
    if stage in ("student", "self_train"):
        teacher = SOURCE_NAMES[metrics.get("distilled_from", "teacher") if metrics else "teacher"]
        if stage == "self_train":
            teacher = SOURCE_NAMES["raw"]
        loss = "CE" if cfg.beta == 0 else f"CE + KL to {teacher} (tau {cfg.tau:g})"
        if cfg.alpha == 0 and cfg.beta != 0:
            loss = f"KL to {teacher} (tau {cfg.tau:g})"
        if cfg.hint > 0:
            loss += f" + {cfg.hint:g} x feature hints"
        if cfg.student_init == "teacher":
            start = f"from {SOURCE_NAMES['teacher'] if stage == 'student' else teacher}'s weights"
        text = f"{loss}, {start}"
    elif stage == "teacher":
        text = f"CE on enhanced frames, {start}"
    else:
        text = f"CE, {start}"
    semi = bool(metrics and metrics.get("semi"))
    if semi:
        text += f"; FixMatch (EMA {cfg.ema_decay:g}, threshold {cfg.semi_threshold:g}), the EMA kept"
    if metrics and "labelled_clips" in metrics:
        text += f"; labelled {metrics['labelled_clips']} clips"
        if metrics.get("refit"):
            text += " (the validation clips among them: refit)"
        if metrics.get("unlabeled"):
            how = "confident pseudo-labels" if semi else "KL only"
            text += f" + unlabelled {metrics['unlabeled']['clips']} clips ({how})"
    return text


def results_table(metrics: dict[str, Any]) -> str:
    """Markdown table of the classifier stages found in `metrics` (RUN/metrics.json), with the protocol below."""
    val = any(isinstance(metrics.get(stage), dict) and metrics[stage].get("val") for stage in ROWS)
    lines = [
        "| Model | "
        + ("Validation top-1 (%) | " if val else "")
        + "Top-1 (%) | Top-5 (%) | MACs / clip | Parameters "
        "| Trained with | At inference |",
        "|---|" + ("---:|" if val else "") + "---:|---:|---:|---:|---|---|",
    ]
    protocols: dict[str, list[str]] = {}  # protocol text -> the rows measured with it
    for stage, (name, _) in ROWS.items():
        m = metrics.get(stage)
        if not m:
            continue
        protocols.setdefault(m["protocol"]["text"], []).append(name)
        v = m.get("val")
        val_cell = (f"{v['top1']:.2f} (epoch {v['epoch']}) | " if v else "- | ") if val else ""
        lines.append(
            f"| {name} | {val_cell}{m['top1']:.2f} | {m['top5']:.2f} | {_count(m['macs'])} | {_count(m['params'])} "
            f"| {m.get('training', '')} | {m['inference']} |"
        )
    if len(protocols) == 1:
        lines += ["", f"Protocol: {next(iter(protocols))}, test split of {metrics.get('data', '?')}."]
    elif protocols:  # a student of its own frames or crop is evaluated on its own clips
        each = "; ".join(f"{', '.join(names)}: {text}" for text, names in protocols.items())
        lines += ["", f"Protocol: {each}; test split of {metrics.get('data', '?')}."]
    if val:
        lines.append(
            "Validation: held-out labelled training clips; each model keeps its last weights unless an earlier "
            "check is better on them by a margin they resolve (the epoch kept is shown), and the test split, scored "
            "once at the end, chose nothing."
        )
    guard = metrics.get("guard")
    if guard:
        lines.append(
            f"Teacher guard: the student distils from {SOURCE_NAMES[guard['source']]}: {guard['why']}."
        )
    student, raw = metrics.get("student"), metrics.get("raw")
    if student and raw and student.get("unlabeled"):
        lines.append(
            "Student and raw baseline: same architecture, labelled clips and steps, same initial weights; the "
            "student also learns from the unlabelled clips through the teacher's KL term, so the difference is the "
            "teacher and that footage together (benchmarks/results/unlabeled.md separates them)."
        )
    elif student and raw:
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
