"""benchmarks/bench_frontier.py's verdicts on a made-up result: which students are on the frontier, whether the issue's
targets are met, and that the report and the plot come out (the measurement itself is the script's own run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_frontier.py"
spec = importlib.util.spec_from_file_location("bench_frontier", SCRIPT)
frontier_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(frontier_script)


def _student(name, top1, int8_ms, fp32_ms, two_stream_ms=3.0):
    return {
        "name": name,
        "what": name,
        "settings": frontier_script.STUDENTS[name][0],
        "seeds": 3,
        "top1_int8": top1,
        "top1_int8_std": 1.0,
        "top1_fp32": top1 + 0.5,
        "per_seed": [{"int8": top1, "fp32": top1 + 0.5}],
        "macs": 10**7,
        "params": 10**5,
        "input_shape": [1, 3, 8, 48, 48],
        "int8_mb": 0.3,
        "p50_int8_ms": int8_ms,
        "p50_fp32_ms": fp32_ms,
        "int8_speedup_vs_fp32": fp32_ms / int8_ms,
        "speedup_vs_two_stream_fp32": two_stream_ms / int8_ms,
        "clips_per_s_int8": 8000 / int8_ms,
        "clips_per_s_fp32": 8000 / fp32_ms,
    }


def test_frontier_targets_report_and_plot(tmp_path):
    rows = [
        _student("default", 88.0, 0.35, 0.70),  # INT8 2.0x
        _student("x3d_nano", 87.0, 0.15, 0.20),  # 20x two-stream, 1 point behind: meets the target
        _student("x3d_micro", 86.0, 0.28, 0.37),  # slower and less accurate than x3d_nano: off the frontier
        _student(
            "x3d_nano_t4_s32", 80.0, 0.08, 0.09
        ),  # fastest, 8 points behind: on the frontier, not the target
    ]
    assert frontier_script.frontier(rows) == ["x3d_nano_t4_s32", "x3d_nano", "default"]
    targets = frontier_script.targets(rows, {"two_stream_fp32": 3.0})
    assert [t["met"] for t in targets] == [True, True]
    assert targets[0]["value"] == "x3d_nano: 20.0x, top-1 -1.0 points"
    slow = [_student("default", 88.0, 0.40, 0.70), _student("x3d_nano", 85.0, 0.15, 0.2)]
    assert [t["met"] for t in frontier_script.targets(slow, {"two_stream_fp32": 3.0})] == [False, False]

    reference = {
        "name": "two_stream_fp32",
        "what": "two-stream",
        "top1_fp32": None,  # timed untrained
        "top1_fp32_std": None,
        "macs": 10**8,
        "params": 4 * 10**5,
        "input_shape": [1, 3, 8, 48, 48],
        "p50_fp32_ms": 3.0,
        "speedup_vs_two_stream_fp32": 1.0,
        "clips_per_s_fp32": 2000.0,
    }
    machine = {"cpu": "cpu", "logical_cores": 2, "cpu_flags": ["avx512_vnni"], "libraries": {"openvino": "x"}}
    result = {
        "created": "now",
        "command": "python benchmarks/bench_frontier.py --runs r",
        "teacher_runs": ["r"],
        "epochs": "24 epochs (the teacher's)",
        "student_init": "scratch",
        "protocol": "1 clip x 1 crop, 8 frames at stride 4, 48 px",
        "threads": 2,
        "batch": 8,
        "repeats": 3,
        "machine": {**machine, "load_average_1min": 1.0},
        "students": rows,
        "references": [reference],
        "frontier": frontier_script.frontier(rows),
        "targets": targets,
        "ablation": {"fp32_ms": 0.7, "signed_ms": 0.42, "unsigned_ms": 0.35, "profiles": ["`a.xml`: 1 ms"]},
        "notes": ["two_stream: timed untrained (no accuracy)"],
    }
    text = frontier_script.markdown(result)
    assert "| x3d_nano (frontier) |" in text and "| x3d_micro |" in text
    assert "- `x3d_nano_t4_s32`" in text.split("## Which student for which box")[1]
    assert "(1.67x)" in text and "(2.00x)" in text  # signed, then unsigned, against FP32
    frontier_script.plot(result, tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
