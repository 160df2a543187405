"""The default student, as the premise table reads it: trained from scratch it starts from exactly the raw
baseline's weights, and what it learns depends on the teacher's logits (the KL term), through the real pipeline."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers_model import classifier_config
from helpers_run import make_tiny_data

import darkedge.train.command as pipeline
from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.train.command import train


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return make_tiny_data(tmp_path_factory.mktemp("student"))


@pytest.fixture(scope="module")
def pipeline_run(tiny_data, tmp_path_factory):
    """The default stages of a tiny run with the student from scratch, and the weights each stage started from."""
    starts: dict[str, dict[str, torch.Tensor]] = {}
    real_fit = pipeline.fit

    def recording_fit(model, **kwargs):
        starts[kwargs["stage"]] = {k: v.clone() for k, v in model.state_dict().items()}
        return real_fit(model, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "fit", recording_fit)
        settings = {"student_init": "scratch", "epochs": 2, "guard": False}  # the student of the teacher
        run, _ = train(
            out=tmp_path_factory.mktemp("runs"), preset="test", data=str(tiny_data), settings=settings
        )
    return run, starts


def test_the_default_pipeline_trains_teacher_student_and_raw_but_not_two_stream(pipeline_run):
    run, starts = pipeline_run
    assert set(starts) == {"teacher", "student", "raw"}
    table = (run / "table.md").read_text()
    assert "CE + KL to the teacher (tau 1), from scratch" in table
    assert "they differ only by the teacher's KL term" in table
    assert not (run / "two_stream.pt").exists()


def test_a_scratch_student_starts_from_the_raw_baselines_initial_weights(pipeline_run):
    _, starts = pipeline_run
    student, raw, teacher = starts["student"], starts["raw"], starts["teacher"]
    assert student.keys() == raw.keys()
    assert all(torch.equal(student[k], raw[k]) for k in raw)
    # ... and not from the teacher's classifier, which started from the same seed but trained before
    trained_teacher = load_checkpoint(pipeline_run[0] / "teacher.pt")["state_dict"]
    fc = "classifier.fc.weight"
    assert fc in teacher and not torch.equal(student["fc.weight"], trained_teacher[fc])


def _student_trained_with(
    run: Path, folder: Path, teacher_scale: float, beta: float, hint: float = 0.0
) -> dict[str, torch.Tensor]:
    """The student stage retrained in a copy of `run`, with its teacher's logits scaled by `teacher_scale` (same
    argmax, other soft targets), the KL weight `beta` and the feature-hint weight `hint`."""
    shutil.copytree(run, folder, ignore=shutil.ignore_patterns("student*"))
    config = json.loads((folder / "config.json").read_text())
    config["train"].update(beta=beta, hint=hint)
    (folder / "config.json").write_text(json.dumps(config))
    teacher = load_checkpoint(folder / "teacher.pt")
    state = teacher["state_dict"]
    for name in ("classifier.fc.weight", "classifier.fc.bias"):
        state[name] = state[name] * teacher_scale
    save_checkpoint(
        folder / "teacher.pt",
        kind=teacher["kind"],
        config=teacher["config"],
        state_dict=state,
        class_names=teacher["class_names"],
    )
    train(run=folder, stage="student")
    return load_checkpoint(folder / "student.pt")["state_dict"]


def test_the_teachers_logits_change_what_the_student_learns_only_through_the_kl_term(pipeline_run, tmp_path):
    run, _ = pipeline_run
    same = lambda a, b: all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    with_kl = _student_trained_with(run, tmp_path / "kl", teacher_scale=1.0, beta=1.0)
    with_kl_other_teacher = _student_trained_with(run, tmp_path / "kl3", teacher_scale=3.0, beta=1.0)
    assert not same(with_kl, with_kl_other_teacher)  # the teacher's logits reach the student's gradient
    no_kl = _student_trained_with(run, tmp_path / "ce", teacher_scale=1.0, beta=0.0)
    no_kl_other_teacher = _student_trained_with(run, tmp_path / "ce3", teacher_scale=3.0, beta=0.0)
    assert same(no_kl, no_kl_other_teacher)  # ... through the KL term alone
    assert not same(with_kl, no_kl)
    raw = load_checkpoint(run / "raw.pt")["state_dict"]
    assert same(no_kl, raw)  # and without it the scratch student is exactly the raw baseline


def test_feature_hints_change_what_the_student_learns(pipeline_run, tmp_path):
    run, _ = pipeline_run
    plain = _student_trained_with(run, tmp_path / "kl", teacher_scale=1.0, beta=1.0)
    hinted = _student_trained_with(run, tmp_path / "hint", teacher_scale=1.0, beta=1.0, hint=1.0)
    assert not all(torch.equal(plain[k], hinted[k]) for k in plain)
    assert "+ 1 x feature hints" in (tmp_path / "hint" / "table.md").read_text()


def test_feature_hints_need_features_of_the_teachers_width():
    from dataclasses import asdict

    from darkedge.enhance import EnhancerConfig
    from darkedge.errors import DarkedgeError
    from darkedge.models import build_model
    from darkedge.train.stage import FeatureHints

    def classifier(width: float) -> dict:
        return asdict(
            classifier_config(
                encoder="r2plus1d_nano", head="mean", num_classes=3, num_frames=4, img_size=16, width=width
            )
        )

    teacher = build_model(
        "teacher", {"enhancer": asdict(EnhancerConfig(name="gamma")), "classifier": classifier(1.0)}
    )
    with pytest.raises(DarkedgeError, match="hint: the student's features are 32 wide and the teacher's 64"):
        FeatureHints(build_model("classifier", classifier(0.5)), teacher)
