"""Exports: ONNX / OpenVINO files that load in their runtimes and agree with torch, the Q/DQ int8 checker,
TensorRT build planning (and the error without TensorRT), and bad requests that leave nothing half-written.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import asdict

import numpy as np
import onnx
import openvino as ov
import pytest
import torch
from click.testing import CliRunner
from helpers_model import classifier_config
from onnx import TensorProto, helper, numpy_helper

from darkedge.cli import main
from darkedge.errors import DarkedgeError
from darkedge.export import EXPORTERS, check_exports, resolve_target
from darkedge.export.onnx import check_qdq_int8, export_onnx_int8
from darkedge.export.tensorrt import build_engine, import_tensorrt, plan_build
from darkedge.fileio import atomic_path
from darkedge.models import build_model
from darkedge.names import FORMATS
from darkedge.run import open_run

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def _one_line_error(result, text: str) -> None:
    assert result.exit_code == 1, result.output
    assert text in result.output and len(result.output.strip().splitlines()) == 1


def test_exports_load_in_onnxruntime_and_openvino_and_agree_with_torch(qrun, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(qrun, run)
    runner = CliRunner()
    for args in (
        ["--format", "onnx"],
        ["--format", "openvino"],
        ["--format", "openvino", "--precision", "fp16"],
        ["--model", "teacher", "--format", "onnx"],
    ):
        result = runner.invoke(main, ["export", "--run", str(run), *args])
        assert result.exit_code == 0, result.output
    rows, summary = check_exports(open_run(run), num_clips=3)
    by_file = {r["file"]: r for r in rows}
    expected = {"student_fp32.onnx", "student_fp32.xml", "student_fp16.xml", "teacher_fp32.onnx"}
    assert expected | {"student_int8.onnx", "student_int8.xml"} == set(by_file)
    assert "3 test clips" in summary and "onnxruntime" in summary and "openvino" in summary
    for name, row in by_file.items():
        assert row["status"] == "ok", row
        assert row["metadata"] == "ok", row  # every file carries metadata that agrees with its run
        assert row["top1_agreement"] == 1.0, row
        assert row["max_logit_diff"] < (
            1e-4 if name.endswith("fp32.onnx") or name == "student_int8.onnx" else 0.05
        )
    for name in (
        "student_fp32.xml",
        "student_int8.xml",
    ):  # static, so benchmark_app runs it without arguments
        assert ov.Core().read_model(run / "export" / name).inputs[0].get_partial_shape().is_static
    manifest = json.loads((run / "export" / "manifest.json").read_text())["files"]
    assert manifest["student_fp32.xml"]["input_shape"] == [1, 3, 4, 32, 32]
    assert manifest["student_fp32.onnx"]["input_shape"] == [None, 3, 4, 32, 32]
    result = runner.invoke(main, ["export", "--run", str(run), "--check", "--clips", "2"])
    assert result.exit_code == 0 and "student_int8.xml" in result.output and "100.0 %" in result.output
    assert "metadata" in result.output.splitlines()[0]


def _qdq_graph(zero_point: np.ndarray, through_identity: bool = False) -> onnx.ModelProto:
    """x -> QuantizeLinear -> DequantizeLinear -> y, zero-point an initializer (optionally via Identity)."""
    zp_name = "zp_raw" if through_identity else "zp"
    nodes = [helper.make_node("Identity", ["zp_raw"], ["zp"])] if through_identity else []
    nodes += [
        helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], name="q0"),
        helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], name="dq0"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [
            numpy_helper.from_array(np.array(0.1, np.float32), "scale"),
            numpy_helper.from_array(zero_point, zp_name),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_qdq_checker_accepts_int8_zero_point_zero_and_refuses_others(tmp_path):
    path = tmp_path / "m.onnx"
    for good in (_qdq_graph(np.array(0, np.int8)), _qdq_graph(np.array(0, np.int8), through_identity=True)):
        onnx.save(good, path)
        check_qdq_int8(path)
    for bad, message in (
        (_qdq_graph(np.array(0, np.uint8)), "is uint8, TensorRT needs int8"),
        (_qdq_graph(np.array(3, np.int8)), "non-zero zero-point"),
    ):
        onnx.save(bad, path)
        with pytest.raises(DarkedgeError, match=message):
            check_qdq_int8(path)
    no_zero_point = _qdq_graph(np.array(0, np.int8))
    del no_zero_point.graph.node[0].input[2]
    onnx.save(no_zero_point, path)
    with pytest.raises(DarkedgeError, match="no constant zero-point"):
        check_qdq_int8(path)


def test_relu_convnet_exports_signed_int8_qdq_that_onnxruntime_agrees_with(tmp_path):
    """The default preset's R(2+1)D has ReLUs, after which NNCF would pick uint8 quantizers TensorRT refuses."""
    import onnxruntime as ort

    from darkedge.quant.ptq import quantize_ptq

    config = asdict(
        classifier_config(encoder="r2plus1d_nano", head="mean", num_classes=3, num_frames=8, img_size=32)
    )
    torch.manual_seed(0)
    model = build_model("classifier", config).eval()
    clips = [torch.rand(2, 3, 8, 32, 32) * 0.3 for _ in range(3)]
    qmodel = quantize_ptq(model, clips, smooth_quant=False)
    path = export_onnx_int8(qmodel, (1, 3, 8, 32, 32), tmp_path / "student_int8.onnx")
    check_qdq_int8(path)  # raises on any uint8 or non-zero zero-point
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(4, 1, 3, 8, 32, 32) * 0.3
    with torch.no_grad():
        expected = torch.cat([qmodel(clip) for clip in x]).numpy()
    got = np.concatenate([session.run(None, {session.get_inputs()[0].name: clip.numpy()})[0] for clip in x])
    # a value on a rounding edge may land one quantization step away in another runtime: small, not zero
    assert np.abs(got - expected).max() < 1e-2
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_int8_export_of_an_unquantized_model_writes_nothing(tmp_path):
    model = build_model(
        "classifier", asdict(classifier_config(encoder="vit_nano", num_classes=3, num_frames=2, img_size=32))
    )
    target = tmp_path / "student_int8.onnx"
    with pytest.raises(DarkedgeError, match="student_int8.onnx: the model holds no NNCF quantizers"):
        export_onnx_int8(model, (1, 3, 2, 32, 32), target)
    assert list(tmp_path.iterdir()) == []


