"""benchmarks/bench_premise.py's few-labels report on made-up results: the torch threads each row trained on, the
same seed compared on 1 and 2 threads, what a study without unlabelled clips may claim, and stage times that a
pause of the machine does not inflate (the study itself is the script's own, hours-long run)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_premise.py"
spec = importlib.util.spec_from_file_location("bench_premise", SCRIPT)
premise = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = premise  # its dataclasses look their module up by name
spec.loader.exec_module(premise)


def _row(top1, threads, clips="53 + 556", **extra):
    return {
        "top1": top1,
        "top5": 90.0,
        "macs": 10**7,
        "params": 10**5,
        "epochs": 24,
        "steps": 1872,
        "epochs_at_chance": 0,
        "train_seconds": 10.0,
        "protocol": "1 clip x 1 crop",
        "n_clips": 258,
        "folder": "/nowhere",
        "clips": clips,
        "threads": threads,
        **extra,
    }


def _seed(seed, scores, threads, clips="53 + 556", **rows_extra):
    """A seed's result: `scores` by row key; `threads` (own run, other rows)."""
    main = {row.key for row in premise.FEW_LABEL_ROWS if row.main}
    rows = {
        key: _row(top1, threads[0] if key in main else threads[1], clips, **rows_extra.get(key, {}))
        for key, top1 in scores.items()
    }
    config = {"data": "synth", "val_fraction": 0.1, "ema_decay": 0.99, "semi_threshold": 0.9, "epochs": 24}
    return {"seed": seed, "run": "/nowhere", "pipeline_seconds": 60.0, "config": config, "rows": rows}


def _studies():
    times = {
        "student": {"stage_seconds": {"enhancer": 4.0, "raw": 100.0, "teacher": 500.0, "student": 300.0}},
        "student_sup": {
            "stage_seconds": {"teacher": 150.0, "student": 300.0},
            "before_top1": {"teacher": 27.0},
        },
    }
    scores = {"raw": 30.0, "raw_semi": 32.0, "teacher": 31.0, "student_sup": 36.0, "student": 38.0}
    return {
        "0.1": [
            _seed(0, scores, (1, 1), **times),
            _seed(1, {k: v + 5 for k, v in scores.items()}, (2, 1), **times),
        ],
        "0.1 threads 2": [
            _seed(0, {"raw": 40.0, "teacher": 39.5, "student_sup": 42.5, "student": 34.5}, (2, 2), **times)
        ],
        "1": [_seed(0, {"raw": 72.0, "raw_semi": 91.0, "teacher": 94.0, "student": 85.0}, (2, 1), "552 + 0")],
    }


def test_threads_section_pairs_the_same_seed_on_1_and_2_threads():
    lines = "\n".join(premise.threads_section(_studies()))
    table = [line for line in lines.splitlines() if line.startswith("| ")]
    student = next(line for line in table if line.startswith("| Student: the guard's choice (default)"))
    assert student.split(" | ")[1:4] == ["38.00", "34.50", "-3.50 |"]
    teacher = next(line for line in table if line.startswith(f"| {premise.SUP_TEACHER}"))
    assert "27.00 | 27.00 | +0.00" in teacher  # the labelled-only teacher inside the student_sup row
    # all labels: raw_semi had no unlabelled clip, so it is the raw baseline on its variant's thread count
    assert "## Torch threads: all labels" in lines
    assert "| Raw: CE on the labelled clips | 91.00 | 72.00 | -19.00 |" in lines
    # the recipe times come from the study that ran every row on 2 threads: (4 + 100 + 500 + 300) / (4 + 100 + 450)
    assert "seed 0 on 2 threads: 15.1 min against 9.2 (1.63x)" in lines


def test_report_names_threads_per_seed_and_claims_no_semi_effect_without_unlabelled_clips(tmp_path):
    studies = _studies()
    machine = {
        "cpu": "test",
        "usable_cores": 2,
        "load_average_1min": 0.0,
        "os": "test",
        "python": "3",
        "libraries": {},
    }
    text = premise.few_labels_report(studies, machine)
    assert "seed 0 1, seed 1 2 and 1." in text
    full = text.split("## all labels")[1].split("## ")[0]
    assert "No training clip is unlabelled here" in full
    assert "semi-supervised learning on raw frames" not in full
    assert "semi-supervised learning on raw frames" in text.split("## all labels")[0]
    # the report and the plot come out of the JSON alone (--report-only)
    premise.few_labels_plot(studies, tmp_path / "few_labels.png")
    assert (tmp_path / "few_labels.png").stat().st_size > 0


def test_stage_seconds_use_the_median_epoch(tmp_path):
    """One epoch that took an hour because the shared machine paused does not count as an hour of training."""
    (tmp_path / "raw").mkdir()
    history = [{"epoch": i + 1, "seconds": 2.0} for i in range(9)] + [{"epoch": 10, "seconds": 3600.0}]
    (tmp_path / "raw" / "history.json").write_text(json.dumps(history))
    (tmp_path / "enhancer").mkdir()
    (tmp_path / "enhancer" / "history.json").write_text(
        json.dumps({"metrics": {"seconds": 3.5}, "steps": []})
    )
    assert premise.stage_seconds(tmp_path) == {"enhancer": 3.5, "raw": 20.0}
