"""A validation split in every run, grouped by scene where names carry one; semi-supervised stages (FixMatch with a
mean teacher); the teacher guard, decided on validation only: the test split chooses nothing."""

import json
import random
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from helpers_run import CLASSES, make_tiny_data

from darkedge.checkpoint import load_checkpoint
from darkedge.cli import main
from darkedge.data.lists import Sample
from darkedge.data.split import group_of, validation_split
from darkedge.names import UNLABELED
from darkedge.train.command import say_distillation_source
from darkedge.train.guard import Together, decide, sign_test
from darkedge.train.semi import Ema, fixmatch_loss, strong_augment

TINY = ["--preset", "test", "--epochs", "2", "--workers", "0", "--calib", ""]


def arid_samples(scenes_of_class: dict[int, list[int]], per_scene: int = 2) -> list[Sample]:
    """ARID-named clips: Class/Class_scene_clip.avi, `per_scene` clips of each class in each of its scenes."""
    samples = []
    for label, scenes in scenes_of_class.items():
        name = CLASSES[label]
        for scene in scenes:
            samples += [
                Sample(Path(f"{name}/{name}_{scene}_{k}.avi"), label) for k in range(1, per_scene + 1)
            ]
    return samples


def test_a_clip_names_its_scene_or_camera_where_its_path_says():
    assert group_of(Path("Jump/Jump_11_3.avi"), CLASSES) == "scene 11"
    assert group_of(Path("clips/Wave/Wave_02_1.mp4"), CLASSES) == "scene 2"
    assert (
        group_of(Path("Wave/gate/0001.mp4"), CLASSES) == "camera gate"
    )  # a folder per camera below the class
    assert group_of(Path("Wave/clip_0001.mp4"), CLASSES) is None
    assert group_of(Path("Other_1_2.avi"), CLASSES) is None  # "Other" is no class of this set


def test_validation_holds_out_whole_scenes_and_covers_every_class():
    # scene numbers shared between actions, as in ARID: scene 2 holds Drink and Jump, scene 10 Jump and Wave
    samples = arid_samples({0: [1, 2, 3, 4], 1: [2, 5, 10, 6], 2: [10, 7, 8, 9]})
    for seed in range(5):
        split = validation_split(samples, CLASSES, 0.1, seed)
        val_scenes = {group_of(s.path, CLASSES) for s in split.val}
        train_scenes = {group_of(s.path, CLASSES) for s in split.train}
        assert not val_scenes & train_scenes  # no scene on both sides
        assert sorted(val_scenes) == split.groups and split.grouped_by == "scene"
        assert {s.label for s in split.val} == {0, 1, 2} == {s.label for s in split.train}
        assert len(split.val) + len(split.train) == len(samples)
        assert validation_split(samples, CLASSES, 0.1, seed).val == split.val  # fixed by the seed
    assert len({tuple(validation_split(samples, CLASSES, 0.1, seed).groups) for seed in range(5)}) > 1


def test_validation_without_scene_names_is_class_stratified_and_a_one_scene_class_falls_back():
    plain = [Sample(Path(f"{CLASSES[c]}/clip_{i}.avi"), c) for c in range(3) for i in range(10)]
    split = validation_split(plain, CLASSES, 0.2, seed=0)
    assert sorted(s.label for s in split.val) == [0, 0, 1, 1, 2, 2] and split.grouped_by == "clip"
    # Wave was filmed in one scene only: it cannot be held out whole without leaving no Wave clip to train on
    samples = arid_samples({0: [1, 2], 1: [3, 4], 2: [5]}, per_scene=3)
    split = validation_split(samples, CLASSES, 0.1, seed=0)
    assert split.ungrouped_classes == ["Wave"] and {s.label for s in split.train} == {0, 1, 2}
    assert sum(s.label == 2 for s in split.val) == 1


