"""INT8 students: the real NNCF path on a tiny ViT (PTQ, QAT with distillation, save/restore), `darkedge quantize`.

`qrun` (conftest.py) is one tiny run directory (real video clips, an ARID-format list, vit_nano student and
teacher), quantized once per test session and shared with tests/test_export.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers_model import classifier_config
from helpers_run import CLASSES, make_tiny_data, make_tiny_run

from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.cli import main
from darkedge.errors import DarkedgeError
from darkedge.models import build_model
from darkedge.models.int8_checkpoint import from_plain, to_plain
from darkedge.quant import (
    QatConfig,
    finetune_quantized,
    load_int8_model,
    load_run_int8_student,
    quantize_ptq,
    save_int8_checkpoint,
)
from darkedge.run import open_run
from darkedge.train.distributed import Dist


def test_quantize_writes_int8_checkpoint_report_and_exports(qrun):
    report = json.loads((qrun / "quant" / "report.json").read_text())
    assert set(report["models"]) == {"student_fp32", "ptq_int8", "qat_kd_int8"}
    for entry in report["models"].values():
        assert 0 <= entry["accuracy"]["top1"] <= entry["accuracy"]["top5"] <= 100
    assert report["calibration_set"]["clips_used"] == 6
    assert report["qat"]["steps"] == 2 and report["qat"]["labelled"] is True
    assert report["float_point"]["quantize_nodes"] > 0
    assert report["float_point"]["quantized_matmul_conv"] > 0
    manifest = json.loads((qrun / "export" / "manifest.json").read_text())["files"]
    assert {"student_int8.onnx", "student_int8.xml"} <= set(manifest)
    assert manifest["student_int8.xml"]["input_shape"] == [1, 3, 4, 32, 32]
    assert manifest["student_int8.xml"]["class_names"] == CLASSES
    ckpt = load_checkpoint(qrun / "student_int8.pt", kind="classifier_int8")  # weights_only=True
    assert ckpt["config"] == load_checkpoint(qrun / "student.pt")["config"]


def test_int8_student_differs_from_fp32_and_differs_from_ptq_after_qat(qrun):
    qat, _ = load_run_int8_student(open_run(qrun))
    ptq, _ = load_int8_model(qrun / "quant" / "student_int8_ptq.pt")
    fp32_state = load_checkpoint(qrun / "student.pt")["state_dict"]
    assert any("__nncf_hooks" in k for k in qat.state_dict())
    changed = [k for k, v in ptq.state_dict().items() if not torch.equal(v, qat.state_dict()[k])]
    assert changed  # QAT moved some weights or scales
    x = torch.rand(2, 3, 4, 32, 32)
    fp32 = build_model("classifier", load_checkpoint(qrun / "student.pt")["config"])
    fp32.load_state_dict(fp32_state)
    with torch.no_grad():
        assert not torch.equal(qat(x), fp32.eval()(x))


def test_ptq_qat_save_restore_gives_identical_outputs(tmp_path):
    config = asdict(classifier_config(encoder="vit_nano", num_classes=3, num_frames=4, img_size=32))
    student = build_model("classifier", config).eval()
    teacher = build_model("classifier", config).eval()
    batches = [torch.rand(1, 3, 4, 32, 32) for _ in range(4)]
    qmodel = quantize_ptq(student, batches, smooth_quant=False)
    dataset = [(torch.rand(3, 4, 32, 32), 0) for _ in range(4)]
    cfg = QatConfig(batch_size=2, epochs=1, lr=1e-3)
    before = {k: v.clone() for k, v in qmodel.state_dict().items()}
    stats = finetune_quantized(qmodel, teacher, None, dataset, labelled=False, cfg=cfg, d=Dist())
    assert stats["steps"] == 2 and np.isfinite(stats["mean_loss"])
    assert any(not torch.equal(v, qmodel.state_dict()[k]) for k, v in before.items())
    path = save_int8_checkpoint(tmp_path / "int8.pt", qmodel, config, CLASSES)
    torch.load(path, weights_only=True)  # plain data only
    restored, _ = load_int8_model(path)
    x = torch.rand(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(restored(x), qmodel.eval()(x))


def test_nncf_config_round_trips_as_plain_data():
    from nncf.common.quantization.structs import QuantizationScheme

    config = {"a": (1, 2), "mode": QuantizationScheme.SYMMETRIC, "nested": [{"s": (3,)}]}
    plain = to_plain(config)
    assert json.loads(json.dumps(plain)) == plain
    assert from_plain(plain) == config
    assert from_plain(plain)["mode"] is QuantizationScheme.SYMMETRIC


def test_checkpoint_enum_outside_nncf_is_refused():
    with pytest.raises(ValueError, match="not an NNCF type"):
        from_plain({"__enum__": "os:PathLike", "value": 1})


def test_checkpoint_name_leading_to_a_function_through_nncf_is_not_called(tmp_path):
    import nncf.common.utils.helpers as helpers

    assert helpers.os.system  # the route exists: an nncf module that imports os
    marker = tmp_path / "ran"
    with pytest.raises(ValueError, match="not an NNCF enum"):
        from_plain({"__enum__": "nncf.common.utils.helpers:os.system", "value": f"touch {marker}"})
    assert not marker.exists()


def test_int8_checkpoint_of_another_architecture_is_one_line_error(qrun, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(qrun, run, ignore=shutil.ignore_patterns("export", "quant"))
    ckpt = load_checkpoint(run / "student_int8.pt")
    other = dict(ckpt["config"], num_classes=5)
    save_checkpoint(
        run / "student_int8.pt",
        kind="classifier_int8",
        config=other,
        state_dict=ckpt["state_dict"],
        extra=ckpt["extra"],
    )
    with pytest.raises(DarkedgeError, match="another architecture"):
        load_run_int8_student(open_run(run))
    result = CliRunner().invoke(
        main, ["export", "--run", str(run), "--model", "student_int8", "--format", "onnx"]
    )
    assert result.exit_code == 1 and "another architecture" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (run / "export").exists()
    # the same weights under the FP32 student's config, but the student itself built differently
    save_checkpoint(
        run / "student.pt",
        kind="classifier",
        config=other,
        state_dict=build_model("classifier", other).state_dict(),
    )
    save_checkpoint(
        run / "student_int8.pt",
        kind="classifier_int8",
        config=other,
        state_dict=ckpt["state_dict"],
        extra=ckpt["extra"],
    )
    with pytest.raises(DarkedgeError, match="do not fit this architecture"):
        load_run_int8_student(open_run(run))


# A QAT run that kills itself (SIGKILL: no clean-up runs) as soon as its first resume checkpoint is on disk.
KILL_AFTER_FIRST_RESUME_CHECKPOINT = """
import os, signal, sys
import torch
import darkedge.train.engine as engine
from darkedge.cli import main

