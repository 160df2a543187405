"""Predictors: every installed backend on a tiny exported classifier agrees with PyTorch; bad input is one line."""

from __future__ import annotations

import sys
from dataclasses import asdict

import numpy as np
import openvino as ov
import pytest
import torch
from helpers_model import classifier_config

from darkedge.checkpoint import save_checkpoint
from darkedge.errors import DarkedgeError
from darkedge.models import build_model
from darkedge.runtime import backend_for, load_predictor

CLASSES = ["Drink", "Jump", "Pick", "Pour", "Push"]
SHAPE = (1, 3, 4, 32, 32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A vit_nano classifier saved as a checkpoint, an ONNX file and an OpenVINO IR, plus a clip and its logits."""
    out = tmp_path_factory.mktemp("tiny")
    config = asdict(
        classifier_config(encoder="vit_nano", num_classes=len(CLASSES), num_frames=4, img_size=32)
    )
    torch.manual_seed(0)
    model = build_model("classifier", config).eval()
    save_checkpoint(
        out / "student.pt",
        kind="classifier",
        config=config,
        state_dict=model.state_dict(),
        class_names=CLASSES,
    )
    example = torch.rand(SHAPE)
    torch.onnx.export(model, (example,), out / "student_fp32.onnx", dynamo=False, opset_version=17)
    ov.save_model(
        ov.convert_model(model, example_input=example, input=[SHAPE]),
        out / "student_fp32.xml",
        compress_to_fp16=False,
    )
    clips = np.random.default_rng(0).random((1, *SHAPE[1:]), dtype=np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(clips)).numpy()
    return out, clips, reference


@pytest.mark.parametrize("name", ["student.pt", "student_fp32.onnx", "student_fp32.xml"])
def test_backend_agrees_with_torch(tiny, name):
    out, clips, reference = tiny
    predictor = load_predictor(out / name, threads=1)
    assert predictor.backend == backend_for(out / name)
    assert predictor.input_shape[1:] == SHAPE[1:]
    logits = predictor.predict(clips)
    assert logits.shape == (1, len(CLASSES))
    np.testing.assert_allclose(logits, reference, atol=1e-4, rtol=1e-3)
    assert np.argmax(logits) == np.argmax(reference)


def test_class_names_from_checkpoint_and_manifest(tiny):
    """A checkpoint names its classes; an export without metadata takes them from the manifest beside it."""
    out, _, _ = tiny
    torch_predictor = load_predictor(out / "student.pt")
    assert torch_predictor.class_names == CLASSES
    assert torch_predictor.metadata["input_shape"] == [None, *SHAPE[1:]]
    assert torch_predictor.metadata["frames"] == SHAPE[2] and "frame_step" not in torch_predictor.metadata
    bare = load_predictor(out / "student_fp32.onnx")  # exported without metadata, no manifest, no run
    assert bare.class_names is None and bare.metadata == {}
    (out / "manifest.json").write_text(
        '{"files": {"student_fp32.onnx": {"model": "student", "class_names": ["a", "b", "c", "d", "e"]}}}'
    )
    try:
        assert load_predictor(out / "student_fp32.onnx").class_names == ["a", "b", "c", "d", "e"]
    finally:
        (out / "manifest.json").unlink()


def test_openvino_batch_reshape(tiny):
    out, clips, reference = tiny
    with pytest.raises(DarkedgeError, match="cannot be reshaped to batch 3"):
        load_predictor(out / "student_fp32.xml", batch=3)  # static export: B*T is a constant in the graph
    model = build_model(
        "classifier", asdict(classifier_config(encoder="vit_nano", num_classes=5, num_frames=4, img_size=32))
    )
    model.load_state_dict(torch.load(out / "student.pt", weights_only=True)["state_dict"])
    dynamic = ov.convert_model(model.eval(), example_input=torch.rand(SHAPE), input=[(-1, *SHAPE[1:])])
    ov.save_model(dynamic, out / "dynamic.xml", compress_to_fp16=False)
    predictor = load_predictor(out / "dynamic.xml", threads=1, batch=3)
    assert predictor.input_shape[0] == 3
    logits = predictor.predict(np.repeat(clips, 3, axis=0))
    np.testing.assert_allclose(logits, np.repeat(reference, 3, axis=0), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", ["student_fp32.onnx", "student_fp32.xml", "student.pt"])
def test_shape_the_model_cannot_take(tiny, name):
    out, _, _ = tiny
    predictor = load_predictor(out / name)
    with pytest.raises(DarkedgeError, match=r"takes input \(.*3, 4, 32, 32\).*got \(1, 3, 8, 32, 32\)") as e:
        predictor.predict(np.zeros((1, 3, 8, 32, 32), np.float32))
    assert "\n" not in str(e.value) and name in str(e.value)


@pytest.mark.parametrize(
    ("name", "package"), [("student_fp32.onnx", "onnxruntime"), ("student_fp32.xml", "openvino")]
)
def test_backend_not_installed(tiny, monkeypatch, name, package):
    out, _, _ = tiny
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` raise ImportError
    with pytest.raises(DarkedgeError, match=f"not installed \\(pip install {package}\\)"):
        load_predictor(out / name)


def test_tensorrt_not_installed_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    engine = tmp_path / "student_int8.engine"
    engine.write_bytes(b"not an engine")
    with pytest.raises(DarkedgeError, match=r"pip install tensorrt"):
        load_predictor(engine)


def test_bad_paths_and_backends(tiny, tmp_path):
    out, _, _ = tiny
    with pytest.raises(DarkedgeError, match="no such model file"):
        load_predictor(tmp_path / "missing.xml")
    with pytest.raises(DarkedgeError, match="unknown model format '.bin'"):
        load_predictor(tmp_path / "model.bin")
    with pytest.raises(DarkedgeError, match="backend 'openvino' loads .xml files"):
        load_predictor(out / "student_fp32.onnx", backend="openvino")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00garbage")
    with pytest.raises(DarkedgeError, match="onnxruntime cannot load it"):
        load_predictor(broken)


def test_torch_backend_runs_the_fake_quantized_int8_student(tiny, tmp_path):
    from darkedge.models.int8_checkpoint import save_int8_checkpoint
    from darkedge.quant.ptq import quantize_ptq

    out, clips, reference = tiny
    config = asdict(
        classifier_config(encoder="vit_nano", num_classes=len(CLASSES), num_frames=4, img_size=32)
    )
    model = build_model("classifier", config)
    model.load_state_dict(torch.load(out / "student.pt", weights_only=True)["state_dict"])
    quantized = quantize_ptq(model.eval(), [torch.from_numpy(clips)])
    save_int8_checkpoint(tmp_path / "student_int8.pt", quantized, config, CLASSES)
    predictor = load_predictor(tmp_path / "student_int8.pt", threads=1)
    assert predictor.backend == "torch" and predictor.class_names == CLASSES
    with torch.no_grad():
        expected = quantized(torch.from_numpy(clips)).numpy()
    np.testing.assert_allclose(predictor.predict(clips), expected, atol=1e-5)
    assert np.abs(expected - reference).max() > 0  # it really is the quantized model