def test_the_sign_test_resolves_only_clear_margins():
    assert sign_test([1] * 6 + [0] * 4, [0] * 6 + [0] * 4) == (True, 6, 0)  # 6 to 0: resolved
    assert sign_test([1, 1, 0, 0], [0, 0, 0, 0])[0] is False  # 2 to 0 on 4 clips: too few to tell
    assert sign_test([1, 1, 1, 0], [0, 0, 0, 1])[0] is False  # 3 to 1
    assert sign_test([1, 0], [1, 0, 1])[0] is False  # misaligned results never resolve


def test_a_teacher_worse_on_validation_is_not_used():
    teacher = {"top1": 40.0, "correct": [1, 0, 0, 0, 1, 0, 0, 0, 0, 1]}
    raw = {"top1": 70.0, "correct": [1, 1, 1, 1, 1, 0, 1, 0, 0, 1]}
    decision = decide(teacher, raw, both_top1=60.0)
    assert decision["source"] == "raw" and "do not resolve" in decision["why"]
    assert decide(teacher, raw, both_top1=70.0)["source"] == "both"  # a tie: the hedge
    better = {"top1": 90.0, "correct": [1] * 9 + [0]}
    assert decide(better, {"top1": 20.0, "correct": [1, 1] + [0] * 8}, None)["source"] == "teacher"


def test_the_end_of_train_warns_when_the_student_distilled_a_teacher_worse_on_validation(caplog):
    metrics = {
        "teacher": {"top1": 99.0, "val": {"top1": 36.4}},  # its test score plays no part
        "raw": {"top1": 10.0, "val": {"top1": 57.0}},
        "student": {"top1": 51.6},
        "guard": {"source": "teacher", "why": "the guard is off (guard=false)"},
    }
    with caplog.at_level("INFO"):
        assert say_distillation_source(metrics)
    assert "teacher (validation top-1 36.4 %) scores below the raw baseline (57.0 %)" in caplog.text
    assert "the student distilled from teacher: the guard is off" in caplog.text
    caplog.clear()
    metrics["guard"] = {"source": "raw", "why": "..."}
    assert not say_distillation_source(metrics)
    assert not say_distillation_source({"teacher": {"top1": 60.9}})  # one stage of a run: nothing to say


def test_strong_augmentation_changes_clips_within_range_and_follows_the_seed():
    clips = torch.rand(3, 3, 4, 16, 16) * 0.1
    torch.manual_seed(5)
    a = strong_augment(clips)
    torch.manual_seed(5)
    b = strong_augment(clips)
    assert a.shape == clips.shape and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and not torch.allclose(a, clips)


def test_fixmatch_learns_labels_and_only_confident_pseudo_labels():
    logits = torch.randn(4, 3)
    labels = torch.tensor([2, 0, UNLABELED, UNLABELED])
    # the EMA's logits of the unlabelled clips: the first sure of class 0, the second not
    ema = torch.tensor([[9.0, 0, 0], [0.1, 0, 0]])
    ce = F.cross_entropy(logits[:2], labels[:2])
    pseudo = F.cross_entropy(logits[2:3], torch.tensor([0]))
    torch.testing.assert_close(fixmatch_loss(logits, labels, ema, 0.9, 2.0), ce + 2.0 * pseudo / 2)
    torch.testing.assert_close(fixmatch_loss(logits, labels, ema, 0.9, 0.0), ce)


def test_the_ema_follows_the_weights_at_its_decay_and_never_trains():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = Ema(model, decay=0.75)
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(4.0)
    ema.update(model)
    torch.testing.assert_close(ema.module[0].weight, before + 1.0)
    ema.train()
    assert not ema.module.training and not any(p.requires_grad for p in ema.parameters())


def test_together_is_the_mean_of_probabilities():
    a, b = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)
    x = torch.randn(4, 2)
    mean = (a(x).softmax(1) + b(x).softmax(1)) / 2
    torch.testing.assert_close(Together(a, b)(x).softmax(1), mean)


def _train(data: Path, out: Path, *extra: str) -> Path:
    result = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(out), *TINY, *extra])
    assert result.exit_code == 0, result.output
    return (out / "latest").resolve()


