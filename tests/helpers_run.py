"""A tiny data set and run directory (real video clips, an ARID-format list, vit_nano student and teacher), and
that run after `darkedge calib build` and `darkedge quantize`; conftest.py's `qrun` fixture builds the latter once."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

from darkedge.checkpoint import save_checkpoint
from darkedge.cli import main
from darkedge.config import make_config
from darkedge.data.writer import write_video
from darkedge.enhance import EnhancerConfig
from darkedge.factory import classifier_config
from darkedge.models import build_model
from darkedge.run import save_run_config

CLASSES = ["Drink", "Jump", "Wave"]


def make_tiny_data(root: Path, clips_per_class: int = 5) -> Path:
    """An ARID-format data set: 3 classes, textured clips of varying brightness, 3 train + 2 test per class."""
    rng = np.random.default_rng(0)
    lines: dict[str, list[str]] = {"train": [], "test": []}
    n = 0
    for label, name in enumerate(CLASSES):
        for clip in range(clips_per_class):
            level = 10 + 25 * (clip % 3) + 10 * label
            frames = (rng.random((8, 40, 40, 3)) * level).astype(np.uint8)
            rel = f"{name}/{name}_{clip}_1.avi"
            write_video(root / "clips" / rel, frames, fps=10)
            lines["train" if clip < 3 else "test"].append(f"{n}\t{label}\t{rel}")
            n += 1
    (root / "mapping_table.txt").write_text("".join(f"{i}\t{c}\n" for i, c in enumerate(CLASSES)))
    for split, split_lines in lines.items():
        (root / f"ARID_split1_{split}.txt").write_text("\n".join(split_lines) + "\n")
    return root


def make_tiny_run(root: Path, data: Path, teacher: bool = True) -> Path:
    """A run directory with config.json, a vit_nano student.pt and (gamma-enhancer) teacher.pt; no training."""
    run = root / "run"
    run.mkdir(parents=True)
    cfg = make_config("test", data=str(data))
    save_run_config(run, cfg, CLASSES)
    ccfg = classifier_config(cfg, len(CLASSES), "student")
    torch.manual_seed(0)
    student = build_model("classifier", ccfg)
    save_checkpoint(
        run / "student.pt",
        kind="classifier",
        config=ccfg,
        state_dict=student.state_dict(),
        class_names=CLASSES,
    )
    if teacher:
        tcfg = {"enhancer": asdict(EnhancerConfig(name="gamma")), "classifier": ccfg}
        model = build_model("teacher", tcfg)
        save_checkpoint(
            run / "teacher.pt",
            kind="teacher",
            config=tcfg,
            state_dict=model.state_dict(),
            class_names=CLASSES,
        )
    return run


def quantize_tiny_run(base: Path) -> Path:
    """A tiny run in `base` after `darkedge calib build` and `darkedge quantize` (a few QAT steps)."""
    data = make_tiny_data(base / "data")
    run = make_tiny_run(base, data)
    runner = CliRunner()
    built = runner.invoke(
        main, ["calib", "build", "--data", str(data), "--out", str(base / "calib"), "--clips", "6"]
    )
    assert built.exit_code == 0, built.output
    args = [
        "quantize",
        "--calib",
        str(base / "calib"),
        "--run",
        str(run),
        "--max-steps",
        "2",
        "--batch-size",
        "2",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return run
