"""Students sized for the box: the X3D family and width-scaled R(2+1)D train, export to ONNX and OpenVINO and agree
with PyTorch there, and take PTQ + QAT; a student of fewer frames and a smaller crop distils from the teacher's own
clip, and `quantize`, `export`, `bench` and `infer` feed it its own clips with no flags beyond the run."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import onnxruntime as ort
import openvino as ov
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from helpers_model import classifier_config
from helpers_run import CLASSES, make_tiny_data
from helpers_video import write_video

import darkedge.train.command as pipeline
from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.cli import main
from darkedge.config import make_config
from darkedge.data.views import student_view, view_for
from darkedge.enhance import EnhancerConfig
from darkedge.errors import DarkedgeError
from darkedge.export.onnx import export_onnx, export_onnx_int8, float_layers
from darkedge.export.openvino import export_openvino
from darkedge.feeding import Feeding
from darkedge.models import build_model
from darkedge.models.scaling import scale_channels
from darkedge.models.x3d import X3D_SIZES
from darkedge.quant import QatConfig, finetune_quantized, quantize_ptq
from darkedge.run import save_run_config
from darkedge.runtime.metadata import read_metadata
from darkedge.train.distributed import Dist
from darkedge.train.table import results_table

# (encoder, width, head, input normalisation): every family, both heads and both normalisations, each in seconds
ARCHITECTURES = [
    ("x3d_nano", 1.0, "bert", "fixed"),
    ("x3d_micro", 0.5, "mean", "clip"),
    ("r2plus1d_nano", 0.5, "mean", "clip"),
    ("effnet_lite0", 0.25, "mean", "clip"),  # the temporal shift's slices survive PTQ, QAT and both exports
]
SHAPE = (2, 3, 4, 16, 16)


def _config(encoder, width, head, norm):
    fields = dict(num_classes=3, num_frames=SHAPE[2], img_size=SHAPE[3], dropout=0.0, input_norm=norm)
    return asdict(classifier_config(encoder=encoder, width=width, head=head, **fields))


def _onnx_logits(path, clips):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: clips})[0]


def _openvino_logits(path, clips):
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.concatenate([compiled({0: clip[None]})[0] for clip in clips])


@pytest.mark.parametrize(("encoder", "width", "head", "norm"), ARCHITECTURES)
def test_architecture_trains_exports_and_takes_qat(tmp_path, encoder, width, head, norm):
    torch.manual_seed(0)
    model = build_model("classifier", _config(encoder, width, head, norm))
    clips = torch.rand(*SHAPE) * 0.3  # dark
    labels = torch.tensor([0, 2])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(4):
        loss = F.cross_entropy(model(clips), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]

    model.eval()
    other = torch.rand(*SHAPE) * 0.3
    with torch.no_grad():
        expected = model(other).numpy()
    export_onnx(model, (1, *SHAPE[1:]), tmp_path / "fp32.onnx")
    export_openvino(model, (1, *SHAPE[1:]), tmp_path / "fp32.xml", "fp32")
    np.testing.assert_allclose(_onnx_logits(tmp_path / "fp32.onnx", other.numpy()), expected, atol=1e-4)
    np.testing.assert_allclose(_openvino_logits(tmp_path / "fp32.xml", other.numpy()), expected, atol=1e-4)

    # PTQ, then quantization-aware distillation from a teacher, as `darkedge quantize` does
    qmodel = quantize_ptq(model, [torch.rand(1, *SHAPE[1:]) * 0.3 for _ in range(4)])
    dataset = [(torch.rand(*SHAPE[1:]) * 0.3, i % 3) for i in range(4)]
    stats = finetune_quantized(
        qmodel, model, model, dataset, True, QatConfig(batch_size=2, lr=1e-4), d=Dist()
    )
    assert stats["steps"] == 4 and np.isfinite(stats["mean_loss"])
    with torch.no_grad():
        fake_quant = qmodel.eval()(other).numpy()
    export_onnx_int8(
        qmodel, (1, *SHAPE[1:]), tmp_path / "int8.onnx"
    )  # refuses anything but int8, zero-point 0
    if head == "mean":  # every convolution reads int8, EfficientNet's through its "SAME" zero padding too
        assert float_layers(tmp_path / "int8.onnx") == []
    export_openvino(qmodel, (1, *SHAPE[1:]), tmp_path / "int8.xml", "int8")
    # ONNX Runtime's Q/DQ graph rounds as NNCF's fake quantizers do, but a value within float error of a rounding
    # boundary can land one int8 step away (seen: 0.0015 on one logit on an Intel Xeon): allow that, not more
    np.testing.assert_allclose(_onnx_logits(tmp_path / "int8.onnx", other.numpy()), fake_quant, atol=1e-2)
    # the IR's quantizers after ReLUs are unsigned: within half a signed step of the fake-quantized model
    openvino = _openvino_logits(tmp_path / "int8.xml", other.numpy())
    assert np.abs(openvino - fake_quant).max() < 0.05 * max(1.0, np.abs(fake_quant).max())


@pytest.mark.parametrize("encoder", sorted(X3D_SIZES))
def test_every_x3d_size_gives_one_token_per_frame_at_its_scaled_width(encoder):
    model = build_model("classifier", _config(encoder, 0.5, "bert", "fixed")).eval()
    tokens = model.backbone.encoder(torch.rand(*SHAPE))
    assert tokens.shape == (2, 4, scale_channels(X3D_SIZES[encoder].dim, 0.5))
    assert model(torch.rand(*SHAPE)).shape == (2, 3)


def test_relu_outputs_are_unsigned_in_the_openvino_ir_and_the_input_normalisation_stays_float(tmp_path):
    model = build_model("classifier", _config("x3d_nano", 1.0, "mean", "clip")).eval()
    qmodel = quantize_ptq(model, [torch.rand(1, *SHAPE[1:]) * 0.3 for _ in range(2)])
    hooks = [name for name, _ in qmodel.named_modules() if "post_hooks." in name and name.count(".") == 2]
    assert hooks and not [h for h in hooks if "post_hooks.clip" in h or "normalise/mean" in h]
    assert [h for h in hooks if "normalise/div" in h]  # only the normalised clip is quantized
    export_openvino(qmodel, (1, *SHAPE[1:]), tmp_path / "int8.xml", "int8")
    lows = [
        op.input_value(1).get_node().get_data().min()
        for op in ov.Core().read_model(tmp_path / "int8.xml").get_ordered_ops()
        if op.get_type_name() == "FakeQuantize" and op.get_attributes()["levels"] == 256
    ]
    assert sum(low == 0 for low in lows) > len(lows) // 2  # u8 activations: the ReLUs' outputs
    assert min(lows) < 0  # the normalised clip and the residual sums stay signed


def test_student_view_takes_every_kth_frame_centred_and_averages_the_crop_down():
    teacher, student = Feeding(8, 4, 54, 48), Feeding(2, 16, 18, 16)
    clip = torch.arange(8.0).view(1, 1, 8, 1, 1).expand(2, 3, 8, 48, 48)  # each frame holds its index
    view = student_view(clip, teacher, student)
    assert view.shape == (2, 3, 2, 16, 16)
    assert view[0, 0, :, 0, 0].tolist() == [
        1.0,
        5.0,
    ]  # k = 4, starting at (k - 1) // 2: the middle of the span
    squares = torch.rand(1, 3, 8, 48, 48)
    pooled = student_view(squares, teacher, Feeding(8, 4, 18, 16))
    assert torch.allclose(pooled, F.avg_pool3d(squares, (1, 3, 3)))  # 48 -> 16: each pixel a 3 x 3 mean
    assert student_view(squares, teacher, teacher) is not None
    with pytest.raises(ValueError):
        student_view(squares, teacher, Feeding(3, 4, 54, 48))


def test_student_sampling_follows_the_teacher_and_bad_settings_are_one_line_errors():
    cfg = make_config(
        "small", student_frames=4, student_crop=32, student_encoder="x3d_nano", student_init="scratch"
    )
    assert cfg.feeding("teacher") == Feeding(8, 4, 54, 48)
    assert (
        cfg.feeding("student") == cfg.feeding("raw") == cfg.feeding("student_int8") == Feeding(4, 8, 36, 32)
    )
    assert cfg.feeding("two_stream") == cfg.feeding("teacher")
    assert view_for(make_config("small"), "student") is None  # the teacher's clips as they are
    for overrides, needle in [
        (dict(student_frames=3), "student_frames 3: must divide num_frames 8"),
        (dict(student_crop=64), "student_crop 64: must be between 1 and crop 48"),
        (dict(student_width=0.0), "student_width 0.0: must be positive"),
        (
            dict(student_encoder="x3d_nano", student_init="teacher"),
            "student_init 'teacher': a student of another",
        ),
    ]:
        with pytest.raises(DarkedgeError, match=needle):
            make_config("small", **overrides)
    config = replace(make_config("small"), student_encoder="x3d_huge", student_init="scratch")
    with pytest.raises(DarkedgeError, match="unknown encoder 'x3d_huge'"):
        pipeline.classifier_config(config, 3, "student")


@pytest.fixture(scope="module")
def small_student_run(tmp_path_factory):
    """A run whose student is an X3D of half the teacher's frames and crop: teacher (gamma enhancer) saved, then the
    student and raw stages trained for real, recording what the teacher and the student were fed."""
    root = tmp_path_factory.mktemp("students")
    data = make_tiny_data(root / "data")
    cfg = make_config(
        "test",
        data=str(data),
        student_encoder="x3d_nano",
        student_width=0.5,
        student_frames=2,
        student_crop=16,
        student_init="scratch",
        batch_size=3,
    )
    run = root / "run"
    run.mkdir()
    save_run_config(run, cfg, CLASSES)
    enhancer = asdict(EnhancerConfig(name="gamma"))
    teacher_config = {
        "enhancer": enhancer,
        "classifier": pipeline.classifier_config(cfg, len(CLASSES), "teacher"),
    }
    torch.manual_seed(0)
    teacher = build_model("teacher", teacher_config)
    for name, kind, config, state in [
        ("teacher", "teacher", teacher_config, teacher.state_dict()),
        ("enhancer", "enhancer", enhancer, teacher.enhancer.state_dict()),
    ]:
        save_checkpoint(run / f"{name}.pt", kind=kind, config=config, state_dict=state, class_names=CLASSES)

    fed: dict[str, list[torch.Tensor]] = {"teacher": [], "student": []}
    real_fit = pipeline.fit

    def recording_fit(model, *, teacher=None, **kwargs):
        model.register_forward_pre_hook(lambda _, args: fed["student"].append(args[0].clone()))
        if teacher is not None:
            teacher.register_forward_pre_hook(lambda _, args: fed["teacher"].append(args[0].clone()))
        return real_fit(model, teacher=teacher, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "fit", recording_fit)
        pipeline.train(run=run, stage="student")
    pipeline.train(run=run, stage="raw")
    return run, fed, data


def test_a_smaller_student_distils_from_the_teacher_on_the_same_clip(small_student_run):
    run, fed, _ = small_student_run
    teacher_clips = fed["teacher"]
    student_clips = fed["student"][: len(teacher_clips)]  # then come evaluation's clips
    assert teacher_clips and all(c.shape[1:] == (3, 4, 32, 32) for c in teacher_clips)
    cfg = make_config("test")
    own = replace(cfg, student_frames=2, student_crop=16)
    for teacher_clip, student_clip in zip(teacher_clips, student_clips, strict=True):
        assert student_clip.shape[1:] == (3, 2, 16, 16)
        view = student_view(teacher_clip, own.feeding("teacher"), own.feeding("student"))
        assert torch.equal(student_clip, view)  # the moment of video the teacher's logits came from
    evaluation = fed["student"][len(teacher_clips) :]
    assert evaluation and all(
        c.shape[1:] == (3, 2, 16, 16) for c in evaluation
    )  # its own clips in evaluation
    for stage in ("student", "raw"):  # the raw baseline is the student's no-distillation control
        ckpt = load_checkpoint(run / f"{stage}.pt")
        assert (ckpt["config"]["encoder"], ckpt["config"]["width"]) == ("x3d_nano", 0.5)
        assert (ckpt["config"]["num_frames"], ckpt["config"]["img_size"]) == (2, 16)
        assert ckpt["metrics"]["protocol"]["text"] == "1 clip x 1 crop, 2 frames at frame step 4, 16 px"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["student"]["macs"] < 10**6
    assert "raw frames, 1 network (x3d_nano x0.5, 2 x 16 px)" in (run / "table.md").read_text()


def test_quantize_export_bench_and_infer_feed_the_student_its_own_clips(small_student_run, tmp_path):
    run, _, data = small_student_run
    runner = CliRunner()
    calib = tmp_path / "calib"
    assert (
        runner.invoke(
            main, ["calib", "build", "--data", str(data), "--out", str(calib), "--clips", "4"]
        ).exit_code
        == 0
    )
    args = ["quantize", "--calib", str(calib), "--run", str(run), "--max-steps", "1", "--batch-size", "2"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2 frames at frame step 4, 16 px" in result.output
    for args in (
        ["--model", "teacher", "--format", "onnx"],
        ["--format", "openvino"],
        ["--check", "--clips", "2"],
    ):
        result = runner.invoke(main, ["export", "--run", str(run), *args])
        assert result.exit_code == 0, result.output
    check = [line for line in result.output.splitlines() if line.startswith(("student", "teacher"))]
    assert len(check) == 4 and all(" ok" in line and "100.0 %" in line for line in check), result.output
    for name in ("student_int8.xml", "student_int8.onnx", "student_fp32.xml"):
        meta = read_metadata(run / "export" / name)
        assert (meta["frames"], meta["frame_step"], meta["crop"], meta["resize"]) == (2, 4, 16, 20), name
        assert meta["input_shape"][1:] == [3, 2, 16, 16]
    teacher = read_metadata(run / "export" / "teacher_fp32.onnx")
    assert (teacher["frames"], teacher["frame_step"], teacher["crop"]) == (4, 2, 32)

    video = tmp_path / "clip.avi"
    write_video(video, num_frames=12, size=(48, 40))
    events = tmp_path / "events.jsonl"
    model = run / "export" / "student_int8.xml"
    args = ["infer", str(video), "--model", str(model), "--events", str(events), "--max-windows", "2"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(events.read_text().splitlines()) == 2

    args = ["bench", "--run", str(run), "--compare", "enhance-then-classify", "--threads", "1", "--runs", "5"]
    result = runner.invoke(main, [*args, "--min-time", "0", "--batch", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads((run / "bench" / "bench.json").read_text())
    shapes = {m["name"]: m["input_shape"] for m in report["models"]}
    assert shapes == {
        "student_int8": [1, 3, 2, 16, 16],
        "student_fp32": [1, 3, 2, 16, 16],
        "teacher_fp32": [1, 3, 4, 32, 32],
    }
    assert "2 x 16px" in result.output and "4 x 32px" in result.output


def test_the_results_table_names_each_protocol_when_the_student_has_its_own_clips():
    row = dict(top5=90.0, macs=10**6, params=10**4, training="", inference="raw frames, 1 network")
    teacher = dict(row, top1=50.0, protocol={"text": "1 clip x 1 crop, 8 frames at stride 4, 48 px"})
    student = dict(row, top1=40.0, protocol={"text": "1 clip x 1 crop, 4 frames at stride 8, 32 px"})
    table = results_table({"teacher": teacher, "student": student, "data": "d"})
    assert (
        "Protocol: Teacher (enhance-then-classify): 1 clip x 1 crop, 8 frames at stride 4, 48 px; "
        "Student (raw frames, distilled): 1 clip x 1 crop, 4 frames at stride 8, 32 px; test split of d."
    ) in table
    assert "Protocol: 1 clip x 1 crop, 8 frames" in results_table({"teacher": teacher, "data": "d"})
