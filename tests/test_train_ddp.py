"""`darkedge train` under torchrun: two CPU processes (gloo) train one model together; rank 0 alone writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from darkedge.data.lists import open_dataset
from darkedge.data.synth import SynthConfig, synthesize
from darkedge.names import DEFAULT_STAGES
from darkedge.run import open_run

TINY = SynthConfig(clips_per_class=3, frames=12, width=48, height=36, scenes=3, test_scenes=1)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return synthesize(TINY, tmp_path_factory.mktemp("data") / "synth", workers=1, progress=False)


def _torchrun(out: Path, data: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "darkedge", "train", "--preset", "test", "--data", str(data), "--out", str(out)]
    command += ["--calib", str(out.with_name(f"{out.name}-calibration")), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def _check_written_once(out: Path, result: subprocess.CompletedProcess, stages: tuple[str, ...]) -> Path:
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [p for p in out.iterdir() if p.name != "latest"]
    assert len(runs) == 1, runs  # one run directory, not one per rank
    assert result.stdout.count("| Model |") == 1  # the table is printed by rank 0 only
    assert result.stderr.count("run directory:") == 1
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    run = open_run(out / "latest")
    for stage in stages:
        assert (run.path / f"{stage}.pt").is_file()
    return run.path


def test_two_processes_train_one_stage(tiny_data, tmp_path):
    result = _torchrun(tmp_path, tiny_data, "--stage", "raw")
    run = _check_written_once(tmp_path, result, ("raw",))
    history = json.loads((run / "raw" / "history.json").read_text())
    # each rank saw half of the training clips (the validation clips left out, the sampler padding an odd count);
    # the epoch's count is summed over both
    val = json.loads((run / "val.json").read_text())["clips"]
    clips = len(open_dataset(tiny_data, "train").samples) - len(val)
    assert [e["train_clips"] for e in history] == [clips + clips % 2]
    assert "val_top1" in history[-1]


@pytest.mark.slow
def test_two_processes_run_the_whole_pipeline(tiny_data, tmp_path):
    result = _torchrun(tmp_path, tiny_data)
    run = _check_written_once(tmp_path, result, DEFAULT_STAGES)
    assert not (run / "two_stream.pt").exists()  # trained on request only (--stage two_stream)