def _choices(run: Path) -> dict:
    """Everything a run chose: its splits, each stage's kept epoch and validation results, the guard's decision."""
    metrics = json.loads((run / "metrics.json").read_text())
    return {
        "val": json.loads((run / "val.json").read_text()),
        "labels": json.loads((run / "labels.json").read_text()),
        "guard": metrics["guard"],
        **{stage: metrics[stage]["val"] for stage in ("teacher", "raw", "student")},
    }


def test_the_test_split_chooses_nothing(tmp_path):
    data = make_tiny_data(tmp_path / "data")
    first = _train(data, tmp_path / "a", "--set", "label_fraction=0.7")
    # the same run with the test split's labels shuffled: every choice and every weight stays as it was
    test_list = data / "ARID_split1_test.txt"
    lines = [line.split("\t") for line in test_list.read_text().splitlines()]
    labels = [parts[1] for parts in lines]
    random.Random(3).shuffle(labels)
    assert labels != [parts[1] for parts in lines]
    test_list.write_text(
        "".join(f"{p[0]}\t{label}\t{p[2]}\n" for p, label in zip(lines, labels, strict=True))
    )
    second = _train(data, tmp_path / "b", "--set", "label_fraction=0.7")
    assert _choices(first) == _choices(second)
    assert json.loads((first / "val.json").read_text())["grouped_by"] == "scene"
    for stage in ("teacher", "raw", "student"):
        a, b = (load_checkpoint(run / f"{stage}.pt")["state_dict"] for run in (first, second))
        assert all(torch.equal(a[k], b[k]) for k in a), stage
    metrics = json.loads((first / "metrics.json").read_text())
    assert metrics["teacher"]["semi"] and "confident pseudo-labels" in metrics["teacher"]["training"]
    table = (first / "table.md").read_text()
    assert "Validation top-1 (%)" in table and "Teacher guard: the student distils from" in table


def test_a_run_without_validation_keeps_its_last_epoch_and_its_teacher(tmp_path):
    data = make_tiny_data(tmp_path / "data")
    run = _train(data, tmp_path / "runs", "--set", "val_fraction=0")
    assert not (run / "val.json").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val" not in metrics["student"] and metrics["student"]["distilled_from"] == "teacher"
    assert "no validation results" in metrics["guard"]["why"]


def test_refit_gives_the_student_and_qat_the_validation_clips_once_the_guard_has_chosen(tmp_path):
    from darkedge.names import INT8_NAME
    from darkedge.run import open_run

    data = make_tiny_data(tmp_path / "data")
    run = _train(data, tmp_path / "runs", "--set", "label_fraction=0.7", "--set", "refit=true")
    metrics = json.loads((run / "metrics.json").read_text())
    held_out = len(json.loads((run / "val.json").read_text())["clips"])
    assert (
        held_out >= 1
        and "val" in metrics["raw"]
        and "val" in metrics["teacher"]
        and metrics["guard"]["source"]
    )
    assert metrics["student"]["labelled_clips"] == metrics["raw"]["labelled_clips"] + held_out
    assert "val" not in metrics["student"] and metrics["student"]["refit"]
    assert "the validation clips among them: refit" in (run / "table.md").read_text()
    opened = open_run(run)
    assert len(opened.training_data(INT8_NAME).labelled) == metrics["student"]["labelled_clips"]
    assert not opened.training_data(INT8_NAME).validated and opened.training_data("raw").validated


@pytest.mark.parametrize("bad", ["val_fraction=1", "semi=student", "semi_threshold=0", "ema_decay=1"])
def test_bad_validation_and_semi_settings_are_one_line(tmp_path, bad):
    result = CliRunner().invoke(main, ["train", "--out", str(tmp_path), *TINY, "--set", bad])
    assert result.exit_code != 0 and bad.split("=")[0] in result.output
    assert "Traceback" not in result.output and not any(tmp_path.iterdir())


