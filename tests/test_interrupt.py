"""Interrupted commands: one line, exit 130 (SIGINT) or 143 (SIGTERM), nothing half-written under a real name and
no temporary file left behind. Real subprocesses are signalled in the middle of writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from darkedge.checkpoint import save_checkpoint
from darkedge.data.video import count_frames
from darkedge.data.writer import VideoWriter, write_video
from darkedge.enhance import EnhancerConfig, build_enhancer
from darkedge.fileio import Terminated, atomic_path, cleanup_on_interrupt, temporary_beside

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 120  # the longest a test waits for the command to reach the point where it is signalled


def hidden(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()]


def finished(out: Path) -> list[Path]:
    """Clips under their real names (pathlib's glob would also match the hidden temporary files)."""
    return [p for p in out.glob("clips/*/*.avi") if not p.name.startswith(".")]


def test_sigterm_raises_and_removes_registered_files(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), cleanup_on_interrupt():
        tmp = temporary_beside(tmp_path / "model.onnx")  # e.g. an exporter's file, not yet in a `with`
        folder = temporary_beside(tmp_path / "model.xml", folder=True)  # OpenVINO's .xml + .bin
        (folder / "model.bin").write_bytes(b"weights")
        video = VideoWriter(tmp_path / "clip.mp4", 10)
        video.write(np.zeros((24, 32, 3), np.uint8))
        assert tmp.exists() and folder.is_dir() and len(hidden(tmp_path)) == 2
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert hidden(tmp_path) == [] and list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_inside_atomic_path_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), cleanup_on_interrupt(), atomic_path(tmp_path / "a.pt") as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "darkedge", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # as from a terminal: a shell's background job (`pytest &`, nohup) hands its children SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(condition, process: subprocess.Popen) -> None:
    started = time.monotonic()
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - started < WAIT_S, "the command never got there"
        time.sleep(0.02)


def interrupted(process: subprocess.Popen, signum: int) -> tuple[str, str]:
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    assert err.strip().splitlines()[-1] == f"interrupted by {signal.Signals(signum).name}"
    assert "Traceback" not in err
    return out, err


def test_enhance_apply_sigterm_mid_video(tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "night.avi"
    write_video(source, rng.integers(0, 40, (600, 96, 128, 3), dtype=np.uint8), fps=25)
    cfg = EnhancerConfig(name="zero_dce")
    enhancer = tmp_path / "zero_dce.pt"
    save_checkpoint(
        enhancer, kind="enhancer", config=asdict(cfg), state_dict=build_enhancer(cfg).state_dict()
    )
    process = start("enhance", "apply", str(source), "--enhancer", str(enhancer))
    wait_for(lambda: hidden(tmp_path), process)  # the output's temporary file: frames are being written
    out, _ = interrupted(process, signal.SIGTERM)
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night.avi", "zero_dce.pt"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_data_synth_interrupted_with_workers(tmp_path, signum):
    out = tmp_path / "synth"
    args = ["data", "synth", "--out", str(out), "--clips-per-class", "20", "--frames", "16"]
    process = start(*args, "--size", "320x240", "--workers", "2")
    wait_for(lambda: len(finished(out)) >= 2, process)
    interrupted(process, signum)
    assert hidden(out) == []
    assert not (out / "ARID_split1_train.txt").exists()  # the lists come last, with a complete set only
    clips = finished(out)
    assert clips and all(count_frames(clip) == 16 for clip in clips)  # whatever has a real name is whole


def test_an_error_raised_while_sigterm_unwinds_still_ends_in_one_line_and_exit_143(tmp_path):
    """A DataLoader worker the same SIGTERM ended makes torch raise a RuntimeError while Terminated unwinds (seen
    under systemd's group stop): the command still prints one line, exits 143 and leaves no temporary file."""
    import click
    from click.testing import CliRunner

    from darkedge.cli import _Group

    @click.group(cls=_Group)
    def group() -> None:
        pass

    @group.command()
    def stopped() -> None:
        temporary_beside(tmp_path / "model.pt")
        try:
            raise Terminated
        finally:
            raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Terminated.")

    @group.command()
    def broken() -> None:
        raise RuntimeError("a real bug")

    result = CliRunner().invoke(group, ["stopped"])
    assert result.exit_code == 143 and result.output.strip() == "interrupted by SIGTERM"
    assert list(tmp_path.iterdir()) == []
    result = CliRunner().invoke(group, ["broken"])  # an error with no interruption behind it is not one
    assert isinstance(result.exception, RuntimeError)
