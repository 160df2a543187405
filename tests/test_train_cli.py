"""`darkedge train` end to end on a tiny synthetic data set, and the bad inputs it must refuse in one line."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers_model import timm_vit_shapes

from darkedge.checkpoint import load_checkpoint
from darkedge.cli import main
from darkedge.data.loader import resolve_workers
from darkedge.data.synth import SynthConfig, synthesize
from darkedge.data.synth.actions import CLASSES
from darkedge.data.writer import write_video
from darkedge.models import load_model
from darkedge.names import DEFAULT_STAGES
from darkedge.run import open_run

TINY = SynthConfig(clips_per_class=3, frames=12, width=48, height=36, scenes=3, test_scenes=1)
CLASSIFIER_STAGES = ("teacher", "student", "raw", "two_stream")  # two_stream: `--stage two_stream` afterwards


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return synthesize(TINY, tmp_path_factory.mktemp("data") / "synth", workers=1, progress=False)


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """(out folder, CLI result) of one `darkedge train --preset test` run (the default stages), with the
    two-stream baseline added to it by `darkedge train --stage two_stream --run`."""
    out = tmp_path_factory.mktemp("runs")
    calib = out.with_name(f"{out.name}-calibration")
    result = CliRunner().invoke(
        main,
        ["train", "--preset", "test", "--data", str(tiny_data), "--out", str(out), "--calib", str(calib)],
    )
    assert result.exit_code == 0, result.output
    assert not (out / "latest" / "two_stream.pt").exists(), "two-stream is trained on request only"
    added = CliRunner().invoke(main, ["train", "--run", str(out / "latest"), "--stage", "two_stream"])
    assert added.exit_code == 0, added.output
    return out, added


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
    for name in (
        "config.json",
        "metrics.json",
        "table.md",
        *(f"{s}.pt" for s in (*DEFAULT_STAGES, "two_stream")),
    ):
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
    assert "--set preset: " in _error_line(result) and "keeps the settings" in result.output


def test_unknown_stage_is_refused(trained):
    result = CliRunner().invoke(main, ["train", "--stage", "bogus", "--run", str(trained[0] / "latest")])
    assert "--stage bogus: no such stage" in _error_line(result)


def _train(*args: str):
    return CliRunner().invoke(main, ["train", *args])


def _history(run: Path, stage: str) -> list[dict]:
    return json.loads((run / stage / "history.json").read_text())


def test_set_workers_and_config_file_are_used_and_saved(tiny_data, tmp_path):
    common = ["--preset", "test", "--data", str(tiny_data), "--stage", "raw"]
    result = _train(
        *common, "--set", "lr=1e-3", "--set", "epochs=2", "--workers", "2", "--out", str(tmp_path / "a")
    )
    assert result.exit_code == 0, result.output
    run = open_run(tmp_path / "a" / "latest")
    assert (run.config.lr, run.config.epochs, run.config.workers) == (1e-3, 2, 2)
    history = _history(run.path, "raw")
    assert len(history) == 2 and all(e["loader"]["workers"] == 2 for e in history)
    assert all(e["loader"]["compute_s"] > 0 and 0 <= e["loader"]["wait_share"] <= 1 for e in history)

    settings = tmp_path / "my.json"
    settings.write_text(json.dumps({"lr": 2e-3, "dropout": 0.0, "epochs": 3}))
    result = _train(*common, "--config", str(settings), "--set", "epochs=1", "--out", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    cfg = open_run(tmp_path / "b" / "latest").config
    assert (cfg.preset, cfg.lr, cfg.dropout, cfg.epochs, cfg.workers) == ("test", 2e-3, 0.0, 1, None)
    history = _history(tmp_path / "b" / "latest", "raw")
    assert history[0]["loader"]["workers"] == resolve_workers(None, "cpu")  # what "auto" chose, recorded


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "lrr=1e-3"], "unknown setting 'lrr' (did you mean 'lr'?)"),
        (["--set", "epochs=two"], "--set epochs=two: epochs takes an integer, not 'two'"),
        (["--set", "encoder=vit_smal"], "unknown encoder 'vit_smal'"),
        (["--pretrained", "missing.safetensors"], "missing.safetensors: no such weight file"),
        (["--config", "missing.json"], "missing.json: no such config file"),
    ],
)
def test_bad_settings_are_one_line_errors_before_anything_is_written(tiny_data, tmp_path, args, needle):
    result = _train("--preset", "test", "--data", str(tiny_data), "--out", str(tmp_path / "runs"), *args)
    assert needle in _error_line(result)
    assert not (tmp_path / "runs").exists()


def test_an_existing_run_takes_new_workers_and_epochs_but_keeps_its_recipe(trained, tmp_path):
    run = _run_copy(trained, tmp_path)
    result = _train("--run", str(run), "--stage", "raw", "--set", "lr=0.5")
    assert "--set lr: " in _error_line(result) and "keeps the settings" in result.output
    same = open_run(run).config
    result = _train(
        "--run", str(run), "--stage", "raw", "--workers", "0", "--epochs", "2", "--seed", str(same.seed)
    )
    assert result.exit_code == 0, result.output
    changed = open_run(run).config
    assert (changed.workers, changed.epochs, changed.lr) == (0, 2, same.lr)
    assert [e["loader"]["workers"] for e in _history(run, "raw")] == [0, 0]


# timm's ViT-S/16 (vit_small_patch16_224, the paper preset's encoder) as its model.safetensors holds it: width 384,
# 12 blocks, 16-px patches of 224-px images (14 x 14 + 1 position embeddings), a 1000-class head
VIT_S16 = timm_vit_shapes(dim=384, depth=12, patch=16)


def test_pretrained_timm_vit_s16_file_is_loaded_and_trained_from(tiny_data, tmp_path):
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(shape, generator=generator) for k, shape in VIT_S16.items()}
    weights = tmp_path / "model.safetensors"
    save_file(state, str(weights))
    paper_shaped = ["--set", "encoder=vit_small", "--set", "head=bert", "--set", "lr=1e-6"]
    common = ["--preset", "test", "--data", str(tiny_data), "--stage", "raw", *paper_shaped]
    result = _train(*common, "--pretrained", str(weights), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    run = open_run(tmp_path / "runs" / "latest")
    assert run.config.pretrained == str(weights.resolve())
    trained = load_checkpoint(run.checkpoint("raw"))["state_dict"]
    encoder = {k.removeprefix("backbone.encoder."): v for k, v in trained.items() if "encoder." in k}
    moved = 0.0
    for name in (
        "patch_embed.proj.weight",
        "blocks.0.attn.qkv.weight",
        "blocks.11.mlp.fc2.weight",
        "norm.bias",
    ):
        # one epoch at lr 1e-6 moves a weight by a few millionths: still the file's values, but trained
        torch.testing.assert_close(encoder[name], state[name], atol=1e-4, rtol=0)
        moved = max(moved, float((encoder[name] - state[name]).abs().max()))
    assert moved > 0
    assert encoder["pos_embed"].shape == (
        1,
        1 + 2 * 2,
        384,
    )  # 32-px frames: a 2 x 2 grid, resized from 14 x 14
    torch.testing.assert_close(encoder["pos_embed"][:, 0], state["pos_embed"][:, 0], atol=1e-4, rtol=0)

    wrong = tmp_path / "vit_tiny.safetensors"  # ViT-Ti/16's patch embedding: another width
    save_file({"patch_embed.proj.weight": torch.zeros(192, 3, 16, 16)}, str(wrong))
    result = _train(*common, "--pretrained", str(wrong), "--out", str(tmp_path / "wrong"))
    assert "vit_tiny.safetensors: weights do not fit VisionTransformer" in _error_line(result)
    assert not (tmp_path / "wrong").exists()
