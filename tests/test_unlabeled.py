"""Distillation on unlabelled footage: folders, lists and long recordings become clips; the student's and QAT's
batches mix them in; the labels of clips held back by label_fraction are never read; bad footage is one line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from helpers_run import CLASSES, make_tiny_data
from helpers_video import write_textured_video

import darkedge.data.lists as lists
from darkedge.cli import main
from darkedge.data.lists import DataIndex, Sample
from darkedge.data.unlabeled import MixedBatches, find_videos, hold_back_labels, stretches, unlabeled_index
from darkedge.errors import DarkedgeError
from darkedge.names import UNLABELED
from darkedge.train.losses import distillation_loss

TINY = ["--preset", "test", "--epochs", "2", "--workers", "0", "--calib", ""]


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    """Unlabelled footage: a camera folder of short clips, one long recording and one file that is no video."""
    root = tmp_path_factory.mktemp("footage")
    for i in range(3):
        write_textured_video(root / "cam1" / f"rec{i}.avi", num_frames=12, size=(40, 40), seed=i)
    write_textured_video(root / "long.avi", num_frames=120, size=(40, 40), seed=9)
    (root / "broken.avi").write_bytes(b"\x00" * 500)
    return root


def test_a_long_recording_is_cut_into_many_clips_each_read_alone(footage, monkeypatch):
    videos = find_videos(footage)
    assert [p.name for p in videos] == ["broken.avi", "long.avi", "rec0.avi", "rec1.avi", "rec2.avi"]
    found = unlabeled_index(videos, span=7, source=str(footage))
    assert [p.name for p, _ in found.unreadable] == ["broken.avi"]  # skipped and counted, not fatal
    long = [s for s in found.index.samples if s.path.name == "long.avi"]
    assert [(s.start, s.num_frames) for s in long] == [(14 * k, 14) for k in range(7)] + [(98, 22)]
    assert all(s.label == UNLABELED for s in found.index.samples) and found.frames == 120 + 3 * 12
    assert stretches(Path("x.avi"), 10, span=7) == [Sample(Path("x.avi"), UNLABELED, 10, 0)]


def test_mixed_batches_hold_labelled_clips_in_the_default_order_and_unlabelled_ones_at_the_ratio():
    sampler = MixedBatches(labelled=10, unlabeled=7, batch_size=4, ratio=0.5, seed=3)
    sampler.set_epoch(2)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    order = torch.randperm(10, generator=torch.Generator().manual_seed(3 + 2)).tolist()
    assert [
        i for b in batches for i in b if i < 10
    ] == order  # what DistributedSampler gives the raw baseline
    extra = [[i for i in b if i >= 10] for b in batches]
    assert [len(e) for e in extra] == [2, 2, 2] and len(
        set(sum(extra, []))
    ) == 6  # no repeats before the pool ends
    assert MixedBatches(10, 0, 4, 1.0, 3).extra == 0


def test_unlabelled_clips_add_to_the_kl_term_only():
    logits, teacher = torch.randn(4, 3), torch.randn(4, 3)
    labels = torch.tensor([2, UNLABELED, 0, UNLABELED])
    kl = distillation_loss(logits, teacher, None)
    ce = F.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    torch.testing.assert_close(distillation_loss(logits, teacher, labels, partly_labelled=True), kl + ce)
    none = torch.full((4,), UNLABELED)
    torch.testing.assert_close(distillation_loss(logits, teacher, none, partly_labelled=True), kl)


def test_label_fraction_keeps_a_stratified_share_fixed_by_the_seed():
    samples = [Sample(Path(f"{c}_{i}.avi"), c) for c in range(3) for i in range(10)]
    index = DataIndex(samples, CLASSES, Path("."), "arid")
    kept, held = hold_back_labels(index, 0.2, seed=1)
    assert sorted(s.label for s in kept.samples) == [0, 0, 1, 1, 2, 2] and len(held) == 24
    assert hold_back_labels(index, 0.2, seed=1)[0].samples == kept.samples
    assert hold_back_labels(index, 0.2, seed=2)[0].samples != kept.samples
    assert len(hold_back_labels(index, 0.01, seed=1)[0].samples) == 3  # at least one clip per class


def test_a_run_with_unlabelled_footage_trains_the_student_and_qat_on_it(tmp_path, footage):
    data = make_tiny_data(tmp_path / "data")
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["train", "--data", str(data), "--out", str(tmp_path / "runs"), "--unlabeled", str(footage), *TINY],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "latest"
    metrics = json.loads((run / "metrics.json").read_text())
    student = metrics["student"]
    assert student["unlabeled"]["clips"] == 8 + 3 and student["unlabeled"]["files"] == 4
    assert (
        len(student["unlabeled"]["unreadable"]) == 1 and "broken.avi" in student["unlabeled"]["unreadable"][0]
    )
    assert "raw" in metrics and "unlabeled" not in metrics["raw"]
    table = (run / "table.md").read_text()
    assert "labelled 6 clips + unlabelled 11 clips (KL only)" in table  # 9 training clips, 3 for validation
    assert "labelled 6 clips + unlabelled 11 clips (confident pseudo-labels)" in table  # the teacher's
    history = json.loads((run / "student" / "history.json").read_text())
    assert all(e["unlabeled_clips"] == e["train_clips"] - 6 for e in history)  # ratio 1: as many as labelled
    calib = tmp_path / "calib"
    assert (
        runner.invoke(
            main, ["calib", "build", "--run", str(run), "--out", str(calib), "--clips", "4"]
        ).exit_code
        == 0
    )
    quantize(runner, run, calib, "--epochs", "1")
    report = json.loads((run / "quant" / "report.json").read_text())
    assert report["qat"]["unlabeled_seen"] > 0


def quantize(runner: CliRunner, run: Path, calib: Path, *budget: str) -> None:
    """`darkedge quantize` of a tiny run, its exports left out."""
    args = ["quantize", "--run", str(run), "--calib", str(calib), *budget, "--batch-size", "2", "--no-export"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, (result.output, result.exception)


def test_held_back_labels_are_never_read(tmp_path, monkeypatch):
    """label_fraction: once the run has chosen its labelled clips, every stage (and calibration and QAT) runs on
    a data set whose held-back clips raise when their label is read."""
    data = make_tiny_data(tmp_path / "data")  # 3 training clips per class
    runner = CliRunner()
    args = [
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "runs"),
        "--set",
        "label_fraction=0.5",
        *TINY,
    ]
    assert runner.invoke(main, [*args, "--stage", "enhancer"]).exit_code == 0
    run = tmp_path / "runs" / "latest"
    split = json.loads((run / "labels.json").read_text())
    held = set(split["held_back"])
    assert len(split["labelled"]) == 6 and len(held) == 3

    class Secret(Sample):
        def __getattribute__(self, name):
            if name == "label":
                raise AssertionError(
                    f"the held-back label of {object.__getattribute__(self, 'path')} was read"
                )
            return object.__getattribute__(self, name)

    real = lists.open_dataset

    def open_with_secrets(*a, **k):
        index = real(*a, **k)
        index.samples = [
            Secret(s.path, -2, s.num_frames, s.start) if str(s.path) in held else s for s in index.samples
        ]
        return index

    monkeypatch.setattr(lists, "open_dataset", open_with_secrets)
    for stage in ("teacher", "student", "raw", "self_train"):
        result = runner.invoke(main, ["train", "--stage", stage, "--run", str(run)])
        assert result.exit_code == 0, (stage, result.output, result.exception)
    metrics = json.loads((run / "metrics.json").read_text())
    val = json.loads((run / "val.json").read_text())["clips"]
    assert not set(val) & held  # validation clips come from the labelled ones
    assert (
        metrics["student"]["labelled_clips"] == 6 - len(val) and metrics["student"]["unlabeled"]["clips"] == 3
    )
    # every stage takes the steps the whole split would (2 epochs of 9 clips in batches of 4), on 6 labelled clips
    for stage in ("teacher", "student", "raw", "self_train"):
        history = json.loads((run / stage / "history.json").read_text())
        assert sum(e["steps"] for e in history) == 2 * 3, stage
    calib = tmp_path / "calib"
    result = runner.invoke(main, ["calib", "build", "--run", str(run), "--out", str(calib), "--clips", "12"])
    assert result.exit_code == 0, result.output
    assert (calib / "clips" / "unlabeled").is_dir()  # held-back clips calibrate, as unlabelled clips
    assert "unlabelled clips" in result.output
    quantize(runner, run, calib, "--max-steps", "2")
    (run / "labels.json").write_text('{"labelled": [')  # cut short: the next stage says so in one line
    result = runner.invoke(main, ["train", "--stage", "student", "--run", str(run)])
    assert result.exit_code == 1 and "labels.json: not a label split darkedge wrote" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("target", "message"),
    [("missing", "no such file or folder (given as unlabelled footage)"), ("empty", "no videos in it")],
)
def test_unlabelled_footage_that_is_not_there_is_one_line_before_anything_is_written(
    tmp_path, target, message
):
    data = make_tiny_data(tmp_path / "data")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no video here")
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        main, ["train", "--data", str(data), "--out", str(out), "--unlabeled", str(tmp_path / target), *TINY]
    )
    assert result.exit_code == 1 and message in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ") and "Traceback" not in result.output
    assert not out.exists()


def test_data_check_reports_unlabelled_footage(footage):
    result = CliRunner().invoke(main, ["data", "check", str(footage), "--unlabeled", "--workers", "1"])
    assert (
        result.exit_code == 1
    )  # one file is unreadable: named, counted, exit non-zero as for a labelled set
    assert "unlabelled footage, no labels, 5 clips" in result.output and "0:00:16 of video" in result.output
    assert "broken.avi: cannot be opened as a video" in result.output


def test_an_unlabelled_video_that_fails_mid_training_is_skipped(tmp_path):
    from darkedge.config import make_config
    from darkedge.data.dataset import ClipDataset

    video = write_textured_video(tmp_path / "a.avi", num_frames=30, size=(40, 40))
    found = unlabeled_index([video], span=7, source="x")
    video.write_bytes(b"\x00" * 10)  # gone bad after it was indexed
    dataset = ClipDataset(
        found.index, make_config("test").feeding("teacher"), train=True, skip_unreadable=True
    )
    assert dataset[0] is None
    with pytest.raises(DarkedgeError):
        ClipDataset(found.index, make_config("test").feeding("teacher"), train=True).load(0)
    assert np.all([s.label == UNLABELED for s in found.index.samples])


def test_self_training_warm_starts_from_and_takes_hints_of_the_raw_baseline(tmp_path):
    """The self-training control's teacher is the raw baseline, a classifier without an enhancer in front: the
    student_init=teacher and hint settings apply to it as they do to the student's teacher."""
    data = make_tiny_data(tmp_path / "data")
    runner = CliRunner()
    base = ["train", "--data", str(data), "--out", str(tmp_path / "runs"), *TINY]
    recipe = ["--set", "label_fraction=0.5", "--set", "student_init=teacher", "--set", "hint=0.5"]
    for stage in ("enhancer", "raw", "self_train"):
        run = [] if stage == "enhancer" else ["--run", str(tmp_path / "runs" / "latest")]
        result = runner.invoke(main, [*base, *(recipe if not run else []), *run, "--stage", stage])
        assert result.exit_code == 0, (stage, result.output, result.exception)
    run = tmp_path / "runs" / "latest"
    table = (run / "table.md").read_text()
    assert (
        "CE + KL to the raw baseline (tau 1) + 0.5 x feature hints, from the raw baseline's weights" in table
    )