def test_a_validation_list_of_the_users_own_is_taken_as_it_is(tmp_path):
    data = make_tiny_data(tmp_path / "data")
    val_list = (
        tmp_path / "val.txt"
    )  # the test list's clips as a separate validation list, beside its own mapping
    val_list.write_text((data / "ARID_split1_test.txt").read_text())
    (tmp_path / "mapping_table.txt").write_text((data / "mapping_table.txt").read_text())
    for line in val_list.read_text().splitlines():
        rel = line.split("\t")[2]
        (tmp_path / "clips" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "clips" / rel).write_bytes((data / "clips" / rel).read_bytes())
    run = _train(data, tmp_path / "runs", "--val", str(val_list))
    split = json.loads((run / "val.json").read_text())
    assert split["source"] == str(val_list) and len(split["clips"]) == 6
    metrics = json.loads((run / "metrics.json").read_text())
    assert (
        metrics["raw"]["val"]["n_clips"] == 6 and metrics["raw"]["labelled_clips"] == 9
    )  # no training clip held out


class _Killed(KeyboardInterrupt):
    """Stands for Ctrl-C arriving in the middle of a stage."""


def test_a_semi_supervised_teacher_resumed_after_a_kill_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    """The EMA and the best validation weights so far live in the resume checkpoint and best.pt: a resumed
    semi-supervised stage keeps them and ends bit for bit where an uninterrupted one ends."""
    from darkedge.train.command import train

    data = make_tiny_data(tmp_path / "data")
    common = dict(preset="test", data=str(data), stage="teacher")
    settings = {"label_fraction": 0.7, "epochs": 3, "eval_every": 1, "workers": 0}
    train(out=tmp_path / "full", stage="enhancer", preset="test", data=str(data), settings=settings)
    full, _ = train(run=tmp_path / "full" / "latest", **common)
    shutil.copytree(tmp_path / "full", tmp_path / "killed", symlinks=True)
    killed = (tmp_path / "killed" / "latest").resolve()
    for name in ("teacher.pt", "metrics.json"):
        (killed / name).unlink()
    shutil.rmtree(killed / "teacher")

    real_step, calls = torch.optim.AdamW.step, {"n": 0}

    def step_then_die(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # in the second or third epoch, after a validation check
            raise _Killed
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_die)
    with pytest.raises(_Killed):
        train(run=killed, **common)
    assert (killed / "teacher" / "resume.pt").is_file() and (killed / "teacher" / "best.pt").is_file()
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    train(run=killed, resume=True, **common)
    a, b = (load_checkpoint(run / "teacher.pt") for run in (full, killed))
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["metrics"]["val"] == b["metrics"]["val"] and a["metrics"]["top1"] == b["metrics"]["top1"]
    assert not (killed / "teacher" / "best.pt").exists() and not (killed / "teacher" / "resume.pt").exists()


def test_a_stage_keeps_its_last_weights_unless_an_earlier_check_is_resolvably_better(tmp_path):
    from darkedge.train.distributed import SINGLE_PROCESS
    from darkedge.train.stage import BestWeights

    model = torch.nn.Linear(2, 2)
    best = BestWeights(model, tmp_path / "best.pt", SINGLE_PROCESS)
    early = {k: v.clone() for k, v in model.state_dict().items()}
    best.offer(2, 30.8, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])  # a lucky early check on 13 clips
    with torch.no_grad():
        model.weight.add_(1.0)
    last = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]  # 23.1 %: one clip either way is noise
    assert best.choose(10, last) == 10 and not torch.equal(model.weight, early["weight"])
    best.offer(4, 61.5, [1] * 8 + [0] * 5)  # 6 clips only it gets right, none only the last: resolved
    assert best.choose(10, last) == 4
    restored = BestWeights(model, tmp_path / "best.pt", SINGLE_PROCESS)
    restored.restore_from_file([{"epoch": 4, "val_top1": 61.5}])
    assert restored.epoch == 4 and restored.correct == [1] * 8 + [0] * 5
