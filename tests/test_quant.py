"""INT8 students: the real NNCF path on a tiny ViT (PTQ, QAT with distillation, save/restore), `darkedge quantize`.

`make_tiny_run` and `quantized_run` are shared with tests/test_export.py: one tiny run directory (real video clips,
an ARID-format list, vit_nano student and teacher), quantized once per test session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.cli import main
from darkedge.config import make_config
from darkedge.data.writer import write_video
from darkedge.enhance import EnhancerConfig
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
from darkedge.run import open_run, save_run_config
from darkedge.train.distributed import Dist
from darkedge.train.pipeline import classifier_config

CLASSES = ["Drink", "Jump", "Wave"]


def make_tiny_data(root: Path, clips_per_class: int = 5) -> Path:
    """An ARID-format data set: 3 classes, textured clips of varying brightness, 3 train + 2 test per class."""
    rng = np.random.default_rng(0)
    lines: dict[str, list[str]] = {"train": [], "test": []}
    n = 0
    for label, name in enumerate(CLASSES):
        for clip in range(clips_per_class):
            level = 10 + 25 * (clip % 3) + 10 * label
            frames = (rng.random((8, 40, 40, 3)) * level).astype(np.uint8)
            rel = f"{name}/{name}_{clip}_1.avi"
            write_video(root / "clips" / rel, frames, fps=10)
            lines["train" if clip < 3 else "test"].append(f"{n}\t{label}\t{rel}")
            n += 1
    (root / "mapping_table.txt").write_text("".join(f"{i}\t{c}\n" for i, c in enumerate(CLASSES)))
    for split, split_lines in lines.items():
        (root / f"ARID_split1_{split}.txt").write_text("\n".join(split_lines) + "\n")
    return root


def make_tiny_run(root: Path, data: Path, teacher: bool = True) -> Path:
    """A run directory with config.json, a vit_nano student.pt and (gamma-enhancer) teacher.pt; no training."""
    run = root / "run"
    run.mkdir(parents=True)
    cfg = make_config("test", data=str(data))
    save_run_config(run, cfg, CLASSES)
    ccfg = classifier_config(cfg, len(CLASSES))
    torch.manual_seed(0)
    student = build_model("classifier", ccfg)
    save_checkpoint(
        run / "student.pt",
        kind="classifier",
        config=ccfg,
        state_dict=student.state_dict(),
        class_names=CLASSES,
    )
    if teacher:
        tcfg = {"enhancer": asdict(EnhancerConfig(name="gamma")), "classifier": ccfg}
        model = build_model("teacher", tcfg)
        save_checkpoint(
            run / "teacher.pt",
            kind="teacher",
            config=tcfg,
            state_dict=model.state_dict(),
            class_names=CLASSES,
        )
    return run


def quantized_run(tmp_path_factory) -> Path:
    """A tiny run after `darkedge calib build` and `darkedge quantize` (a few QAT steps), built once per session."""
    base = tmp_path_factory.getbasetemp() / "quantized"
    run = base / "run"
    if (run / "quant" / "report.json").is_file():
        return run
    shutil.rmtree(base, ignore_errors=True)
    data = make_tiny_data(base / "data")
    make_tiny_run(base, data)
    runner = CliRunner()
    built = runner.invoke(
        main, ["calib", "build", "--data", str(data), "--out", str(base / "calib"), "--clips", "6"]
    )
    assert built.exit_code == 0, built.output
    args = [
        "quantize",
        "--calib",
        str(base / "calib"),
        "--run",
        str(run),
        "--max-steps",
        "2",
        "--batch-size",
        "2",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def qrun(tmp_path_factory) -> Path:
    return quantized_run(tmp_path_factory)


def test_quantize_writes_int8_checkpoint_report_and_exports(qrun):
    report = json.loads((qrun / "quant" / "report.json").read_text())
    assert set(report["models"]) == {"student_fp32", "ptq_int8", "qat_kd_int8"}
    for entry in report["models"].values():
        assert 0 <= entry["accuracy"]["top1"] <= entry["accuracy"]["top5"] <= 100
    assert report["calibration"]["clips_used"] == 6
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
    config = {"encoder": "vit_nano", "num_classes": 3, "num_frames": 4, "img_size": 32}
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
