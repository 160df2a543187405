"""The teacher guard: which model the student distils from, decided on the validation split, never the test split.

At few labels an enhanced-view teacher can come out worse than the raw baseline (a seed, another machine's kernels),
and a student distilled from it follows it down. So after the teacher and the raw baseline, the run compares them on
its validation clips, clip by clip. The teacher is used when it is better by a margin those clips resolve: of the
clips exactly one of the two gets right, the teacher gets `b` and the raw baseline `c`, and b - c must exceed
Z * sqrt(b + c) (a one-sided sign test at 5 %). Otherwise the student distils from whichever of the teacher, the raw
baseline, or both together (the mean of their probabilities) scores best on validation, both on a tie (a hedge
that bets on neither), then the teacher. table.md and the end of `darkedge train` say which and why; QAT distils
from the same source.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from darkedge.data.views import view_for
from darkedge.factory import load_stage
from darkedge.run import Run

log = logging.getLogger(__name__)

Z = 1.645  # one-sided 95 % of the sign test's normal approximation
SOURCES = ("teacher", "raw", "both")
PREFERENCE = ("both", "teacher", "raw")  # on a tie of validation scores


class Viewed(nn.Module):
    """`model` fed its view of the teacher's clips (a raw baseline of the student's frames or crop)."""

    def __init__(self, model: nn.Module, view: Callable[[torch.Tensor], torch.Tensor] | None):
        super().__init__()
        self.model, self.view = model, view

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(clips if self.view is None else self.view(clips))


class Together(nn.Module):
    """Several teachers as one: the log of the mean of their probabilities (logits the distillation loss takes)."""

    def __init__(self, *members: nn.Module):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([m(clips).float().softmax(1) for m in self.members]).mean(0)
        return probs.clamp_min(1e-12).log()


def sign_test(teacher_correct: list[int], raw_correct: list[int]) -> tuple[bool, int, int]:
    """(teacher better by a margin these clips resolve, clips only the teacher gets right, only the raw)."""
    if len(teacher_correct) != len(raw_correct):
        return False, 0, 0
    b = sum(1 for t, r in zip(teacher_correct, raw_correct, strict=True) if t and not r)
    c = sum(1 for t, r in zip(teacher_correct, raw_correct, strict=True) if r and not t)
    return b - c > Z * math.sqrt(b + c) and b > c, b, c


def decide(teacher_val: dict[str, Any], raw_val: dict[str, Any], both_top1: float | None) -> dict[str, Any]:
    """The guard's decision from the two stages' validation results (and the pair's top-1, when measured)."""
    resolved, b, c = sign_test(teacher_val["correct"], raw_val["correct"])
    scores = {"teacher": teacher_val["top1"], "raw": raw_val["top1"]}
    if both_top1 is not None:
        scores["both"] = both_top1
    n = len(teacher_val["correct"])
    test = f"{b} of {n} validation clips only the teacher gets right, {c} only the raw baseline"
    if resolved:
        source = "teacher"
        why = f"the teacher is better on validation by a margin its {n} clips resolve ({test})"
    else:
        top = max(scores.values())
        source = next(s for s in PREFERENCE if scores.get(s) == top)
        what = {"teacher": "the teacher", "raw": "the raw baseline", "both": "both together"}[source]
        why = (
            f"the {n} validation clips do not resolve the teacher as better ({test}); {what} scores best there ("
            + ", ".join(f"{k} {v:.1f} %" for k, v in scores.items())
            + ")"
        )
    return {"source": source, "why": why, "val_top1": scores, "only_teacher": b, "only_raw": c, "clips": n}


def source_model(run: Run, source: str) -> nn.Module:
    """The model a student distils from, giving logits for the teacher's clips: the teacher, the raw baseline (fed
    its view of them), or both together."""
    if source == "teacher":
        return load_stage(run, "teacher")
    raw = Viewed(load_stage(run, "raw"), view_for(run.config, "raw"))
    return raw if source == "raw" else Together(load_stage(run, "teacher"), raw)


def guard_teacher(
    run: Run, metrics: dict[str, Any], evaluate_both: Callable[[nn.Module], float]
) -> dict[str, Any]:
    """The guard's decision for `run` from its teacher's and raw baseline's validation results in `metrics`;
    `evaluate_both(model)` measures the pair's validation top-1 (on the teacher's clips)."""
    if not run.config.guard:
        return {"source": "teacher", "why": "the guard is off (guard=false)"}
    teacher, raw = metrics.get("teacher", {}).get("val"), metrics.get("raw", {}).get("val")
    if not teacher or not raw:
        return {
            "source": "teacher",
            "why": "no validation results of the teacher and the raw baseline to compare",
        }
    resolved, _, _ = sign_test(teacher["correct"], raw["correct"])
    both = None if resolved else evaluate_both(source_model(run, "both"))
    return decide(teacher, raw, both)


def distillation_source(metrics: dict[str, Any]) -> str:
    """What the run's student distilled from (RUN/metrics.json's guard decision; the teacher before the guard)."""
    return metrics.get("guard", {}).get("source", "teacher")
