"""`darkedge export`: any model of a run to ONNX, OpenVINO IR or a TensorRT engine, listed in a manifest.

Files go to RUN/export/<model>_<precision>.<ext> (student_int8.xml, student_fp32.onnx, teacher_fp32.onnx ...)
and RUN/export/manifest.json lists each one: model, precision, format, file, input shape, class names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from darkedge.errors import DarkedgeError
from darkedge.fileio import write_json
from darkedge.run import Run
from darkedge.runtime.manifest import MANIFEST, read_manifest

MODELS = ("student", "teacher", "raw", "two_stream", "student_int8")
FORMATS = ("onnx", "openvino", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
EXTENSIONS = {"onnx": ".onnx", "openvino": ".xml", "tensorrt": ".engine"}
CHECKPOINT_KINDS = {
    "student": "classifier",
    "raw": "classifier",
    "teacher": ("teacher", "dtcm"),
    "two_stream": "two_stream",
}
INT8_CHECKPOINT = "student_int8"


@dataclass(frozen=True)
class ExportTarget:
    """One file to produce: which run model, at which precision, in which format."""

    model: str  # a checkpoint name in the run: student, teacher, raw, two_stream
    precision: str
    format: str

    @property
    def file_name(self) -> str:
        return f"{self.model}_{self.precision}{EXTENSIONS[self.format]}"


def resolve_target(model: str, fmt: str, precision: str | None) -> ExportTarget:
    """Check the model / format / precision combination; student_int8 means the student at int8."""
    if model not in MODELS:
        raise DarkedgeError(f"--model {model}: unknown, expected one of {', '.join(MODELS)}")
    if fmt not in FORMATS:
        raise DarkedgeError(f"--format {fmt}: unknown, expected one of {', '.join(FORMATS)}")
    if model == INT8_CHECKPOINT:
        if precision not in (None, "int8"):
            raise DarkedgeError(
                f"--model student_int8 --precision {precision}: the INT8 student exports at int8 only"
            )
        return ExportTarget("student", "int8", fmt)
    precision = precision or "fp32"
    if precision not in PRECISIONS:
        raise DarkedgeError(f"--precision {precision}: unknown, expected one of {', '.join(PRECISIONS)}")
    if precision == "int8" and model != "student":
        raise DarkedgeError(
            f"--model {model} --precision int8: only the student has an INT8 version (darkedge quantize)"
        )
    return ExportTarget(model, precision, fmt)


def load_run_model(run: Run, target: ExportTarget) -> tuple[nn.Module, tuple[int, ...]]:
    """The PyTorch model a target exports (the fake-quantized student for int8) and its input shape (1, 3, T, S, S)."""
    from darkedge.models import load_model, model_input_shape

    if target.precision == "int8":
        from darkedge.models.int8_checkpoint import load_run_int8_student

        model, ckpt = load_run_int8_student(run)
    else:
        model, ckpt = load_model(run.checkpoint(target.model), kind=CHECKPOINT_KINDS[target.model])
    return model.eval(), (1, *model_input_shape(ckpt))


def record_export(
    run: Run, target: ExportTarget, path: Path, input_shape: tuple[int, ...], **details: Any
) -> None:
    """Add (or replace) the manifest entry of an exported file."""
    export_dir = path.parent
    manifest = read_manifest(export_dir)
    manifest["files"][path.name] = {
        "file": path.name,
        "model": target.model,
        "precision": target.precision,
        "format": target.format,
        "input_shape": list(input_shape),
        "class_names": run.class_names,
        **details,
    }
    write_json(export_dir / MANIFEST, manifest)


def export_model(
    run: Run, model: str, fmt: str, precision: str | None = None, torch_tensorrt: bool = False
) -> Path:
    """Export one model of `run` and record it in the manifest; returns the written file.

    With `torch_tensorrt` (format tensorrt, desktop GPUs), torch-tensorrt compiles the PyTorch model to an
    ExportedProgram (<model>_<precision>.ep) instead of building an engine from the ONNX.
    """
    from darkedge.export import tensorrt

    target = resolve_target(model, fmt, precision)
    if torch_tensorrt:
        if fmt != "tensorrt":
            raise DarkedgeError(f"--torch-tensorrt goes with --format tensorrt, not {fmt}")
        net, shape = load_run_model(run, target)
        out = run.path / "export" / f"{target.model}_{target.precision}.ep"
        tensorrt.compile_torch_tensorrt(net, shape, out, target.precision)
        record_export(run, target, out, shape, compiler="torch-tensorrt")
        return out
    if fmt == "tensorrt":
        trt = tensorrt.import_tensorrt()  # fail before any work when TensorRT is absent
        plan = tensorrt.plan_build(tensorrt.tensorrt_major(trt), target.precision)
    net, shape = load_run_model(run, target)
    out = run.path / "export" / target.file_name
    if fmt == "openvino":
        from darkedge.export.openvino import export_openvino

        export_openvino(net, shape, out, target.precision)
        record_export(run, target, out, shape)
        return out
    onnx_target = ExportTarget(
        target.model, plan.onnx_precision if fmt == "tensorrt" else target.precision, "onnx"
    )
    onnx_path = run.path / "export" / onnx_target.file_name
    from darkedge.export.onnx import export_onnx, export_onnx_int8

    if onnx_target.precision == "int8":
        export_onnx_int8(net, shape, onnx_path)
    else:
        export_onnx(net, shape, onnx_path, onnx_target.precision)
    dynamic_batch = (None, *shape[1:])
    record_export(run, onnx_target, onnx_path, dynamic_batch)
    if fmt == "onnx":
        return onnx_path
    tensorrt.build_engine(onnx_path, out, target.precision)
    record_export(run, target, out, dynamic_batch, tensorrt_version=str(trt.__version__))
    return out
