"""benchmarks/gpu_check.sh, the prepared GPU check, on this CPU machine: without a GPU every GPU part is skipped with
a note and the report still comes out (and reaches $OUT); the dry run (slow) takes every part through its plumbing
at the test preset."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def _check(tmp_path: Path, *args: str, timeout: int) -> subprocess.CompletedProcess:
    out = tmp_path / "out"
    out.mkdir()
    env = {
        **os.environ,
        "GPU_CHECK_WORK": str(tmp_path / "work"),
        "GPU_CHECK_RESULTS": str(tmp_path / "results"),
        "OUT": str(out),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_a_gpu_every_gpu_part_is_skipped_and_reported(tmp_path):
    _check(tmp_path, timeout=300)
    report = (tmp_path / "results" / "gpu.md").read_text()
    assert (tmp_path / "out" / "gpu.md").read_text() == report and (tmp_path / "out" / "gpu.json").is_file()
    data = json.loads((tmp_path / "results" / "gpu.json").read_text())
    assert data["parts"]["machine"]["status"] == "0" and data["machine"]["cuda_available"] is False
    for part in ("pipeline", "latency", "paper", "loader", "premise", "qat"):
        assert data["parts"][part]["status"] == "skip:no CUDA GPU visible to torch"
        assert f"- {part}: " in report.split("## Unmeasured")[1]
    assert "GPU: no CUDA GPU" in report


@pytest.mark.slow
def test_dry_run_takes_every_part_through_its_plumbing(tmp_path):
    _check(tmp_path, "--dry-run", timeout=900)
    data = json.loads((tmp_path / "results" / "gpu.json").read_text())
    assert data["dry_run"] is True
    for part in ("machine", "data", "pipeline", "latency", "paper", "loader", "premise"):
        assert data["parts"][part]["status"] == "0", part
    assert set(data["runs"]) == {"seed0", "seed1", "seed2"}
    assert all(s["workers"] is not None for s in data["runs"]["seed0"]["stages"].values() if "epochs" in s)
    assert [m["name"] for m in data["latency"]["models"]] == ["student_bf16", "two_stream_bf16"]
    report = (tmp_path / "results" / "gpu.md").read_text()
    assert "Dry run on the CPU" in report and "| seed2 |" in report
