"""`darkedge train` end to end on a tiny synthetic data set, and the bad inputs it must refuse in one line."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from darkedge.checkpoint import load_checkpoint
from darkedge.cli import main
from darkedge.data.synth import SynthConfig, synthesize
from darkedge.data.synth_actions import CLASSES
from darkedge.data.writer import write_video
from darkedge.models import load_model
from darkedge.names import STAGES
from darkedge.run import open_run

TINY = SynthConfig(clips_per_class=3, frames=12, width=48, height=36, scenes=3, test_scenes=1)
CLASSIFIER_STAGES = ("teacher", "student", "raw", "two_stream")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return synthesize(TINY, tmp_path_factory.mktemp("data") / "synth", workers=1, progress=False)


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """(out folder, CLI result) of one `darkedge train --preset test` run."""
    out = tmp_path_factory.mktemp("runs")
    calib = out.with_name(f"{out.name}-calibration")
    result = CliRunner().invoke(
        main,
        ["train", "--preset", "test", "--data", str(tiny_data), "--out", str(out), "--calib", str(calib)],
    )
    assert result.exit_code == 0, result.output
    return out, result


def _run_copy(trained, tmp_path: Path) -> Path:
    """A private copy of the trained run directory, to break."""
    return Path(shutil.copytree((trained[0] / "latest").resolve(), tmp_path / "run"))


def _error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_train_makes_the_run_directory_and_the_table(trained, tiny_data):
    out, result = trained
    calib = out.with_name(f"{out.name}-calibration")
    assert (calib / "calib_list.txt").is_file(), "a full run fills an empty calibration folder"
    runs = [p for p in out.iterdir() if p.name != "latest"]
    assert (
        len(runs) == 1 and (out / "latest").is_symlink() and (out / "latest").resolve() == runs[0].resolve()
    )
    run = open_run(out / "latest")
    assert run.config.preset == "test" and run.class_names == list(CLASSES)
    for name in ("config.json", "metrics.json", "table.md", *(f"{s}.pt" for s in STAGES)):
        assert (run.path / name).is_file(), name
    kinds = {"enhancer": "enhancer", "teacher": "teacher", "student": "classifier", "raw": "classifier"}
    for stage in CLASSIFIER_STAGES:
        assert (run.path / stage / "history.json").is_file() and (
            run.path / stage / "confusion.png"
        ).is_file()
        ckpt = load_checkpoint(run.checkpoint(stage), kind=kinds.get(stage, stage))
        assert ckpt["class_names"] == list(CLASSES) and 0 <= ckpt["metrics"]["top1"] <= 100
    assert not _leftovers(out)

    for row in ("Teacher", "Student", "Raw baseline", "Two-stream", "Protocol: 1 clip x 1 crop, 4 frames"):
        assert row in result.output and row in (run.path / "table.md").read_text()
    student, _ = load_model(run.checkpoint("student"), kind="classifier")
    clip = run.dataset("test", "student")[0][0]
    assert student(clip[None]).shape == (1, len(CLASSES))
    assert clip.shape == (3, 4, 32, 32)


def test_unknown_preset_is_refused_before_anything_is_written(tmp_path):
    result = CliRunner().invoke(main, ["train", "--preset", "huge", "--out", str(tmp_path / "runs")])
    assert "--preset huge: no such preset" in _error_line(result)
    assert not (tmp_path / "runs").exists()


def test_data_with_other_classes_is_refused(trained, tmp_path):
    run = _run_copy(trained, tmp_path)
    for name in ("Cartwheel", "Juggle"):
        frames = np.full((12, 36, 48, 3), 20, np.uint8)
        write_video(tmp_path / "other" / name / f"{name}_1.avi", frames, 10.0)
    before = {p: p.read_bytes() for p in (run / "config.json", run / "raw.pt")}
    result = CliRunner().invoke(
        main, ["train", "--stage", "raw", "--run", str(run), "--data", str(tmp_path / "other")]
    )
    assert "classes" in _error_line(result) and "differ" in result.output
    assert all(p.read_bytes() == content for p, content in before.items())
    assert not _leftovers(run)


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("plain_state_dict", "not a darkedge checkpoint"),
        ("runs_code", "refused"),
        ("other_kind", "expected 'teacher'"),
        ("truncated", "unreadable, truncated"),
        ("missing", "make it with `darkedge train --stage teacher --run"),
    ],
)
def test_bad_teacher_checkpoint_is_refused(trained, tmp_path, bad, message):
    run = _run_copy(trained, tmp_path)
    teacher = run / "teacher.pt"
    (run / "student.pt").unlink()
    if bad == "plain_state_dict":
        torch.save({"weight": torch.zeros(3)}, teacher)
    elif bad == "runs_code":
        payload = _RunsCode()
        payload.marker = tmp_path / "pwned"
        torch.save(payload, teacher)
    elif bad == "other_kind":
        shutil.copy(run / "raw.pt", teacher)
    elif bad == "truncated":
        teacher.write_bytes(teacher.read_bytes()[:1000])
    else:
        teacher.unlink()
    result = CliRunner().invoke(main, ["train", "--stage", "student", "--run", str(run)])
    assert message in _error_line(result)
    assert not (run / "student.pt").exists() and not (tmp_path / "pwned").exists()
    assert not _leftovers(run)


def test_a_run_keeps_its_own_settings(trained):
    result = CliRunner().invoke(main, ["train", "--run", str(trained[0] / "latest"), "--preset", "small"])
    assert "--preset: " in _error_line(result)


def test_unknown_stage_is_refused(trained):
    result = CliRunner().invoke(main, ["train", "--stage", "bogus", "--run", str(trained[0] / "latest")])
    assert "--stage bogus: no such stage" in _error_line(result)