def test_resolve_target_checks_model_format_precision():
    assert resolve_target("student_int8", "openvino", None).file_name == "student_int8.xml"
    assert resolve_target("two_stream", "onnx", None).file_name == "two_stream_fp32.onnx"
    assert resolve_target("student", "tensorrt", "int8").file_name == "student_int8.engine"
    for args, message in (
        (("student_int8", "onnx", "fp16"), "int8 only"),
        (("raw", "openvino", "int8"), "only the student has an INT8"),
        (("student", "tflite", None), "--format tflite: unknown"),
        (("student", "onnx", "int4"), "--precision int4: unknown"),
        (("ensemble", "onnx", None), "--model ensemble: unknown"),
    ):
        with pytest.raises(DarkedgeError, match=message):
            resolve_target(*args)


def test_one_export_function_per_format():
    assert tuple(EXPORTERS) == FORMATS


def test_a_file_with_a_companion_appears_whole_or_not_at_all(tmp_path):
    xml = tmp_path / "export" / "model.xml"
    with pytest.raises(RuntimeError), atomic_path(xml, companions=(".bin",)) as tmp:
        assert tmp.name == "model.xml" and tmp.parent != xml.parent  # OpenVINO derives model.bin from it
        tmp.write_text("<net/>")
        raise RuntimeError("the converter failed before writing the weights")
    assert list(xml.parent.iterdir()) == []  # no half-written pair, no temporary folder
    with atomic_path(xml, companions=(".bin",)) as tmp:
        tmp.write_text("<net/>")
        tmp.with_suffix(".bin").write_bytes(b"weights")
    assert sorted(p.name for p in xml.parent.iterdir()) == ["model.bin", "model.xml"]
    assert xml.with_suffix(".bin").read_bytes() == b"weights"