torch.set_num_threads(1)  # as in this test process (conftest.py): the same sums in the same order

save = engine.save_resume

def save_then_die(*args, **kwargs):
    save(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

engine.save_resume = save_then_die
main(sys.argv[1:])
"""


def test_qat_killed_after_an_epoch_resumes_to_the_weights_and_metrics_of_an_uninterrupted_run(
    tmp_path, monkeypatch
):
    data = make_tiny_data(tmp_path / "data")
    runs = {name: make_tiny_run(tmp_path / name, data) for name in ("full", "killed")}
    # 9 training clips in batches of 4: 2 steps per epoch, 2 epochs; clipping on, so it is exercised here too
    settings = ["--calib", str(data), "--calib-clips", "4", "--epochs", "2", "--batch-size", "4"]
    settings += ["--grad-clip", "0.5", "--no-export"]
    full = CliRunner().invoke(main, ["quantize", "--run", str(runs["full"]), *settings])
    assert full.exit_code == 0, full.output

    killed = runs["killed"]
    command = [sys.executable, "-c", KILL_AFTER_FIRST_RESUME_CHECKPOINT, "quantize", "--run", str(killed)]
    done = subprocess.run([*command, *settings], capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert load_checkpoint(killed / "quant" / "resume.pt", kind="resume")["extra"]["epoch"] == 1
    assert not (killed / "student_int8.pt").exists() and not (killed / "quant" / "report.json").exists()

    other = CliRunner().invoke(
        main, ["quantize", "--run", str(killed), *settings, "--lr", "1e-3", "--resume"]
    )
    assert other.exit_code == 1 and other.output.strip().splitlines()[-1].startswith("Error: ")
    assert "resume.pt: resume checkpoint of QAT with other settings" in other.output
    assert (killed / "quant" / "resume.pt").is_file()

    real_step, calls = torch.optim.AdamW.step, {"n": 0}

    def counting_step(self, *args, **kwargs):
        calls["n"] += 1
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", counting_step)
    resumed = CliRunner().invoke(main, ["quantize", "--run", str(killed), *settings, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert calls["n"] == 2  # only the second epoch was trained again
    assert not (killed / "quant" / "resume.pt").exists()

    a, b = (load_checkpoint(run / "student_int8.pt") for run in (runs["full"], killed))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    reports = [json.loads((run / "quant" / "report.json").read_text()) for run in (runs["full"], killed)]
    assert reports[0]["qat"]["steps"] == 4
    untimed = [{k: v for k, v in r["qat"].items() if k != "loader"} for r in reports]  # seconds differ
    assert untimed[0] == untimed[1] and reports[0]["qat"]["loader"]["workers"] >= 0
    assert reports[0]["models"] == reports[1]["models"]


def test_quantize_without_teacher_is_one_line_error(tmp_path):
    data = make_tiny_data(tmp_path / "data", clips_per_class=1)
    run = make_tiny_run(tmp_path, data, teacher=False)
    result = CliRunner().invoke(main, ["quantize", "--calib", str(tmp_path), "--run", str(run)])
    assert result.exit_code == 1
    assert "teacher.pt: no such checkpoint" in result.output and len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "student.pt"]


def test_quantize_with_empty_or_missing_calibration_says_how_to_fill_it(tmp_path):
    data = make_tiny_data(tmp_path / "data", clips_per_class=1)
    run = make_tiny_run(tmp_path, data)
    empty = tmp_path / "calibration"
    empty.mkdir()
    (empty / "README.md").write_text("clips go here\n")
    for calib in (empty, tmp_path / "missing"):
        result = CliRunner().invoke(main, ["quantize", "--calib", str(calib), "--run", str(run)])
        assert result.exit_code == 1
        assert "darkedge calib build" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (run / "quant").exists() and not (run / "student_int8.pt").exists()


def test_quantize_with_only_undecodable_calibration_clips_fails(tmp_path):
    data = make_tiny_data(tmp_path / "data", clips_per_class=1)
    run = make_tiny_run(tmp_path, data)
    calib = tmp_path / "calibration"
    calib.mkdir()
    (calib / "a.avi").write_bytes(b"not a video")
    (calib / "b.mp4").write_bytes(b"")
    result = CliRunner().invoke(main, ["quantize", "--calib", str(calib), "--run", str(run)])
    assert result.exit_code == 1
    assert "none of the 2 calibration clips could be decoded" in result.output
    assert not (run / "quant").exists()


@pytest.mark.slow
def test_quantize_under_torchrun_two_processes(tmp_path):
    data = make_tiny_data(tmp_path / "data")
    run = make_tiny_run(tmp_path, data)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "darkedge",
        "--",
        "quantize",
        "--calib",
        str(data),
        "--run",
        str(run),
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--no-export",
    ]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((run / "quant" / "report.json").read_text())
    assert report["qat"]["steps"] == 2 and report["exports"] == {}
    load_run_int8_student(open_run(run))
