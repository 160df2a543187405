"""Zero-reference training on real decoded frames, and `darkedge enhance train / apply` through the CLI."""

from __future__ import annotations

import json
from dataclasses import asdict

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.cli import main
from darkedge.config import EnhancerTrainConfig
from darkedge.data.lists import open_dataset
from darkedge.data.video import count_frames, read_frames
from darkedge.data.writer import write_video
from darkedge.enhance import EnhancerConfig, build_enhancer, load_enhancer
from darkedge.enhance.losses import zero_reference_loss
from darkedge.enhance.train import EnhancerJob, random_crops, train_enhancer


def dark_frames(n: int, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """Dark, textured RGB frames (mean about 0.07, like ARID): smooth blobs plus a little noise."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(
        rng.random((6, 8, 3)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
    )
    frames = [np.roll(base, shift=k, axis=1) * 0.12 + rng.random((height, width, 3)) * 0.02 for k in range(n)]
    return (np.clip(np.stack(frames), 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def dark_dataset(tmp_path):
    """A folder-per-class data set of two tiny dark videos."""
    root = tmp_path / "data"
    for k, name in enumerate(["Drink", "Jump"]):
        write_video(root / name / f"{name}_1_1.avi", dark_frames(8, seed=k), fps=10)
    return root


def test_training_steps_lower_the_loss(dark_dataset, tmp_path):
    index = open_dataset(dark_dataset, split="all")
    out = tmp_path / "run" / "enhancer.pt"
    recipe = EnhancerTrainConfig(name="zero_dce", scale_factor=1, steps=8, batch_size=4, crop=32, frames=3)
    cfg = EnhancerJob(out=str(out), enhancer=recipe)
    metrics = train_enhancer(index, cfg)

    frames = [frame for s in index.samples for frame in read_frames(s.path, range(count_frames(s.path)))]
    batch = random_crops(frames, 32, 8, np.random.default_rng(123))
    torch.manual_seed(cfg.seed)
    initial = build_enhancer(cfg.enhancer_config())  # the same initial weights training started from
    trained = load_enhancer(out)
    with torch.no_grad():
        before = zero_reference_loss(batch, *initial.enhance_with_curves(batch))["total"].item()
        after = zero_reference_loss(batch, *trained.enhance_with_curves(batch))["total"].item()
    assert after < before

    ckpt = load_checkpoint(out, kind="enhancer")
    assert ckpt["config"] == asdict(cfg.enhancer_config())
    history = json.loads((tmp_path / "run" / "enhancer" / "history.json").read_text())
    assert len(history["steps"]) == 8 and history["config"]["enhancer"]["steps"] == 8
    assert (tmp_path / "run" / "enhancer" / "loss.png").stat().st_size > 0
    assert metrics["frames"] == 6 and metrics["clips_skipped"] == 0 and metrics["crop"] == 32
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")] == []


def test_unreadable_clip_is_skipped_and_counted(dark_dataset, tmp_path):
    (dark_dataset / "Jump" / "Jump_2_1.avi").write_bytes(b"not a video")
    index = open_dataset(dark_dataset, split="all")
    cfg = EnhancerJob(
        out=str(tmp_path / "enhancer.pt"), enhancer=EnhancerTrainConfig(steps=1, batch_size=2, crop=16)
    )
    metrics = train_enhancer(index, cfg)
    assert metrics["clips_skipped"] == 1 and metrics["frames"] == 8


def test_cli_enhance_train(dark_dataset, tmp_path):
    out = tmp_path / "e.pt"
    result = CliRunner().invoke(
        main,
        [
            "enhance",
            "train",
            "--data",
            str(dark_dataset),
            "--split",
            "all",
            "--steps",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mean brightness" in result.output
    assert load_checkpoint(out, kind="enhancer")["metrics"]["frames"] == 8


def test_cli_enhance_train_bad_data(tmp_path):
    result = CliRunner().invoke(main, ["enhance", "train", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {tmp_path / 'nowhere'}: no such file or folder"]


def test_cli_apply_gamma_side_by_side_on_a_video(tmp_path):
    raw = dark_frames(6)
    source = tmp_path / "clip.avi"
    write_video(source, raw, fps=12)
    out = tmp_path / "clip_gamma.avi"
    result = CliRunner().invoke(
        main, ["enhance", "apply", str(source), "--gamma", "1.8", "--out", str(out), "--side-by-side"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out}"  # the progress bar went to stderr
    written = read_frames(out, range(count_frames(out)))
    assert written.shape == (6, 48, 128, 3)
    decoded_raw = read_frames(source, range(6)).astype(np.float32) / 255
    left, right = written[..., :64, :].astype(np.float32) / 255, written[..., 64:, :].astype(np.float32) / 255
    assert abs(left.mean() - decoded_raw.mean()) < 0.01
    assert abs(right.mean() - (decoded_raw ** (1 / 1.8)).mean()) < 0.02
    assert right.mean() > 2 * left.mean()
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(12)


def test_cli_apply_enhancer_on_an_image(tmp_path):
    path = tmp_path / "enhancer.pt"
    cfg = EnhancerConfig(name="zero_dce")
    model = build_enhancer(cfg)
    save_checkpoint(path, kind="enhancer", config=asdict(cfg), state_dict=model.state_dict())
    image = tmp_path / "dark.png"
    cv2.imwrite(str(image), dark_frames(1)[0][..., ::-1])
    result = CliRunner().invoke(main, ["enhance", "apply", str(image), "--enhancer", str(path)])
    assert result.exit_code == 0, result.output
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "dark_enhanced.png")), cv2.COLOR_BGR2RGB)
    with torch.no_grad():
        x = torch.from_numpy(dark_frames(1)[0]).permute(2, 0, 1)[None].float() / 255
        expected = (model(x).clamp(0, 1)[0].permute(1, 2, 0) * 255).round().numpy()
    assert np.abs(written.astype(np.float32) - expected).max() <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--enhancer", "missing.pt"], "missing.pt: no such file"),
        (["--enhancer", "missing.pt", "--gamma", "1.8"], "give either an enhancer file or a gamma, not both"),
        (["--gamma", "-1"], "gamma -1.0: must be positive"),
    ],
)
def test_cli_apply_bad_input(tmp_path, args, message):
    source = tmp_path / "clip.avi"
    write_video(source, dark_frames(2), fps=10)
    result = CliRunner().invoke(main, ["enhance", "apply", str(source), *args])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {message}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]


def test_cli_apply_default_enhancer_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "clip.avi", dark_frames(2), fps=10)
    result = CliRunner().invoke(main, ["enhance", "apply", "clip.avi"])
    assert result.exit_code == 1
    assert "runs/latest/enhancer.pt: no enhancer" in result.output and "--gamma 1.8" in result.output


def test_enhance_train_refuses_a_checkpoint_name_without_pt(dark_dataset, tmp_path):
    result = CliRunner().invoke(
        main, ["enhance", "train", "--data", str(dark_dataset), "--out", str(tmp_path / "e")]
    )
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'e'}: an enhancer checkpoint name must end in .pt"
    ]
    assert list(tmp_path.glob("e*")) == []


@pytest.mark.parametrize(
    "setting, message",
    [
        ("enhancer.name=gamma", "enhancer.name 'gamma': expected one of zero_dce, zero_dce_pp"),
        ("enhancer.crop=0", "enhancer.crop 0: must be at least 1"),
        ("enhancer=zero_dce", "'enhancer' is a group of settings; set one of them, e.g. enhancer.name"),
        ("enhancer.stepz=3", "unknown setting 'enhancer.stepz' (did you mean 'enhancer.steps'?)"),
    ],
)
def test_bad_enhancer_settings_fail_in_one_line_before_any_work(tmp_path, setting, message):
    for command in (["enhance", "train"], ["train", "--out", str(tmp_path)]):
        result = CliRunner().invoke(main, [*command, "--set", setting])
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_enhance_train_and_train_share_one_recipe(dark_dataset, tmp_path):
    """`darkedge enhance train` trains what `darkedge train`'s enhancer stage trains, set the same way
    (enhancer.*), and records the recipe nested in the checkpoint."""
    from darkedge.config import TrainConfig

    assert EnhancerJob().enhancer == TrainConfig().enhancer
    out = tmp_path / "e.pt"
    args = ["--data", str(dark_dataset), "--split", "all", "--out", str(out), "--model", "zero_dce"]
    result = CliRunner().invoke(main, ["enhance", "train", *args, "--set", "enhancer.steps=2", "--set",
                                       "enhancer.crop=16"])  # fmt: skip
    assert result.exit_code == 0, result.output
    recipe = load_checkpoint(out, kind="enhancer")["extra"]["train_config"]["enhancer"]
    assert recipe == {**asdict(TrainConfig().enhancer), "name": "zero_dce", "steps": 2, "crop": 16}