def test_unsupported_export_requests_are_one_line_errors_and_write_nothing(qrun, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(qrun, run, ignore=shutil.ignore_patterns("export"))
    runner = CliRunner()
    _one_line_error(
        runner.invoke(
            main,
            ["export", "--run", str(run), "--model", "raw", "--format", "openvino", "--precision", "int8"],
        ),
        "only the student has an INT8 version",
    )
    _one_line_error(
        runner.invoke(main, ["export", "--run", str(run), "--model", "two_stream", "--format", "onnx"]),
        "two_stream.pt: no such checkpoint; make it with `darkedge train --stage two_stream",
    )
    bad_format = runner.invoke(main, ["export", "--run", str(run), "--format", "tflite"])
    assert bad_format.exit_code == 2 and "'tflite' is not one of" in bad_format.output
    if not HAS_TENSORRT:
        _one_line_error(
            runner.invoke(main, ["export", "--run", str(run), "--format", "tensorrt"]),
            "tensorrt: not installed",
        )
    _one_line_error(
        runner.invoke(main, ["export", "--run", str(run), "--format", "onnx", "--torch-tensorrt"]),
        "--torch-tensorrt goes with --format tensorrt",
    )
    if importlib.util.find_spec("torch_tensorrt") is None:
        _one_line_error(
            runner.invoke(main, ["export", "--run", str(run), "--format", "tensorrt", "--torch-tensorrt"]),
            "torch-tensorrt: not installed",
        )
    _one_line_error(runner.invoke(main, ["export", "--run", str(run), "--check"]), "nothing exported yet")
    assert not (run / "export").exists()


def test_tensorrt_plan_per_major_version():
    v10_int8 = plan_build(10, "int8")
    assert (v10_int8.strongly_typed, v10_int8.builder_flags, v10_int8.onnx_precision) == (
        False,
        ("INT8", "FP16"),
        "int8",
    )
    assert (
        plan_build(10, "fp16").builder_flags == ("FP16",) and plan_build(10, "fp16").onnx_precision == "fp32"
    )
    assert plan_build(10, "fp32").builder_flags == ()
    for precision in ("fp32", "fp16", "int8"):
        plan = plan_build(11, precision)
        assert plan.strongly_typed and plan.builder_flags == () and plan.onnx_precision == precision
    with pytest.raises(DarkedgeError, match="too old"):
        plan_build(8, "int8")
    with pytest.raises(DarkedgeError, match="precision is one of"):
        plan_build(10, "int4")


@pytest.mark.skipif(
    HAS_TENSORRT, reason="TensorRT is installed here: the missing-library error cannot happen"
)
def test_tensorrt_missing_is_one_line_error(tmp_path):
    with pytest.raises(DarkedgeError, match="tensorrt: not installed here"):
        import_tensorrt()
    with pytest.raises(DarkedgeError, match="tensorrt: not installed here"):
        build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", "int8")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not HAS_TENSORRT or not torch.cuda.is_available(), reason="needs TensorRT and a CUDA GPU")
def test_tensorrt_engine_builds_from_qdq_onnx(qrun, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(qrun, run)
    result = CliRunner().invoke(
        main, ["export", "--run", str(run), "--model", "student_int8", "--format", "tensorrt"]
    )
    assert result.exit_code == 0, result.output
    rows, _ = check_exports(open_run(run), num_clips=2)
    engine = next(r for r in rows if r["file"] == "student_int8.engine")
    assert engine["status"] == "ok" and engine["top1_agreement"] == 1.0
